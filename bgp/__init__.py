"""Everything that runs on a host: the agent, the route-injection process, kernel routes."""
