"""Containers on the hosts of a deployed lab, made through the CNI plugins.

A container is a network namespace named after its host's (``clab-<lab>-<host>.<name>``);
``fabric-cni`` + ``fabric-ipam`` give it its address from the controller, as a runtime on
that host would. ``fabricctl lab destroy`` removes a host's containers with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from fabric.lab.netns import namespaces, remove_namespace, sh
from fabric.lab.runtime import CniFailure, Runtime, conflist, fabric_ipam
from fabric.lab.topology import Topology

NETWORK = "fabric"
# A plugin's "try again later" (CNI code 11: the API not reachable yet, as from a host whose
# routes to the controller are still converging) is retried, as kubelet retries a sandbox.
RETRY_SECONDS = 60.0
T = TypeVar("T")


def _try_later(exc: BaseException) -> bool:
    return isinstance(exc, CniFailure) and exc.code == 11


def _retrying(call: Callable[[], T], seconds: float) -> T:
    retrying = Retrying(
        retry=retry_if_exception(_try_later),
        stop=stop_after_delay(seconds),
        wait=wait_exponential(multiplier=0.25, max=4.0),
        reraise=True,
    )
    return retrying(call)


def container_namespace(topo: Topology, host: str, name: str) -> str:
    return f"{topo.namespace(host)}.{name}"


def host_network(api_url: str, token_file: Path, host: str, **ipam: Any) -> dict[str, Any]:
    """The lab's default network on one host: fabric-cni with fabric-ipam."""
    return conflist(NETWORK, fabric_ipam(api_url, token_file, host, **ipam))


def start(
    topo: Topology, host: str, name: str, network: dict[str, Any], args: str = "",
    retry_seconds: float = RETRY_SECONDS,
) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """A new container on the host: its namespace and the CNI result."""
    ns = container_namespace(topo, host, name)
    if ns not in namespaces():
        sh("ip", "netns", "add", ns)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
    try:
        runtime = Runtime(network, topo.namespace(host))
        result = _retrying(lambda: runtime.add(name, f"/run/netns/{ns}", args=args), retry_seconds)
    except BaseException:
        remove_namespace(ns)  # a runtime gives up on the sandbox of a failed ADD
        raise
    return ns, result


def stop(
    topo: Topology, host: str, name: str, network: dict[str, Any],
    retry_seconds: float = RETRY_SECONDS,
) -> None:  # fmt: skip
    """DEL through the plugins (the address goes back), then the namespace goes."""
    ns = container_namespace(topo, host, name)
    runtime = Runtime(network, topo.namespace(host))
    _retrying(lambda: runtime.delete(name, f"/run/netns/{ns}"), retry_seconds)
    remove_namespace(ns)


def remove_all(topo: Topology, host: str) -> int:
    """Every container namespace of the host (the lab is being destroyed)."""
    prefix = f"{topo.namespace(host)}."
    gone = [ns for ns in namespaces() if ns.startswith(prefix)]
    for ns in gone:
        remove_namespace(ns)
    return len(gone)
