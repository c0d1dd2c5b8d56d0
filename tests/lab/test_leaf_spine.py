"""containerlab/leaf-spine.clab.yml deployed by ``fabricctl lab`` onto namespaces, as CI would.

Two containers per host, allocated through the REST API (the CLI, run inside
the controller node, since the API lives on the lab's own network); then the
ping matrix, ECMP on the leaves (IPv4 and IPv6: the topology is dual-stack), a leaf-spine
link failure, and a destroy that leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fabric.lab import containers
from fabric.lab import deploy as lab_deploy
from fabric.lab.demo import API, FABRICCTL, Fabric
from fabric.lab.netns import Lab, namespaces, pids_in, sh, wait_for
from fabric.lab.runtime import address_of
from fabric.lab.topology import load
from tests.harness.labs import steady_ping

REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = REPO / "containerlab" / "leaf-spine.clab.yml"
RACKS = {"leaf1": ("h1", "h2"), "leaf2": ("h3", "h4")}


@dataclass
class LeafSpine(Fabric):
    env: dict[str, str] = field(default_factory=dict)


def _clab(env: dict[str, str], verb: str, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FABRICCTL, "lab", verb, str(TOPOLOGY), "--name", name],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def leaf_spine() -> Iterator[LeafSpine]:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("lab tests need root")
        pytest.skip("lab tests need root and network namespaces")
    base = Path(tempfile.mkdtemp(prefix="rf-clab-"))
    os.chmod(base, 0o755)  # FRR (user frr) reads its files below
    env = {**os.environ, "CLAB_LABDIR_BASE": str(base)}
    name = f"rf{uuid.uuid4().hex[:6]}-ls"  # a per-run lab name: clab-<name>-<node>
    topo = load(TOPOLOGY, name)
    os.environ["CLAB_LABDIR_BASE"] = str(base)  # for topo.lab_dir in this process
    workloads = Lab(base)
    try:
        deployed = _clab(env, "deploy", name)
        assert deployed.returncode == 0, deployed.stderr
        yield LeafSpine(topo, workloads, env=env)
    finally:
        workloads.destroy()
        lab_deploy.destroy(topo)  # also after a failed test; a no-op after the destroy test
        os.environ.pop("CLAB_LABDIR_BASE", None)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def fabric(leaf_spine: LeafSpine) -> LeafSpine:
    wait_for("the controller to be seeded", lambda: len(leaf_spine.hosts()) == 4, 60)
    leaf_spine.add_containers(per_host=2)
    return leaf_spine


def _unreachable(fabric: LeafSpine) -> list[tuple[str, str]]:
    return [pair for pair, ok in fabric.ping_matrix().items() if not ok]


def test_full_ping_matrix(fabric: LeafSpine) -> None:
    t0 = time.monotonic()
    wait_for("every container to reach every other", lambda: not _unreachable(fabric), 90, 1)
    pairs = len(fabric.containers) * (len(fabric.containers) - 1)
    print(f"\n{pairs} container pairs reachable {time.monotonic() - t0:.1f}s after allocation")
    summary = fabric.vtysh("leaf1", "show bgp summary json")["ipv4Unicast"]["peers"]
    assert all(p["state"] == "Established" for p in summary.values()), summary


def test_leaves_send_their_hosts_nothing(fabric: LeafSpine) -> None:
    # A host's speaker installs no route (its default points at the leaf): the rendered
    # route-map sends it none, not even its own routes back, while the leaf holds the host's.
    wait_for("every container to reach every other", lambda: not _unreachable(fabric), 90, 1)
    neighbors = fabric.vtysh("leaf1", "show bgp neighbors json")
    hosts = {a: n for a, n in neighbors.items() if n.get("nbrDesc", "").startswith("host ")}
    assert len(hosts) == len(RACKS["leaf1"]), sorted(neighbors)
    for address, n in hosts.items():
        counts = n["addressFamilyInfo"]["ipv4Unicast"]
        assert counts["sentPrefixCounter"] == 0, (address, counts)
        assert counts["acceptedPrefixCounter"] > 0, (address, counts)
    spines = [n for n in neighbors.values() if n.get("nbrDesc", "").startswith("router ")]
    assert spines and all(
        n["addressFamilyInfo"]["ipv4Unicast"]["sentPrefixCounter"] > 0 for n in spines
    )


def test_fabricctl_lab_container_starts_one_through_the_plugin(fabric: LeafSpine) -> None:
    """What a user types: a container on h3, reachable from rack 1, then deleted."""
    wait_for("every container to reach every other", lambda: not _unreachable(fabric), 90, 1)
    token = ["--token-file", str(fabric.cni_token())]
    lab = [*FABRICCTL, "lab", "container"]
    where = [str(TOPOLOGY), "h3", "extra", "--name", fabric.topo.name]
    added = sh(*lab, "add", *where, *token, "--json")
    started = json.loads(added.stdout)
    address = started["result"]["ips"][0]["address"].split("/")[0]
    src_ns = fabric.containers["h1c1"][0]
    wait_for("h1c1 to reach the new container", lambda: fabric.workloads.ping(src_ns, address), 30)
    trace = fabric.fabricctl("ip", "show", address)
    assert trace["handle"] == "fabric/extra/eth0" and trace["host"] == "h3", trace
    sh(*lab, "del", *where, *token)
    assert started["namespace"] not in namespaces()
    left = fabric.fabricctl("ip", "list", "--host", "h3")
    assert address not in {a["address"] for a in left}


def _other_rack_blocks(fabric: LeafSpine, leaf: str, version: int = 4) -> set[str]:
    other = {h for rack, hosts in RACKS.items() if rack != leaf for h in hosts}
    return {b for host in other for b in fabric.fabricctl("routes", "--host", host)["blocks"]
            if (":" in b) == (version == 6)}  # fmt: skip


def test_leaves_reach_the_other_rack_over_both_spines(fabric: LeafSpine) -> None:
    spines = {"leaf1": {"10.0.11.0", "10.0.12.0"}, "leaf2": {"10.0.21.0", "10.0.22.0"}}
    for leaf in RACKS:
        blocks = _other_rack_blocks(fabric, leaf)
        assert len(blocks) == 2, blocks

        def ecmp(leaf: str = leaf, blocks: set[str] = blocks) -> dict[str, set[str]] | None:
            hops = fabric.bgp_nexthops(leaf)
            return hops if all(hops.get(b) == spines[leaf] for b in blocks) else None

        wait_for(f"{leaf} to have two next hops for {sorted(blocks)}", ecmp, 30)


def _active_hops6(fabric: LeafSpine, leaf: str) -> dict[str, int]:
    """The leaf's IPv6 BGP routes in its FIB: prefix -> how many next hops are active."""
    routes = fabric.vtysh(leaf, "show ipv6 route bgp json")
    return {p: sum(bool(h.get("active")) for h in e[0].get("nexthops", [])) for p, e in routes.items()}


