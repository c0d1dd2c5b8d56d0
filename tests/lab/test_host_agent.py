"""The host agent against a real FRR ToR, real ExaBGP and real kernel routes.

The tests share one lab and run in order: each builds on the state the
previous one left (as an engineer's session on a real fabric would).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, insert, select, text

from fabric.lab.netns import wait_for
from fabric.models import Allocation, Block, Host, Pool
from tests.harness.servers import ADMIN_TOKEN
from tests.harness.vty import Vty, VtyError
from tests.lab.conftest import TOR_ASN, FabricLab, handle_of

CONTAINERS = {"h1": ["c11", "c12"], "h2": ["c21", "c22"]}


@pytest.fixture(scope="module")
def fabric(fabric_lab: FabricLab) -> FabricLab:
    api = fabric_lab.api
    api.post("/v1/pools", json={"name": "pods", "cidr": "10.100.0.0/16"}).raise_for_status()
    for host, (i, asn) in {"h1": (1, 65001), "h2": (2, 65002)}.items():
        mode = "aggregate" if host == "h1" else "host-routes"
        api.post(
            "/v1/hosts",
            json={"name": host, "address": f"10.0.{i}.1", "asn": asn, "advertise_mode": mode},
        ).raise_for_status()
        peer = {
            "name": f"tor-{host}",
            "address": f"10.0.{i}.0",
            "asn": TOR_ASN,
            "scope": "host",
            "host": host,
            "hold_time": 9,
            "keepalive": 3,
            "graceful_restart": 120,
        }
        api.post("/v1/peers", json=peer).raise_for_status()
        # Reconcile often so the 20,000-route test sees ExaBGP's adj-rib-out checked.
        fabric_lab.start_agent(host, "--reconcile-seconds", "5")
    for host, names in CONTAINERS.items():
        for name in names:
            fabric_lab.container(host, name)
    return fabric_lab


def test_tor_learns_blocks_and_host_routes(fabric: FabricLab) -> None:
    h2_routes = {f"{fabric.containers[c][1]}/32" for c in CONTAINERS["h2"]}
    want = {"10.100.0.0/26": ["10.0.1.1"], **{r: ["10.0.2.1"] for r in h2_routes}}

    def converged() -> dict[str, list[str]] | None:
        rib = fabric.rib()
        return rib if all(rib.get(p) == nh for p, nh in want.items()) else None

    rib = wait_for("the ToR to learn h1's block and h2's /32s", converged, 60)
    assert not [p for p in rib if p.startswith("10.100.") and p not in want]
    fib_want = {p.removesuffix("/32") for p in want}
    wait_for("the routes in the ToR's kernel FIB", lambda: fib_want <= fabric.fib(), 10)
    # The kernel side of h1: a blackhole for its block, carrying our protocol number.
    routes = fabric.lab.run(fabric.hosts["h1"], "ip", "route", "show", "proto", "77").stdout
    assert "blackhole 10.100.0.0/26" in routes


def test_the_tor_answers_the_same_over_its_vty_socket(fabric: FabricLab) -> None:
    """``tests.harness.vty``, the injection benchmark's poller, reads what vtysh reads."""
    command = "show bgp ipv4 unicast json"
    with Vty(fabric.frr_run / "bgpd.vty") as bgpd:
        ours = bgpd.json(command)
        theirs = fabric.lab.vtysh(fabric.tor, fabric.frr_run, command)
        assert ours["routes"] and ours["routes"] == theirs["routes"]
        with pytest.raises(VtyError, match="failed with code"):
            bgpd.command("show no such thing")
        # A failed command leaves the connection usable.
        assert bgpd.json("show bgp summary json")["ipv4Unicast"]["as"] == TOR_ASN


def test_every_container_reaches_every_other(fabric: FabricLab) -> None:
    failed = [
        (src, dst)
        for src in fabric.containers
        for dst, (_, addr) in fabric.containers.items()
        if src != dst and not fabric.ping(src, addr, count=3)
    ]
    assert failed == []


