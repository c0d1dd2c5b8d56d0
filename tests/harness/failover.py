"""Hosts that die silently in a deployed rack lab, and how long their routes outlive them at the
ToR: shared by the BFD lab test and ``bench/failover.py``."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fabric.lab import deploy as lab_deploy
from fabric.lab.demo import API, FABRICCTL, Fabric
from fabric.lab.netns import kill_pid, namespaces, pids_in, sh, wait_for
from tests.harness.labs import rack_lab

BFD_PEER = "10.0.1.1"  # h1, the host with a BFD profile (h2 has none)


TOR_ADDRESSES = ((1, "10.0.1.0/31"), (2, "10.0.2.0/31"), (3, "10.0.255.0/31"))


@dataclass
class BfdLab:
    fabric: Fabric
    tor_kind: str  # frr or bird
    blocks: dict[str, str]  # host -> its block
    containers: dict[str, tuple[str, str]]  # host -> (namespace, address)
    bird_socket: Path | None = None  # BIRD's control socket, when BIRD is the ToR


def _bird_on_the_tor(fabric: Fabric, base: Path) -> list[str]:
    """FRR leaves the ToR and BIRD 2 takes it over with the configuration the controller
    renders; tor-sync's arguments for it."""
    topo, ns = fabric.topo, fabric.topo.namespace("tor")
    run = lab_deploy.frr_run_dir(topo, "tor")
    for daemon in ("bgpd", "bfdd", "zebra"):  # by their pid files
        kill_pid(int((run / f"{daemon}.pid").read_text()))
    for i, cidr in TOR_ADDRESSES:  # zebra took the addresses it had configured with it
        sh("ip", "netns", "exec", ns, "ip", "addr", "replace", cidr, "dev", f"eth{i}")
    conf, sock = base / "tor-bird.conf", base / "bird.ctl"
    conf.write_text(fabric.fabricctl_text("tor-config", "--tor", "tor", "--format", "bird"))
    sh("ip", "netns", "exec", ns, "bird", "-c", str(conf), "-s", str(sock),
       "-P", str(base / "bird.pid"))  # fmt: skip
    fabric.workloads.pidfiles.append(base / "bird.pid")
    return ["--format", "bird", "--config", str(conf), "--bird-socket", str(sock)]


@contextmanager
def bfd_rack_lab(tor_kind: str = "frr", profile: str = "3,300,300") -> Iterator[BfdLab]:
    """The rack lab with BFD (``profile``: MULT,RX,TX) on h1's peer only, a container on each
    host, the ToR on FRR or BIRD 2 (``tor_kind``), and tor-sync putting its configuration on
    from the controller; everything gone after."""
    with rack_lab("bfd", prefix="rf-bfd-") as (fabric, base):
        topo = fabric.topo
        try:
            fabric.fabricctl_text("peer", "update", "tor-h1", "--bfd", profile)
            containers = {}
            for host in ("h1", "h2"):
                address = fabric.start_container(host, f"{host}c1")
                containers[host] = (fabric.containers[f"{host}c1"][0], address)
            blocks = {h: fabric.fabricctl("routes", "--host", h)["blocks"][0] for h in ("h1", "h2")}
            wait_for("both hosts' blocks at the ToR", lambda: set(blocks.values()) <= tor_fib(fabric),
                     60)  # fmt: skip
            run = lab_deploy.frr_run_dir(topo, "tor")
            where = ["--config", str(run / "frr.conf"), "--vty-socket", str(run)]
            if tor_kind == "bird":
                where = _bird_on_the_tor(fabric, base)
            token = topo.nodes["controller"].env["FABRIC_BOOTSTRAP_TOKEN"]
            fabric.workloads.spawn(
                topo.namespace("tor"),
                [*FABRICCTL, "--api", API, "tor-sync", "--router", "tor", *where, "--wait", "10"],
                base / "tor-sync.log", {"FABRIC_TOKEN": token},
            )  # fmt: skip
            bird = base / "bird.ctl" if tor_kind == "bird" else None
            lab = BfdLab(fabric, tor_kind, blocks, containers, bird)
            wait_for("the BFD session with h1 up at the ToR",
                     lambda: tor_bfd(lab).get(BFD_PEER) == "up", 60)  # fmt: skip
            wait_for("both hosts' blocks at the ToR, its configuration from tor-sync",
                     lambda: set(blocks.values()) <= tor_fib(fabric), 60)  # fmt: skip
            yield lab
        finally:
            # A run that failed halfway may have left hosts frozen.
            thaw(fabric, [h for h in ("h1", "h2") if topo.namespace(h) in namespaces()])


def tor_fib(fabric: Fabric) -> set[str]:
    """The prefixes in the ToR's kernel FIB (what traffic really follows)."""
    ns = fabric.topo.namespace("tor")
    out = sh("ip", "netns", "exec", ns, "ip", "-j", "route", "show").stdout
    return {r["dst"] if "/" in r["dst"] else f"{r['dst']}/32" for r in json.loads(out)}


def tor_bfd(lab: BfdLab) -> dict[str, str]:
    """The ToR's BFD sessions: peer address -> state (up, down, …), from FRR or BIRD."""
    if lab.tor_kind == "frr":
        rows = json.loads(lab_deploy.vtysh(lab.fabric.topo, "tor", "show bfd peers json") or "[]")
        return {r["peer"]: r["status"] for r in rows}
    ns = lab.fabric.topo.namespace("tor")
    out = sh("ip", "netns", "exec", ns, "birdc", "-s", str(lab.bird_socket), "show", "bfd", "sessions",
             check=False).stdout  # fmt: skip
    # "10.0.1.1   eth1   Up   19:20:31.123   0.300   0.900" under a header line
    return {cols[0]: cols[2].lower() for line in out.splitlines()
            if len(cols := line.split()) >= 3 and cols[0].count(".") == 3}  # fmt: skip


def signal_host(fabric: Fabric, host: str, sig: signal.Signals) -> list[int]:
    """Every process of the host (agent, ExaBGP, injector, bfdd), by PID: SIGSTOP is a host
    that hangs with its links up, SIGCONT the same host coming back."""
    pids = pids_in(fabric.topo.namespace(host))
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def until_gone(fabric: Fabric, prefixes: dict[str, str], started: float,
               timeout: float = 30.0) -> dict[str, float]:  # fmt: skip
    """Seconds from ``started`` until each host's prefix (host -> prefix) left the ToR's FIB
    (polled every few ms); a host whose prefix stayed gets ``timeout``."""
    left: dict[str, float] = {}
    while len(left) < len(prefixes) and time.monotonic() - started < timeout:
        fib = tor_fib(fabric)
        now = time.monotonic() - started
        for host, prefix in prefixes.items():
            if host not in left and prefix not in fib:
                left[host] = now
        time.sleep(0.002)
    return {host: left.get(host, timeout) for host in prefixes}


def freeze(fabric: Fabric, hosts: Iterable[str]) -> float:
    """Freeze the hosts at once; the moment it happened."""
    started = time.monotonic()
    for host in hosts:
        signal_host(fabric, host, signal.SIGSTOP)
    return started


def thaw(fabric: Fabric, hosts: Iterable[str]) -> None:
    for host in hosts:
        signal_host(fabric, host, signal.SIGCONT)
