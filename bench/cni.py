"""CNI: ADD and DEL latency of fabric-cni + fabric-ipam, and ADD → the container's /32 in
the ToR's kernel FIB; p50/p99 over N containers on one host of the rack lab.

The baseline, in the same run on the same host: Debian's reference ptp + host-local (Go,
no network round trip). Every plugin is started as a runtime starts it, inside the host's
namespace (``ip netns exec``, the same ~2 ms for both); the two take turns container by
container so the machine's moods fall on both alike.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import console, percentiles, save, show
from bench.convergence import wait_route

API = "http://10.0.255.1:8080"  # the rack's controller, as its hosts reach it
def _timed(call: Any, *args: str) -> tuple[float, Any]:
    start = time.perf_counter()
    out = call(*args)
    return time.perf_counter() - start, out


def _measure(fabric: Any, count: int, base: Path) -> dict[str, list[float]]:
    from pyroute2 import NetNS

    from fabric.lab.containers import container_namespace, host_network
    from fabric.lab.netns import sh
    from fabric.lab.runtime import Runtime, address_of, conflist

    topo = fabric.topo
    ours = Runtime(host_network(API, fabric.cni_token(), "h1"), topo.namespace("h1"))
    ranges = [[{"subnet": "10.250.0.0/16"}]]
    ipam = {"type": "host-local", "ranges": ranges, "dataDir": str(base / "host-local")}
    reference = Runtime(conflist("ref", ipam, main="ptp", version="1.0.0"), topo.namespace("h1"))
    out: dict[str, list[float]] = {k: [] for k in ("add", "del", "fib", "ref_add", "ref_del")}
    made: list[tuple[str, str]] = []
    ipr = NetNS(topo.namespace("tor"))
    try:
        for i in range(count):
            ns = container_namespace(topo, "h1", f"b{i}")
            sh("ip", "netns", "add", ns)
            made.append((f"b{i}", ns))
            netns = f"/run/netns/{ns}"
            started = time.perf_counter()
            spent, result = _timed(ours.add, f"b{i}", netns)
            out["add"].append(spent)
            wait_route(ipr, address_of(result), present=True)
            out["fib"].append(time.perf_counter() - started)
            out["ref_add"].append(_timed(reference.add, f"b{i}", netns, "eth1")[0])
        for name, ns in made:
            netns = f"/run/netns/{ns}"
            out["del"].append(_timed(ours.delete, name, netns)[0])
            out["ref_del"].append(_timed(reference.delete, name, netns, "eth1")[0])
    finally:
        ipr.close()
        for _, ns in made:
            sh("ip", "netns", "del", ns, check=False)
    return out


def run(smoke: bool = False) -> dict[str, Any]:
    from fabric.lab import deploy as lab_deploy
    from fabric.lab.netns import wait_for
    from tests.harness.labs import rack_lab

    count = 5 if smoke else 200
    with rack_lab("cni", prefix="rf-bench-cni-") as (fabric, base):
        topo = fabric.topo
        fabric.fabricctl_text("host", "update", "h1", "--mode", "host-routes")
        established = '"Established"'
        wait_for("h1's session", lambda: established in lab_deploy.vtysh(
            topo, "tor", "show bgp neighbors 10.0.1.1 json"), 60)  # fmt: skip
        samples = _measure(fabric, count, base)
    stats = {k: percentiles(v) for k, v in samples.items()}
    ms = {k: {q: v * 1000 for q, v in s.items()} for k, s in stats.items()}
    rows = [
        ("ADD", ms["add"]["p50"], ms["add"]["p99"], ms["ref_add"]["p50"], ms["ref_add"]["p99"],
         ms["add"]["p99"] / ms["ref_add"]["p99"]),
        ("DEL", ms["del"]["p50"], ms["del"]["p99"], ms["ref_del"]["p50"], ms["ref_del"]["p99"],
         ms["del"]["p99"] / ms["ref_del"]["p99"]),
        ("ADD → ToR FIB", ms["fib"]["p50"], ms["fib"]["p99"], None, None, None),
    ]  # fmt: skip
    show(
        f"CNI, {count} containers on one host (targets: ADD p99 < 100 ms, ADD → FIB p99 < 200 ms)",
        ["call", "ours p50 ms", "ours p99 ms", "ptp+host-local p50 ms", "p99 ms", "p99 ratio"],
        [tuple("" if v is None else v for v in row) for row in rows],
    )
    if not smoke:
        save("cni", {"count": count, "milliseconds": ms})
    else:
        console.print("[dim]smoke run: results not written[/dim]")
    return ms
