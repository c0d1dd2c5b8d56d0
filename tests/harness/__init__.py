"""What tests and benchmarks start around the product, never shipped in the wheel: real API
server processes with a lab admin token, bare ExaBGP speakers, a vty poller for FRR."""
