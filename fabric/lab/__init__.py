"""Deploying lab topologies (containerlab files) onto Linux network namespaces."""
