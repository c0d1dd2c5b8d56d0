"""Containers put on the fabric by the CNI plugins, called exactly as a runtime calls them.

The rack lab (FRR ToR, h1 in aggregate mode, h2 announcing /32s), containers made by:
(a) fabric-cni + fabric-ipam on h1 and h2, (b) Debian's reference ptp + fabric-ipam on h2,
(c) fabric-cni + the reference host-local on h1 (a range reserved in the pool, inside h1's
block, so h1's aggregate covers it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgp.cni.links import host_ifname
from fabric.lab.netns import kill_pid, wait_for
from fabric.lab.runtime import SYSTEM_PLUGINS, CniFailure, Runtime, conflist, fabric_ipam
from tests.lab.conftest import NETWORK, TOR_ASN, FabricLab, _healthy, handle_of

STATIC_RANGE = ("10.100.0.49", "10.100.0.62")  # host-local's, in h1's first block


@pytest.fixture(scope="module")
def cni(fabric_lab: FabricLab) -> Iterator[FabricLab]:
    api = fabric_lab.api
    pool = {"name": "pods", "cidr": "10.100.0.0/16", "reserved": ["10.100.0.48/28"]}
    api.post("/v1/pools", json=pool).raise_for_status()
    for host, (i, asn) in {"h1": (1, 65001), "h2": (2, 65002)}.items():
        mode = "aggregate" if host == "h1" else "host-routes"
        api.post("/v1/hosts", json={"name": host, "address": f"10.0.{i}.1", "asn": asn,
                                    "advertise_mode": mode}).raise_for_status()  # fmt: skip
        api.post("/v1/peers", json={"name": f"tor-{host}", "address": f"10.0.{i}.0",
                                    "asn": TOR_ASN, "scope": "host", "host": host,
                                    "hold_time": 9, "keepalive": 3,
                                    "graceful_restart": 120}).raise_for_status()  # fmt: skip
        fabric_lab.start_agent(host)
    fabric_lab.container("h1", "a1")
    fabric_lab.container("h2", "a2")
    fabric_lab.container("h2", "b2", ptp(fabric_lab))
    fabric_lab.container("h1", "c1", host_local(fabric_lab))
    yield fabric_lab


def ptp(fabric: FabricLab) -> Runtime:
    """Debian's reference ptp (CNI 1.0.0 at most) delegating IPAM to fabric-ipam."""
    if "h2/ptp" not in fabric.runtimes:
        ipam = fabric_ipam(fabric.api_url, fabric.orchestrator_token(), "h2")
        network = conflist(NETWORK, ipam, main="ptp", version="1.0.0")
        fabric.runtimes["h2/ptp"] = fabric.runtime("h2", network)
    return fabric.runtimes["h2/ptp"]


def host_local(fabric: FabricLab) -> Runtime:
    ranges = [[{"subnet": "10.100.0.0/26", "rangeStart": STATIC_RANGE[0],
                "rangeEnd": STATIC_RANGE[1]}]]  # fmt: skip
    ipam = {"type": "host-local", "ranges": ranges, "dataDir": str(fabric.tmp / "host-local")}
    network = conflist("static", ipam, version="1.0.0")
    return fabric.runtimes.setdefault("h1/static", fabric.runtime("h1", network))


def links_of(fabric: FabricLab, host: str) -> str:
    return fabric.lab.run(fabric.hosts[host], "ip", "-o", "link", "show").stdout


def allocation(fabric: FabricLab, address: str) -> dict[str, Any] | None:
    r = fabric.api.get(f"/v1/allocations/{address}")
    return None if r.status_code == 404 else r.json()


