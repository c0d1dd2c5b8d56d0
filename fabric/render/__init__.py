"""Configuration rendering: ExaBGP for the hosts (and, later, ToR configs)."""
