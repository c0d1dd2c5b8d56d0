"""IP address management: pools carved into per-host blocks, addresses owned by handles."""