Six = dict[str, tuple[str, str, str]]  # container -> namespace, IPv6 address, host


@pytest.fixture(scope="module")
def six(fabric: LeafSpine) -> Iterator[Six]:
    """A dual-stack container on every host, made through the plugin; deleted after."""
    made: Six = {}
    try:
        for hosts in RACKS.values():
            for h in hosts:
                network = containers.host_network(API, fabric.cni_token(), h, family="dual")
                ns, result = containers.start(fabric.topo, h, f"{h}v6", network)
                made[f"{h}v6"] = (ns, address_of(result, 6), h)
        yield made
    finally:
        for name, (_, _, h) in made.items():
            if fabric.topo.namespace(h) not in namespaces():
                continue  # the destroy test took the lab down, the containers with it
            network = containers.host_network(API, fabric.cni_token(), h, family="dual")
            containers.stop(fabric.topo, h, name, network)


def _unreachable6(fabric: LeafSpine, six: Six) -> list[tuple[str, str]]:
    return [(s, d) for s, (ns, _, _) in six.items() for d, (_, a, _) in six.items()
            if s != d and not fabric.workloads.ping(ns, a)]  # fmt: skip


def test_ipv6_ping_matrix_and_ecmp_over_both_spines(fabric: LeafSpine, six: Six) -> None:
    """A dual-stack container on every host: every pair pings over IPv6, and each leaf reaches
    the other rack's IPv6 blocks over both spines (IPv6 over the IPv4 sessions, end to end)."""
    wait_for("every IPv6 pair", lambda: not _unreachable6(fabric, six), 90, 1)
    for leaf in RACKS:
        blocks = _other_rack_blocks(fabric, leaf, 6)
        assert len(blocks) == 2, blocks
        wait_for(f"{leaf} to reach {sorted(blocks)} over both spines",
                 lambda leaf=leaf, blocks=blocks: all(
                     _active_hops6(fabric, leaf).get(b) == 2 for b in blocks), 30)  # fmt: skip


LATE_POOL, LATE_CIDR = "late", "10.250.0.0/24"  # claimed by h3 only after tor-sync runs


def _quick_ping(fabric: LeafSpine, ns: str, address: str) -> bool:
    """One echo, given up on after 0.2 s: a time to reachability measured to ~0.2 s."""
    return fabric.workloads.run(ns, "ping", "-c", "1", "-W", "0.2", address, check=False).returncode == 0


def _prefix_lists(fabric: LeafSpine, leaf: str) -> str:
    return "\n".join(line for line in fabric.vtysh(leaf, "show running-config").splitlines()
                     if "prefix-list" in line)  # fmt: skip