def test_release_and_allocate_reach_the_tor(fabric: FabricLab) -> None:
    _, addr = fabric.containers["c22"]
    t0 = time.monotonic()
    fabric.api.post("/v1/allocations/release", json={"handle": handle_of("c22")}).raise_for_status()
    wait_for(
        "the release to leave the ToR", lambda: f"{addr}/32" not in fabric.rib(), 15, every=0.01
    )
    withdraw_s = time.monotonic() - t0
    t0 = time.monotonic()
    new = fabric.allocate("h2", "c23")
    wait_for("the allocation to reach the ToR", lambda: f"{new}/32" in fabric.rib(), 15, every=0.01)
    announce_s = time.monotonic() - t0
    print(
        f"\nrelease -> ToR RIB: {withdraw_s * 1000:.0f} ms; allocate -> ToR RIB: {announce_s * 1000:.0f} ms"
    )
    fabric.api.post("/v1/allocations/release", json={"handle": "c23"}).raise_for_status()
    # The runtime retries the container's ADD: the same address comes back, the container keeps it.
    assert fabric.container("h2", "c22") == addr
    wait_for("c22 back", lambda: f"{addr}/32" in fabric.rib(), 15)


def test_peer_status_reports_established(fabric: FabricLab) -> None:
    def established() -> list[dict[str, object]] | None:
        rows = fabric.api.get("/v1/peers/status").json()
        ok = {r["host"]: r for r in rows if r["state"] == "established"}
        return rows if set(ok) == {"h1", "h2"} and ok["h2"]["prefixes_sent"] == 2 else None

    rows = wait_for("both sessions established with their prefix counts", established, 30)
    h1 = next(r for r in rows if r["host"] == "h1")
    assert (
        h1["peer_address"] == "10.0.1.0" and h1["prefixes_sent"] == 1 and h1["peer_asn"] == TOR_ASN
    )