def test_containers_are_announced_and_reach_each_other(cni: FabricLab) -> None:
    a2, b2 = cni.containers["a2"][1], cni.containers["b2"][1]
    assert STATIC_RANGE[0] <= cni.containers["c1"][1] <= STATIC_RANGE[1]
    want = {"10.100.0.0/26": ["10.0.1.1"], f"{a2}/32": ["10.0.2.1"], f"{b2}/32": ["10.0.2.1"]}
    wait_for("the ToR's RIB to hold h1's block and h2's containers",
             lambda: all(cni.rib().get(p) == nh for p, nh in want.items()), 60)  # fmt: skip
    wait_for("them in the ToR's FIB", lambda: {p.removesuffix("/32") for p in want} <= cni.fib())
    owner = allocation(cni, a2)
    assert owner is not None and owner["handle"] == handle_of("a2") and owner["host"] == "h2"
    assert owner["attributes"]["network"] == NETWORK
    failed = [
        (src, dst)
        for src in cni.containers
        for dst, (_, address) in cni.containers.items()
        if src != dst and not cni.ping(src, address, count=3)
    ]
    assert failed == []


def test_check_passes_and_finds_what_changed(cni: FabricLab) -> None:
    cni.runtime("h1").check("a1", f"/run/netns/{cni.containers['a1'][0]}")
    ptp(cni).check("b2", f"/run/netns/{cni.containers['b2'][0]}")
    ns = cni.containers["a1"][0]
    cni.lab.run(ns, "ip", "route", "del", "default")
    try:
        with pytest.raises(CniFailure) as failure:
            cni.runtime("h1").check("a1", f"/run/netns/{ns}")
        assert failure.value.code == 105 and "default route" in failure.value.answer["msg"]
    finally:
        cni.lab.run(ns, "ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0",
                    "onlink")  # fmt: skip


def test_a_retried_add_gets_the_same_address(cni: FabricLab) -> None:
    before = cni.containers["a2"][1]
    assert cni.container("h2", "a2") == before
    assert cni.ping("a1", before, count=3)


def test_delete_withdraws_frees_and_can_be_repeated(cni: FabricLab) -> None:
    address = cni.container("h2", "d2")
    wait_for("d2 at the ToR", lambda: f"{address}/32" in cni.rib(), 30)
    ns = cni.containers.pop("d2")[0]
    runtime = cni.runtime("h2")
    runtime.delete("d2", f"/run/netns/{ns}")
    wait_for("d2's /32 to leave the ToR", lambda: f"{address}/32" not in cni.rib(), 15)
    assert allocation(cni, address) is None
    assert host_ifname("d2", "eth0") not in links_of(cni, "h2")
    runtime.delete("d2", f"/run/netns/{ns}")  # again: still a success
    cni.lab.run(ns, "ip", "link", "show", "lo")  # the namespace itself stays the runtime's


def with_ipam(runtime: Runtime, **extra: Any) -> Runtime:
    """The same network with more keys in its IPAM section."""
    plugins = [{**p, "ipam": {**p["ipam"], **extra}} for p in runtime.network["plugins"]]
    return Runtime({**runtime.network, "plugins": plugins}, runtime.host_ns)


def test_gc_releases_exactly_the_attachments_not_listed(cni: FabricLab) -> None:
    for name in ("g1", "g2", "g3"):
        cni.container("h1", name)
    kept_by_others = cni.allocate("h1", "not-a-cni-handle")
    runtime = cni.runtime("h1")
    valid = [("a1", "eth0"), ("g1", "eth0")]
    with_ipam(runtime, gc_grace_seconds=3600).gc(valid)  # all younger than that: none goes
    assert all(allocation(cni, cni.containers[g][1]) for g in ("g1", "g2", "g3"))
    time.sleep(1.2)
    with_ipam(runtime, gc_grace_seconds=1).gc(valid)
    gone = {g for g in ("g1", "g2", "g3", "a1") if allocation(cni, cni.containers[g][1]) is None}
    assert gone == {"g2", "g3"}
    assert allocation(cni, kept_by_others) is not None  # not this network's: left alone
    for name in ("g2", "g3"):
        ns = cni.containers.pop(name)[0]
        runtime.delete(name, f"/run/netns/{ns}")


