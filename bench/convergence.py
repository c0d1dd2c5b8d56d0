"""Convergence: an allocation call returns → its /32 (or its /128) is in the ToR's kernel FIB
(so in its RIB), and release → gone; p50/p95/p99 over single allocations one after another,
IPv4 and IPv6 taking turns in the same run (the IPv6 /128 rides the IPv4 session, MP-BGP).

The floor, measured in the same run on the same ToR: a bare ExaBGP (no API, no
injector) told through a pipe to announce and withdraw one route. FRR 8.4 holds
every change ~50 ms before best-path selection and zebra ~10 ms more before the
FIB, so no speaker goes below ~60 ms here; what is ours is the excess.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, console, percentiles, save, show

RACK = REPO_ROOT / "containerlab" / "rack.clab.yml"
TIMEOUT = 10.0
KINDS = ("allocate", "release", "bare_up", "bare_down")
BARE_HOP6 = "fd00:0:2::2"  # h2's global IPv6 address: the bare speaker's IPv6 next hop


def _route_present(ipr: Any, address: str) -> bool:
    try:
        ipr.route("get", dst=address)
        return True
    except Exception:  # NetlinkError: unreachable
        return False


def wait_route(ipr: Any, address: str, present: bool) -> float:
    """Seconds until the route to ``address`` is there (or gone), polled every millisecond."""
    start = time.perf_counter()
    while time.perf_counter() - start < TIMEOUT:
        if _route_present(ipr, address) == present:
            return time.perf_counter() - start
        time.sleep(0.001)
    raise TimeoutError(f"{address} {'never appeared' if present else 'never left'}")


def inner(tor_ns: str, count: int, fifo: str | None) -> dict[str, list[float]]:
    """Runs inside the controller node's namespace (the API's network)."""
    import httpx
    from pyroute2 import NetNS

    token = os.environ["FABRIC_TOKEN"]
    ipr = NetNS(tor_ns)
    out: dict[str, list[float]] = {f"{k}{v}": [] for k in KINDS for v in (4, 6)}
    try:
        with httpx.Client(
            base_url="http://10.0.255.1:8080", headers={"Authorization": f"Bearer {token}"}
        ) as http:
            for i in range(count):
                for v in (4, 6):  # turn by turn: both families see the same moments of the lab
                    handle = f"conv-{v}-{i}"
                    body = {"host": "h1", "handle": handle, "family": str(v)}
                    r = http.post("/v1/allocations", json=body)
                    returned = time.perf_counter()
                    address = r.json()["allocations"][0]["address"]
                    wait_route(ipr, address, True)
                    out[f"allocate{v}"].append(time.perf_counter() - returned)
                    http.post("/v1/allocations/release", json={"handle": handle})
                    returned = time.perf_counter()
                    wait_route(ipr, address, False)
                    out[f"release{v}"].append(time.perf_counter() - returned)
        if fifo:
            with open(fifo, "w") as pipe:
                for i in range(min(count, 50)):
                    for v, route, hop in ((4, f"10.250.{i // 250}.{i % 250 + 1}/32", "self"),
                                          (6, f"fd00:250::{i + 1:x}/128", BARE_HOP6)):  # fmt: skip
                        address = route.split("/")[0]
                        for verb, present in (("announce", True), ("withdraw", False)):
                            pipe.write(f"{verb} route {route} next-hop {hop}\n")
                            pipe.flush()
                            sent = time.perf_counter()
                            wait_route(ipr, address, present)
                            key = "bare_up" if present else "bare_down"
                            out[f"{key}{v}"].append(time.perf_counter() - sent)
    finally:
        ipr.close()
    return out


def _bare_speaker(topo: Any, base: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """h2 without our agent: ExaBGP whose process is a pipe we write to."""
    from fabric.lab.netns import kill_pid, pids_in
    from tests.harness.speakers import bare_exabgp

    for pid in pids_in(topo.namespace("h2")):
        kill_pid(pid)
    fifo = base / "bare.fifo"
    os.mkfifo(fifo)
    conf = base / "bare.conf"
    conf.write_text(
        f'process pipe {{\n    run /bin/sh -c "exec cat {fifo}";\n    encoder text;\n}}\n'
        "neighbor 10.0.2.0 {\n    router-id 10.0.2.1;\n    local-address 10.0.2.1;\n"
        "    local-as 65002;\n    peer-as 65000;\n    family { ipv4 unicast; ipv6 unicast; }\n"
        "    api { processes [ pipe ]; }\n}\n"
    )
    proc = bare_exabgp(topo.namespace("h2"), conf, base)
    return proc, fifo


def run(smoke: bool = False) -> dict[str, Any]:
    from fabric.lab import deploy as lab_deploy
    from fabric.lab.demo import Fabric
    from fabric.lab.netns import Lab, sh, wait_for
    from fabric.lab.topology import load

    count = 5 if smoke else 200
    base = Path(tempfile.mkdtemp(prefix="rf-bench-conv-"))
    os.chmod(base, 0o755)
    os.environ["CLAB_LABDIR_BASE"] = str(base)
    topo = load(RACK, f"rf{uuid.uuid4().hex[:6]}-conv")
    fabric = Fabric(topo, Lab(base))
    bare = None
    try:
        lab_deploy.deploy(topo)
        wait_for("the controller", lambda: len(fabric.hosts()) == 2, 60)
        fabric.fabricctl_text("host", "update", "h1", "--mode", "host-routes")
        wait_for(
            "h1's session",
            lambda: (
                '"Established"' in lab_deploy.vtysh(topo, "tor", "show bgp neighbors 10.0.1.1 json")
            ),
            60,
        )
        bare, fifo = _bare_speaker(topo, base)
        wait_for(
            "the bare speaker's session",
            lambda: (
                '"Established"' in lab_deploy.vtysh(topo, "tor", "show bgp neighbors 10.0.2.1 json")
            ),
            60,
        )
        token = topo.nodes["controller"].env["FABRIC_BOOTSTRAP_TOKEN"]
        out = sh(
            "ip",
            "netns",
            "exec",
            topo.namespace("controller"),
            "env",
            f"FABRIC_TOKEN={token}",
            f"PYTHONPATH={REPO_ROOT}",
            sys.executable,
            "-m",
            "bench.convergence",
            "--inner",
            "--tor-ns",
            topo.namespace("tor"),
            "--count",
            str(count),
            "--fifo",
            str(fifo),
            timeout=600,  # 200 changes of each family, one after another, and the floor's
        ).stdout
        samples = json.loads(out.strip().splitlines()[-1])
    finally:
        fabric.workloads.destroy()
        lab_deploy.destroy(topo)
        if bare is not None:
            bare.wait(10)
        os.environ.pop("CLAB_LABDIR_BASE", None)
        shutil.rmtree(base, ignore_errors=True)
    stats = {k: percentiles(v) for k, v in samples.items() if v}
    rows = []
    for v in (4, 6):
        for ours, floor in (("allocate", "bare_up"), ("release", "bare_down")):
            s, f = stats[f"{ours}{v}"], stats[f"{floor}{v}"]
            rows.append((f"{ours} IPv{v}", s["p50"] * 1000, s["p95"] * 1000, s["p99"] * 1000,
                         f["p50"] * 1000, (s["p50"] - f["p50"]) * 1000))  # fmt: skip
    show(
        f"Convergence to the ToR's FIB, {count} single changes per family "
        "(target p99 < 250 ms, aim < 100)",
        ["change", "p50 ms", "p95 ms", "p99 ms", "bare ExaBGP p50 ms", "excess p50 ms"],
        rows,
    )
    if not smoke:
        save("convergence", {"count": count, "seconds": stats})
    else:
        console.print("[dim]smoke run: results not written[/dim]")
    return stats


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--inner", action="store_true")
    parser.add_argument("--tor-ns")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--fifo")
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args.tor_ns, args.count, args.fifo)))
    else:
        run()