def _fabricctl(fabric: FabricLab, *args: str) -> str:
    env = {**os.environ, "FABRIC_TOKEN": ADMIN_TOKEN, "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "fabric.cli.main", "--api", fabric.api_url, *args],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return out.stdout


def test_engineer_views_show_live_data(fabric: FabricLab) -> None:
    """peers, routes, ip show, ipam show, /metrics (API and agent) and /ui on the live lab."""

    def in_sync() -> dict[str, object] | None:
        view = json.loads(_fabricctl(fabric, "routes", "--host", "h2", "--json"))
        ok = view["acked"] and not view["missing"] and not view["extra"] and view["routes"]
        return view if ok else None

    view = wait_for("h2's agent to report its routes in sync", in_sync, 30)
    assert {r["kind"] for r in view["routes"]} == {"workload"}  # type: ignore[attr-defined]
    assert "in sync" in _fabricctl(fabric, "routes", "--host", "h2")
    peers = json.loads(_fabricctl(fabric, "peers", "--state", "established", "--json"))
    assert {p["host"] for p in peers} == {"h1", "h2"}
    assert "2 established of 2" in _fabricctl(fabric, "peers")
    address = fabric.containers["c21"][1]
    trace = json.loads(_fabricctl(fabric, "ip", "show", address, "--json"))
    assert trace["announced_by"] == "h2" and trace["announced_as"] == f"{address}/32"
    assert trace["peers"] == [{"peer_address": "10.0.2.0", "state": "established", "sent": True}]
    usage = json.loads(_fabricctl(fabric, "ipam", "show", "--json"))
    assert usage[0]["allocated"] >= 4
    metrics = fabric.api.get("/metrics").text
    assert 'fabric_bgp_session_up{host="h1",peer="10.0.1.0"} 1.0' in metrics
    assert 'fabric_pool_addresses_allocated{pool="pods"}' in metrics
    assert "fabric_allocation_duration_seconds_count" in metrics
    scrape = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9479/metrics').read().decode())"
    agent = fabric.lab.run(fabric.hosts["h2"], sys.executable, "-c", scrape).stdout
    assert "fabric_agent_announced_prefixes_total" in agent
    assert (
        "fabric_agent_last_sync_age_seconds" in agent
        and "fabric_agent_exabgp_restarts_total" in agent
    )
    page = fabric.api.get("/ui").text
    assert 'id="host-h1"' in page and 'data-state="established"' in page


def _sessions_established(fabric: FabricLab, peer: str) -> int:
    data = fabric.lab.vtysh(fabric.tor, fabric.frr_run, f"show bgp neighbors {peer} json")
    return int(data[peer]["connectionsEstablished"])


def test_peer_set_change_reloads_without_dropping_the_session(fabric: FabricLab) -> None:
    """A peer added to and removed from h1: ExaBGP reloads; the ToR session never drops."""
    before = _sessions_established(fabric, "10.0.1.1")
    conf = fabric.state_dirs["h1"] / "exabgp.conf"
    agent_log = fabric.state_dirs["h1"] / "agent.log"
    extra = {"name": "h1-extra", "address": "10.0.1.9", "asn": TOR_ASN, "scope": "host"}
    fabric.api.post("/v1/peers", json={**extra, "host": "h1"}).raise_for_status()
    wait_for("h1's exabgp.conf to gain 10.0.1.9", lambda: "10.0.1.9" in conf.read_text(), 30)
    wait_for(
        "the agent to say it reloaded",
        lambda: agent_log.read_text().count("reloaded in place") >= 1,
        15,
    )
    fabric.api.delete("/v1/peers/h1-extra").raise_for_status()
    wait_for("h1's exabgp.conf to lose 10.0.1.9", lambda: "10.0.1.9" not in conf.read_text(), 30)
    wait_for("the second reload", lambda: agent_log.read_text().count("reloaded in place") >= 2, 15)
    time.sleep(3)  # a dropped session would show within one keepalive
    assert _session_up(fabric, "10.0.1.1")
    assert _sessions_established(fabric, "10.0.1.1") == before
    assert "restarting ExaBGP" not in agent_log.read_text()
    assert "10.100.0.0/26" in fabric.rib()


def test_exabgp_killed_restarts_without_losing_a_packet(fabric: FabricLab) -> None:
    pid = int((fabric.state_dirs["h1"] / "exabgp.child.pid").read_text())
    src_ns, _ = fabric.containers["c11"]
    _, dst = fabric.containers["c21"]
    ping = subprocess.Popen(
        ["ip", "netns", "exec", src_ns, "ping", "-i", "0.05", "-W", "1", "-w", "12", dst],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1)
        subprocess.run(["kill", "-9", str(pid)], check=True)
        new_pid = wait_for(
            "the agent to restart ExaBGP",
            lambda: (
                (p := int((fabric.state_dirs["h1"] / "exabgp.child.pid").read_text())) != pid and p
            ),
            30,
        )
        assert new_pid != pid
        wait_for("h1's session back up", lambda: _session_up(fabric, "10.0.1.1"), 30)
        out, _ = ping.communicate(timeout=30)
    finally:
        if ping.poll() is None:
            ping.kill()
    summary = next(line for line in out.splitlines() if "packets transmitted" in line)
    print(f"\nping across the ExaBGP restart: {summary}")
    sent, received = (int(summary.split()[i]) for i in (0, 3))
    assert sent > 100 and received == sent, summary
    assert fabric.rib().get("10.100.0.0/26") == ["10.0.1.1"]


def _session_up(fabric: FabricLab, peer: str) -> bool:
    data = fabric.lab.vtysh(fabric.tor, fabric.frr_run, "show bgp summary json")
    return bool(data["ipv4Unicast"]["peers"][peer]["state"] == "Established")


def test_api_down_keeps_every_route(fabric: FabricLab) -> None:
    before = fabric.rib()
    fabric.api_proc.terminate()
    fabric.api_proc.wait(10)
    time.sleep(10)
    assert fabric.rib() == before
    fabric.restart_api()
    fabric.allocate("h2", "after-outage")
    wait_for("changes flowing again", lambda: len(fabric.rib()) == len(before) + 1, 30)


RECONCILE_LINE = re.compile(
    r"adj-rib-out reconcile \d+: (\d+) announced, (\d+) missing, (\d+) extra"
)


def test_twenty_thousand_routes_reach_the_tor(fabric: FabricLab) -> None:
    """The ack trap: 20,000 /32s through one agent (rows written in bulk: this tests the agent)."""
    engine = create_engine(fabric.database_url)
    n = 20_000
    with engine.begin() as conn:
        host_id = conn.scalar(select(Host.id).where(Host.name == "h2"))
        pool_id = conn.scalar(select(Pool.id).where(Pool.name == "pods"))
        blocks = [
            {
                "pool_id": pool_id,
                "cidr": f"10.101.{i // 4}.{(i % 4) * 64}/26",
                "host_id": host_id,
                "allocated": 64,
            }
            for i in range(n // 64 + 1)
        ]
        conn.execute(
            text(
                "INSERT INTO pools (name, cidr, family, block_prefix, selector, reserved, strict_affinity, disabled, created_at) "
                "VALUES ('bulk', '10.101.0.0/16', 4, 26, '{}', '[]', 0, 0, CURRENT_TIMESTAMP)"
            )
        )
        bulk_pool = conn.scalar(select(Pool.id).where(Pool.name == "bulk"))
        for b in blocks:
            b["pool_id"] = bulk_pool
        conn.execute(insert(Block), blocks)
        ids = dict(
            conn.execute(select(Block.cidr, Block.id).where(Block.pool_id == bulk_pool))
            .tuples()
            .all()
        )
        rows = []
        for i in range(n):
            b = blocks[i // 64]
            base = b["cidr"].rsplit("/", 1)[0].rsplit(".", 1)
            rows.append(
                {
                    "address": f"{base[0]}.{int(base[1]) + i % 64}",
                    "family": 4,
                    "block_id": ids[b["cidr"]],
                    "host_id": host_id,
                    "handle": f"bulk-{i}",
                    "attributes": {},
                }
            )
        conn.execute(insert(Allocation), rows)
        conn.execute(
            text(
                "UPDATE blocks SET allocated = (SELECT count(*) FROM allocations a WHERE a.block_id = blocks.id) WHERE pool_id = :p"
            ),
            {"p": bulk_pool},
        )
        rev = conn.scalar(
            text("UPDATE fabric_state SET revision = revision + 1 RETURNING revision")
        )
        conn.execute(text("UPDATE hosts SET revision = :r WHERE id = :h"), {"r": rev, "h": host_id})
    engine.dispose()
    t0 = time.monotonic()

    def count() -> int | None:
        data = fabric.lab.vtysh(fabric.tor, fabric.frr_run, "show bgp summary json")
        got = int(data["ipv4Unicast"]["peers"]["10.0.2.1"]["pfxRcd"])
        return got if got >= n + 2 else None

    wait_for("20,000 routes at the ToR", count, 180, every=0.5)
    print(f"\n20,000 /32s from allocation rows to the ToR's RIB in {time.monotonic() - t0:.1f}s")
    assert _session_up(fabric, "10.0.2.1")

    # ExaBGP's adj-rib-out, read back through the process API, matches what we announced.
    log = fabric.state_dirs["h2"] / "injector.log"
    t1 = time.monotonic()

    def reconciled() -> tuple[int, int, int] | None:
        runs = RECONCILE_LINE.findall(log.read_text())
        done = [tuple(map(int, r)) for r in runs if int(r[0]) >= n]
        return done[-1] if done else None  # type: ignore[return-value]

    announced, missing, extra = wait_for("a reconcile over 20,000 routes", reconciled, 60)
    print(f"adj-rib-out reconcile over {announced} routes ended {time.monotonic() - t1:.1f}s later")
    assert (missing, extra) == (0, 0)


def _tor_config(fabric: FabricLab, *lines: str) -> None:
    commands = ["configure terminal", f"router bgp {TOR_ASN}", *lines]
    args = [arg for c in commands for arg in ("-c", c)]
    fabric.lab.run(fabric.tor, "vtysh", "--vty_socket", str(fabric.frr_run), *args)


def _state(fabric: FabricLab, peer: str) -> str:
    data = fabric.lab.vtysh(fabric.tor, fabric.frr_run, f"show bgp neighbors {peer} json")
    return str(data[peer]["bgpState"])


def test_md5_password_and_gtsm(fabric: FabricLab) -> None:
    """The password and TTL security the API holds reach ExaBGP; FRR with the same ones
    establishes, FRR with a wrong password never does."""
    peer, conf = "10.0.1.1", fabric.state_dirs["h1"] / "exabgp.conf"
    fabric.api.patch(
        "/v1/peers/tor-h1", json={"password": "s3cret-md5", "ttl_security": 1}
    ).raise_for_status()
    wait_for(
        "h1's exabgp.conf to carry the password", lambda: "md5-password" in conf.read_text(), 30
    )
    assert "s3cret-md5" not in (fabric.state_dirs["h1"] / "agent.log").read_text()
    _tor_config(
        fabric, f"neighbor {peer} password s3cret-md5", f"neighbor {peer} ttl-security hops 1"
    )
    wait_for("the session with MD5 and GTSM", lambda: _state(fabric, peer) == "Established", 60)
    _tor_config(fabric, f"neighbor {peer} password wrong-password")
    wait_for("the session to drop", lambda: _state(fabric, peer) != "Established", 30)
    time.sleep(12)  # more than the hold time and a few reconnect attempts
    assert _state(fabric, peer) != "Established", "a wrong MD5 password established"
    # Back to the lab's plain session for the tests that follow.
    fabric.api.patch("/v1/peers/tor-h1", json={"password": "", "ttl_security": 0})
    _tor_config(fabric, f"no neighbor {peer} password", f"no neighbor {peer} ttl-security hops 1")
    wait_for("the plain session again", lambda: _state(fabric, peer) == "Established", 60)


def test_status_leaves_established_when_the_tor_stops(fabric: FabricLab) -> None:
    fabric.lab.stop_daemon(fabric.frr_run, "bgpd")

    def down() -> bool:
        rows = fabric.api.get("/v1/peers/status").json()
        return all(r["state"] != "established" for r in rows)

    wait_for("every session to leave established", down, 40)
