"""Dual-stack end to end on one speaker per host: IPv6 from the pool to the ToR's kernel FIB.

containerlab/rack.clab.yml is dual-stack: an IPv6 pool, IPv6 link addresses, each host's
IPv6 fabric address. Each host's one IPv4 session carries its IPv6 prefixes too (MP-BGP)
with its global IPv6 address as the next hop (an IPv4-mapped one would not resolve and the
ToR would install nothing). Proven on FRR, then on BIRD 2 running the configuration the
controller renders with its IPAM filters: blocks and /128s at the ToR via the right host,
IPv6 pings between containers on different hosts, a release withdrawn in both families,
and an IPv6 hijack by a rogue host refused.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.lab import containers
from fabric.lab.demo import API, Fabric
from fabric.lab.netns import kill_pid, pids_in, sh, wait_for
from tests.harness.labs import rack_lab, steady_ping
from tests.harness.speakers import bare_exabgp
from tests.lab.test_rogue_host import fib, push_tor_config

HOP6 = {"h1": "fd00:0:1::2", "h2": "fd00:0:2::2"}  # the hosts' IPv6 fabric addresses


@dataclass
class DualRack:
    fabric: Fabric
    kind: str  # the ToR's daemon: frr | bird
    base: Path


def fib6(fabric: Fabric, node: str = "tor") -> dict[str, set[str]]:
    """The node's IPv6 kernel routes: prefix -> gateways."""
    ns = fabric.topo.namespace(node)
    out = sh("ip", "netns", "exec", ns, "ip", "-6", "-j", "route", "show").stdout
    routes: dict[str, set[str]] = {}
    for r in json.loads(out):
        dst = str(ipaddress.ip_network(r["dst"] if "/" in r["dst"] else f"{r['dst']}/128"))
        hops = {h["gateway"] for h in r.get("nexthops", []) if "gateway" in h}
        routes[dst] = hops | ({r["gateway"]} if "gateway" in r else set())
    return routes


def v6_block(fabric: Fabric, host: str) -> str:
    return next(b for b in fabric.fabricctl("routes", "--host", host)["blocks"] if ":" in b)


@pytest.fixture(scope="module", params=["frr", "bird"])
def rack(request: pytest.FixtureRequest) -> Iterator[DualRack]:
    if os.geteuid() != 0:
        pytest.fail("lab tests need root") if os.environ.get("CI") else pytest.skip("needs root")
    with rack_lab(f"ds{request.param}", prefix="rf-dual-") as (fabric, base):
        for host in ("h1", "h2"):
            fabric.start_container(host, f"{host}c1", family="dual")
        # The configuration with the IPAM filters, as both hosts own their blocks now (BIRD
        # takes the ToR over from FRR).
        want = {v6_block(fabric, h) for h in HOP6}
        wait_for("both IPv6 blocks at the ToR before the filters",
                 lambda: want <= fib6(fabric).keys(), 60)  # fmt: skip
        push_tor_config(fabric, request.param, base)
        yield DualRack(fabric, request.param, base)


def test_the_tor_learns_each_hosts_ipv6_block_via_its_global_address(rack: DualRack) -> None:
    fabric = rack.fabric
    want = {v6_block(fabric, h): {HOP6[h]} for h in HOP6}
    wait_for(f"the ToR ({rack.kind}) to install both IPv6 blocks via the hosts",
             lambda: all(fib6(fabric).get(p) == hops for p, hops in want.items()), 60)  # fmt: skip
    # IPv4 still rides the same session.
    v4 = {b: h for h in HOP6 for b in fabric.fabricctl("routes", "--host", h)["blocks"]
          if ":" not in b}  # fmt: skip
    wait_for("both IPv4 blocks too", lambda: all(b in fib(fabric, "tor") for b in v4), 30)
    # Each host says its one session negotiated both families, one block of each sent.
    for host, tor in (("h1", "10.0.1.0"), ("h2", "10.0.2.0")):
        wait_for(f"{host} to report both families on its session", lambda host=host, tor=tor:
                 _families(fabric, host) == {tor: {"ipv4": 1, "ipv6": 1}}, 30)  # fmt: skip


def test_containers_on_different_hosts_ping_over_ipv6(rack: DualRack) -> None:
    fabric = rack.fabric
    pairs = [("h1c1", "h2c1"), ("h2c1", "h1c1")]
    for src, dst in pairs:
        ns = fabric.containers[src][0]
        wait_for(f"{src} to ping {dst} over IPv6",
                 lambda ns=ns, dst=dst: fabric.workloads.ping(ns, fabric.addresses6[dst]),
                 30, 0.5)  # fmt: skip
        assert fabric.workloads.ping(ns, fabric.containers[dst][1]), f"{src} -> {dst} IPv4"