def test_status_says_whether_an_add_can_be_served(cni: FabricLab) -> None:
    wait_for("h1's session reported established", lambda: any(
        r["state"] == "established" for r in cni.api.get("/v1/peers/status?host=h1").json()), 30)
    runtime = cni.runtime("h1")
    runtime.status()
    with pytest.raises(CniFailure) as failure:  # no IPv6 pool at all
        with_ipam(runtime, family="6").status()
    assert failure.value.code == 50 and "IPv6" in failure.value.answer["msg"]
    with pytest.raises(CniFailure) as failure:
        with_ipam(runtime, host="h9").status()
    assert failure.value.code == 50 and "h9" in failure.value.answer["msg"]
    # A host whose speaker reports no session: its containers would not be announced.
    cni.api.post("/v1/hosts", json={"name": "h3", "address": "10.0.3.1", "asn": 65003}
                 ).raise_for_status()  # fmt: skip
    with pytest.raises(CniFailure) as failure:
        with_ipam(runtime, host="h3").status()
    assert failure.value.code == 51


def test_errors_are_the_specs_documents(cni: FabricLab, tmp_path: Path) -> None:
    loose = tmp_path / "token"
    loose.write_text("rft_whatever")
    loose.chmod(0o644)
    bad = conflist(NETWORK, fabric_ipam(cni.api_url, loose, "h1"))
    ns = cni.lab.ns("e1")
    with pytest.raises(CniFailure) as failure:
        cni.runtime("h1", bad).add("e1", f"/run/netns/{ns}")
    assert failure.value.code == 7 and "chmod 600" in failure.value.answer["msg"]
    assert set(failure.value.answer) <= {"cniVersion", "code", "msg", "details"}
    with pytest.raises(CniFailure) as failure:  # no such namespace: 3, nothing allocated
        cni.runtime("h1").add("e2", "/run/netns/does-not-exist")
    assert failure.value.code == 3
    assert cni.api.get("/v1/allocations", params={"handle": handle_of("e2")}).json() == []
    with pytest.raises(CniFailure) as failure:
        with_ipam(cni.runtime("h1"), host="h9").add("e3", f"/run/netns/{ns}")
    assert failure.value.code == 103 and host_ifname("e3", "eth0") not in links_of(cni, "h1")


def test_the_api_down_means_try_again_and_nothing_half_done(cni: FabricLab) -> None:
    """Last in the module: it stops the lab's API for a while."""
    runtime = cni.runtime("h1")
    victim_ns, victim = cni.containers["g1"]
    new_ns = cni.lab.ns("late")
    kill_pid(cni.api_proc.pid)
    cni.api_proc.wait(10)
    try:
        with pytest.raises(CniFailure) as failure:
            runtime.add("late", f"/run/netns/{new_ns}")
        assert failure.value.code == 11
        assert host_ifname("late", "eth0") not in links_of(cni, "h1")  # no veth left behind
        with pytest.raises(CniFailure) as failure:
            runtime.delete("g1", f"/run/netns/{victim_ns}")
        assert failure.value.code == 11  # never a false success
    finally:
        cni.api_proc = cni.lab.spawn(cni.tor, *cni.api_cmd)
        wait_for("the API back", lambda: _healthy(cni.api, cni.api_sock), 30)
    assert cni.api.get("/v1/allocations", params={"handle": handle_of("late")}).json() == []
    assert allocation(cni, victim) is not None  # the failed DEL released nothing
    runtime.delete("g1", f"/run/netns/{victim_ns}")  # the runtime's retry finishes it
    assert allocation(cni, victim) is None
    address = runtime.add("late", f"/run/netns/{new_ns}")["ips"][0]["address"].split("/")[0]
    assert allocation(cni, address)["handle"] == handle_of("late")  # type: ignore[index]
    assert cni.api.get("/v1/ipam/check").json()["ok"] is True
    assert SYSTEM_PLUGINS.exists()
