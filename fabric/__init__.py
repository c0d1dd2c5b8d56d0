"""routed-fabric's domain: IPAM, hosts, peers and desired state, free of HTTP and sockets."""

__version__ = "0.1.0"