def _configs(fabric: LeafSpine) -> dict[str, dict[str, Any] | None]:
    return {r["name"]: r["config"] for r in fabric.fabricctl("router", "list")}


@pytest.fixture(scope="module")
def tor_sync(fabric: LeafSpine) -> dict[str, subprocess.Popen[bytes]]:
    """tor-sync on each leaf, in the leaf's namespace (it reaches the API over the fabric as the
    leaf does), with filters on: the leaves' configs then come from the controller. Each runs on
    a router token bound to its leaf, as the README tells an operator to (least privilege)."""
    procs = {}
    for leaf in RACKS:
        token = fabric.fabricctl("token", "create", f"tor-sync-{leaf}", "--role", "router",
                                 "--router", leaf)["token"]  # fmt: skip
        run = lab_deploy.frr_run_dir(fabric.topo, leaf)
        procs[leaf] = fabric.workloads.spawn(
            fabric.topo.namespace(leaf),
            [*FABRICCTL, "--api", API, "tor-sync", "--router", leaf, "--config",
             str(run / "frr.conf"), "--vty-socket", str(run), "--wait", "10"],
            fabric.workloads.workdir / f"tor-sync-{leaf}.log", {"FABRIC_TOKEN": token},
        )  # fmt: skip
    wait_for("both leaves' tor-sync to apply the filtered configuration",
             lambda: all(c and c["in_sync"] for c in (_configs(fabric)[leaf] for leaf in RACKS)),
             60)  # fmt: skip
    return procs


def test_tor_sync_puts_the_filters_on_and_keeps_every_pair_reachable(
    fabric: LeafSpine, tor_sync: dict[str, subprocess.Popen[bytes]]
) -> None:
    for leaf, hosts in RACKS.items():
        lists = _prefix_lists(fabric, leaf)
        assert all(f"prefix-list host-{h}-in seq" in lists for h in hosts), lists
    wait_for("every container to reach every other, filters on", lambda: not _unreachable(fabric),
             60, 1)  # fmt: skip


def test_a_new_block_is_let_in_by_itself_and_a_release_shrinks_the_filter(
    fabric: LeafSpine, tor_sync: dict[str, subprocess.Popen[bytes]]
) -> None:
    """h3 claims a block the filters have never seen: its container is reachable from the
    other rack within 2 s, with no human step; the pool going away takes it out again."""
    fabric.fabricctl("pool", "create", LATE_POOL, LATE_CIDR, "--block-size", "28")
    network = containers.host_network(API, fabric.cni_token(), "h3", pools=[LATE_POOL])
    ns, result = containers.start(fabric.topo, "h3", "late1", network)
    added = time.monotonic()
    address = address_of(result)
    src_ns = fabric.containers["h1c1"][0]
    wait_for("h1c1 to reach the container in h3's new block",
             lambda: _quick_ping(fabric, src_ns, address), 20, 0.01)  # fmt: skip
    took = time.monotonic() - added
    print(f"\nnew block on h3: reachable from rack 1 {took:.2f} s after the ADD returned")
    assert "10.250.0.0/28" in _prefix_lists(fabric, "leaf2")
    assert took < 2.0

    def accepted() -> list[dict[str, Any]] | None:  # the ToR's own word, through tor-sync
        seen = fabric.fabricctl("ip", "show", address)["accepted_by"]
        return seen if any(r["router"] == "leaf2" and r["accepted"] for r in seen) else None

    wait_for("ip show to say leaf2 accepted it", accepted, 30)
    containers.stop(fabric.topo, "h3", "late1", network)
    fabric.fabricctl_text("pool", "delete", LATE_POOL)
    wait_for("leaf2's filter to shrink", lambda: "10.250.0." not in _prefix_lists(fabric, "leaf2"),
             20)  # fmt: skip
    wait_for("both leaves in sync again",
             lambda: all(c and c["in_sync"] for c in (_configs(fabric)[leaf] for leaf in RACKS)),
             20)  # fmt: skip


def test_killing_tor_sync_leaves_the_router_as_it_was(
    fabric: LeafSpine, tor_sync: dict[str, subprocess.Popen[bytes]]
) -> None:
    before = _prefix_lists(fabric, "leaf1")
    proc = tor_sync["leaf1"]
    proc.kill()  # by PID
    proc.wait(10)
    time.sleep(1)
    assert _prefix_lists(fabric, "leaf1") == before
    assert not _unreachable(fabric)


def _forwarded(fabric: LeafSpine, node: str) -> dict[int, int]:
    """Datagrams the node has forwarded, per family (its namespace's own counters: BGP and
    neighbour discovery are not forwarded, so this is the containers' traffic)."""
    ns = fabric.topo.namespace(node)
    snmp = sh("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").stdout.splitlines()
    names, values = (line.split()[1:] for line in snmp if line.startswith("Ip:"))
    snmp6 = sh("ip", "netns", "exec", ns, "cat", "/proc/net/snmp6").stdout.split()
    return {4: int(values[names.index("ForwDatagrams")]),
            6: int(snmp6[snmp6.index("Ip6OutForwDatagrams") + 1])}  # fmt: skip


