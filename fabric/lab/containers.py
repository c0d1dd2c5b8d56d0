"""Containers on the hosts of a deployed lab, made through the CNI plugins.

A container is a network namespace named after its host's (``clab-<lab>-<host>.<name>``);
``fabric-cni`` + ``fabric-ipam`` give it its address from the controller, as a runtime on
that host would. ``fabricctl lab destroy`` removes a host's containers with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fabric.lab.netns import namespaces, remove_namespace, sh
from fabric.lab.runtime import Runtime, conflist, fabric_ipam
from fabric.lab.topology import Topology

NETWORK = "fabric"


def container_namespace(topo: Topology, host: str, name: str) -> str:
    return f"{topo.namespace(host)}.{name}"


def host_network(api_url: str, token_file: Path, host: str, **ipam: Any) -> dict[str, Any]:
    """The lab's default network on one host: fabric-cni with fabric-ipam."""
    return conflist(NETWORK, fabric_ipam(api_url, token_file, host, **ipam))


def start(
    topo: Topology, host: str, name: str, network: dict[str, Any], args: str = ""
) -> tuple[str, dict[str, Any]]:
    """A new container on the host: its namespace and the CNI result."""
    ns = container_namespace(topo, host, name)
    if ns not in namespaces():
        sh("ip", "netns", "add", ns)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
    try:
        result = Runtime(network, topo.namespace(host)).add(name, f"/run/netns/{ns}", args=args)
    except BaseException:
        remove_namespace(ns)  # a runtime gives up on the sandbox of a failed ADD
        raise
    return ns, result


def stop(topo: Topology, host: str, name: str, network: dict[str, Any]) -> None:
    """DEL through the plugins (the address goes back), then the namespace goes."""
    ns = container_namespace(topo, host, name)
    Runtime(network, topo.namespace(host)).delete(name, f"/run/netns/{ns}")
    remove_namespace(ns)


def remove_all(topo: Topology, host: str) -> int:
    """Every container namespace of the host (the lab is being destroyed)."""
    prefix = f"{topo.namespace(host)}."
    gone = [ns for ns in namespaces() if ns.startswith(prefix)]
    for ns in gone:
        remove_namespace(ns)
    return len(gone)