def test_host_routes_mode_sends_128s_and_a_release_withdraws_both_families(
    rack: DualRack,
) -> None:
    fabric = rack.fabric
    fabric.fabricctl_text("host", "update", "h2", "--mode", "host-routes")
    try:
        fabric.start_container("h2", "h2c2", family="dual")
        v6, v4 = f"{fabric.addresses6['h2c2']}/128", f"{fabric.containers['h2c2'][1]}/32"
        wait_for(f"the ToR ({rack.kind}) to install {v6} via h2",
                 lambda: fib6(fabric).get(v6) == {HOP6["h2"]}, 30)  # fmt: skip
        wait_for(f"and {v4}", lambda: fib(fabric, "tor").get(v4) == {"10.0.2.1"}, 30)
        network = containers.host_network(API, fabric.cni_token(), "h2", family="dual")
        containers.stop(fabric.topo, "h2", "h2c2", network)
        del fabric.containers["h2c2"]
        wait_for(f"the ToR ({rack.kind}) to withdraw {v6} and {v4}",
                 lambda: v6 not in fib6(fabric) and v4 not in fib(fabric, "tor"), 30)  # fmt: skip
    finally:
        fabric.fabricctl_text("host", "update", "h2", "--mode", "aggregate")


def test_exabgp_killed_loses_no_ipv6_ping(rack: DualRack) -> None:
    """kill -9 of h1's ExaBGP: the agent starts another, graceful restart keeps h1's IPv6
    routes at the ToR meanwhile, and a steady IPv6 ping into h1 loses nothing."""
    fabric = rack.fabric
    pidfile = fabric.topo.lab_dir / "h1" / "exabgp.child.pid"
    pid = int(pidfile.read_text())
    with steady_ping(fabric.containers["h2c1"][0], fabric.addresses6["h1c1"]) as count:
        time.sleep(1)
        os.kill(pid, signal.SIGKILL)
        wait_for("the agent to start ExaBGP again",
                 lambda: pidfile.exists() and int(pidfile.read_text()) != pid, 30)  # fmt: skip
        time.sleep(5)  # the new session up, its replay and End-of-RIB through
    print(f"\nIPv6 ping across the ExaBGP restart: {count.received}/{count.sent}")
    assert count.sent > 100 and count.lost == 0, count
    assert fib6(fabric).get(v6_block(fabric, "h1")) == {HOP6["h1"]}


def _v6_learned_from(rack: DualRack, prefix: str) -> set[str]:
    """The BGP neighbours the ToR has ``prefix`` from, as its own daemon reports them."""
    if rack.kind == "frr":
        paths = rack.fabric.vtysh("tor", f"show bgp ipv6 unicast {prefix} json").get("paths", [])
        return {p.get("peer", {}).get("peerId", "") for p in paths}
    out = sh("ip", "netns", "exec", rack.fabric.topo.namespace("tor"), "birdc", "-s",
             str(rack.base / "bird.ctl"), "show", "route", "for", prefix, "all",
             check=False).stdout  # fmt: skip
    # "fd00:10:244:..::/122  unicast [host_h2_v6 ...] * (100) [AS65002i]"
    return {ln.split("[", 1)[1].split()[0] for ln in out.splitlines() if "unicast [" in ln}


def _families(fabric: Fabric, host: str) -> dict[str, dict[str, int]]:
    """The host's established sessions as it reports them: peer -> family -> prefixes sent."""
    return {r["peer_address"]: {f: c["sent"] for f, c in r["families"].items()}
            for r in fabric.fabricctl("peers", "--host", host) if r["established"]}  # fmt: skip