OUTAGE_LIMIT = 0.5  # seconds of pings a leaf-spine link failure may cost a flow, per family


def test_a_spine_link_down_costs_each_family_under_half_a_second(
    fabric: LeafSpine, six: Six
) -> None:
    """leaf1's link to spine1 goes down under steady IPv4 and IPv6 pings from rack 1 to rack 2
    (every host pair, so that ECMP sends some flows of each family back over spine1): both
    families move to spine2 alone, no flow loses more than half a second of pings, and the
    link back up brings ECMP and every pair back in both (IPv6 addresses kept over the
    flap: the topology's sysctls). Loss is not zero for a flow that leaf2 hashes to spine1:
    leaf2 keeps sending there until spine1's withdraw reaches it, ~100 ms of FRR here; a
    flow leaf1 sends over spine1 moves at once (leaf1 sees its own link go down)."""
    wait_for("every IPv6 pair", lambda: not _unreachable6(fabric, six), 90, 1)
    leaf1 = fabric.topo.namespace("leaf1")
    blocks4, blocks6 = _other_rack_blocks(fabric, "leaf1"), _other_rack_blocks(fabric, "leaf1", 6)
    pairs = [(a, b) for a in RACKS["leaf1"] for b in RACKS["leaf2"]]
    flows = {
        4: [(fabric.containers[f"{a}c1"][0], fabric.containers[f"{b}c1"][1]) for a, b in pairs],
        6: [(six[f"{a}v6"][0], six[f"{b}v6"][1]) for a, b in pairs],
    }
    with ExitStack() as pings:
        counts = {v: [pings.enter_context(steady_ping(*f)) for f in fs] for v, fs in flows.items()}
        before = _forwarded(fabric, "spine1")
        time.sleep(1)
        through = {v: n - before[v] for v, n in _forwarded(fabric, "spine1").items()}
        # The failure hits both families: each has pings crossing spine1 (some way or other).
        assert all(n > 0 for n in through.values()), through
        sh("ip", "netns", "exec", leaf1, "ip", "link", "set", "eth1", "down")
        try:
            wait_for("leaf1 to route the other rack over spine2 only, in both families",
                     lambda: all(fabric.bgp_nexthops("leaf1").get(b) == {"10.0.12.0"}
                                 for b in blocks4)
                     and all(_active_hops6(fabric, "leaf1").get(b) == 1 for b in blocks6),
                     30)  # fmt: skip
            time.sleep(2)
        finally:
            sh("ip", "netns", "exec", leaf1, "ip", "link", "set", "eth1", "up")
    for v, cs in counts.items():
        print(f"\nleaf1-spine1 link down, IPv{v}: "
              + ", ".join(f"{c.lost} of {c.sent} lost" for c in cs) + " (a ping every 20 ms)")
        assert all(c.sent > 100 and c.received > 0 for c in cs), cs
        assert max(c.lost for c in cs) * 0.02 <= OUTAGE_LIMIT, cs
    for leaf in RACKS:  # both ends: leaf2 takes spine1 back for rack 1 too
        b4, b6 = _other_rack_blocks(fabric, leaf), _other_rack_blocks(fabric, leaf, 6)
        wait_for(f"{leaf}: ECMP over both spines again, in both families",
                 lambda leaf=leaf, b4=b4, b6=b6:
                 all(len(fabric.bgp_nexthops(leaf).get(b, ())) == 2 for b in b4)
                 and all(_active_hops6(fabric, leaf).get(b) == 2 for b in b6), 60)  # fmt: skip
    wait_for("every pair in both families, the link back",
             lambda: not _unreachable(fabric) and not _unreachable6(fabric, six), 30, 1)  # fmt: skip


def test_destroy_leaves_nothing_behind(fabric: LeafSpine) -> None:
    ours = [fabric.topo.namespace(n) for n in fabric.topo.nodes]
    pids = [pid for ns in ours for pid in pids_in(ns)]
    assert pids, "the lab should be running before destroy"
    fabric.workloads.destroy()  # the test's own containers first (they hang off the hosts)
    root_links = sh("ip", "-o", "link").stdout.count("\n")
    destroyed = _clab(fabric.env, "destroy", fabric.topo.name)
    assert destroyed.returncode == 0, destroyed.stderr
    assert not set(ours) & namespaces()
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert not alive, f"processes left running: {alive}"
    assert sh("ip", "-o", "link").stdout.count("\n") == root_links
    again = _clab(fabric.env, "destroy", fabric.topo.name)
    assert again.returncode == 0 and "0 node(s) removed" in again.stdout