def test_an_ipv6_session_carries_the_ipv6_prefixes(rack: DualRack) -> None:
    """h2 gets a second session to the ToR, over IPv6 (its fd00:0:2::2 to fd00:0:2::1): the
    agent reloads ExaBGP with it, the ToR's rendered config moves h2's IPv6 prefixes from the
    IPv4 session to that one, and h2's block is learned over it, still via h2's global
    address, while h1's stays on its IPv4 session. Deleting the peer moves it back."""
    fabric = rack.fabric
    block, hop = v6_block(fabric, "h2"), HOP6["h2"]
    v6_session = "host_h2_v6" if rack.kind == "bird" else hop
    v4_session = "host_h2" if rack.kind == "bird" else "10.0.2.1"
    fabric.fabricctl_text("peer", "add", "tor-h2-v6", "--address", "fd00:0:2::1", "--asn",
                          "65000", "--scope", "host", "--host", "h2", "--hold-time", "9",
                          "--keepalive", "3")  # fmt: skip
    try:
        push_tor_config(fabric, rack.kind, rack.base)
        wait_for(f"the ToR ({rack.kind}) to learn {block} over the IPv6 session, via {hop}",
                 lambda: _v6_learned_from(rack, block) == {v6_session}
                 and fib6(fabric).get(block) == {hop}, 60)  # fmt: skip
        ns = fabric.containers["h1c1"][0]
        wait_for("h1c1 to ping h2c1 over IPv6", lambda: fabric.workloads.ping(
            ns, fabric.addresses6["h2c1"]), 30, 0.5)  # fmt: skip
        v4 = next(b for b in fabric.fabricctl("routes", "--host", "h2")["blocks"] if ":" not in b)
        assert fib(fabric, "tor").get(v4) == {"10.0.2.1"}, "h2's IPv4 block left its session"
        h1 = _v6_learned_from(rack, v6_block(fabric, "h1"))
        assert h1 == {"host_h1" if rack.kind == "bird" else "10.0.1.1"}, h1
        # h2's own word, through the API: each session carries what the ToR negotiated on it,
        # and the counts are per family (one IPv4 block, one IPv6 block).
        want = {"10.0.2.0": {"ipv4": 1}, "fd00:0:2::1": {"ipv6": 1}}
        wait_for("h2 to report both sessions up with their families", lambda: _families(
            fabric, "h2") == want, 30)  # fmt: skip
    finally:
        fabric.fabricctl_text("peer", "delete", "tor-h2-v6")
        push_tor_config(fabric, rack.kind, rack.base)
    wait_for(f"{block} back on h2's IPv4 session",
             lambda: _v6_learned_from(rack, block) == {v4_session}, 60)  # fmt: skip
    wait_for("h2 to report one session carrying both families again", lambda: _families(
        fabric, "h2") == {"10.0.2.0": {"ipv4": 1, "ipv6": 1}}, 30)  # fmt: skip


def test_an_ipv6_hijack_is_refused(rack: DualRack) -> None:
    """h2 turns rogue (a bare ExaBGP, not our agent) and announces h1's IPv6 block and a
    prefix outside every pool, over its IPv4 session: the ToR, with the controller's
    filters, refuses both and keeps h1's block where it belongs."""
    fabric = rack.fabric
    victim, outside = v6_block(fabric, "h1"), "2001:db8:dead::/48"
    for pid in pids_in(fabric.topo.namespace("h2")):
        kill_pid(pid)
    conf = rack.base / "rogue6.conf"
    routes = "".join(f"        route {p} next-hop {HOP6['h2']};\n" for p in (victim, outside))
    conf.write_text(
        "neighbor 10.0.2.0 {\n    router-id 10.0.2.1;\n    local-address 10.0.2.1;\n"
        "    local-as 65002;\n    peer-as 65000;\n    family { ipv4 unicast; ipv6 unicast; }\n"
        f"    static {{\n{routes}    }}\n}}\n"
    )
    rogue: subprocess.Popen[bytes] = bare_exabgp(fabric.topo.namespace("h2"), conf, rack.base)
    try:
        wait_for("the rogue's UPDATEs to reach the ToR", lambda: _rogue_heard(rack), 60)
        time.sleep(2)  # the rest of its UPDATEs through the filter
        routes = fib6(fabric)
        assert routes.get(victim) == {HOP6["h1"]}, f"h1's block lost or moved: {routes}"
        assert outside not in routes, "a prefix outside every pool was accepted"
    finally:
        kill_pid(rogue.pid)
        rogue.wait(10)


def _rogue_heard(rack: DualRack) -> bool:
    """Whether h2's session is up again and has sent IPv6 UPDATEs (whatever the filter did)."""
    if rack.kind == "frr":
        peer = rack.fabric.vtysh("tor", "show bgp neighbors 10.0.2.1 json").get("10.0.2.1", {})
        # A session established after the rogue started (h2's agent's was torn down) that
        # has sent UPDATEs since.
        return bool(peer.get("bgpState") == "Established"
                    and peer.get("connectionsEstablished", 0) >= 2
                    and peer.get("messageStats", {}).get("updatesRecv", 0) > 0)  # fmt: skip
    out = sh("ip", "netns", "exec", rack.fabric.topo.namespace("tor"), "birdc", "-s",
             str(rack.base / "bird.ctl"), "show", "protocols", "all", "host_h2",
             check=False).stdout  # fmt: skip
    lines = out.splitlines()
    v6 = lines[next((i for i, ln in enumerate(lines) if "Channel ipv6" in ln), len(lines)) :]
    return "Established" in out and any(
        "Import updates:" in ln and int(ln.split()[2]) > 0 for ln in v6
    )
