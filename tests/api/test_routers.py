"""/v1/routers: fabric routers, their neighbours, their rendered configuration."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi.testclient import TestClient

LEAF = {
    "name": "leaf1",
    "role": "leaf",
    "asn": 65101,
    "router_id": "10.255.1.1",
    "interfaces": [{"name": "eth3", "address": "10.1.1.0/31"}],
}


def test_router_lifecycle_and_config(client: TestClient) -> None:
    assert client.post("/v1/routers", json=LEAF).status_code == 201
    again = client.post("/v1/routers", json=LEAF)
    assert again.status_code == 409 and again.json()["code"] == "router_exists"
    client.post("/v1/hosts", json={"name": "h1", "address": "10.1.1.1", "asn": 65001})
    client.post(
        "/v1/peers",
        json={"name": "p1", "address": "10.1.1.0", "asn": 65101, "scope": "host", "host": "h1",
              "password": "hunter2"},
    )  # fmt: skip
    body = client.get("/v1/routers/leaf1").json()
    assert body["neighbors"] == [
        {"address": "10.1.1.1", "asn": 65001, "kind": "host", "name": "h1", "interface": "eth3",
         "password_set": True, "families": [4]}
    ]  # fmt: skip
    assert "hunter2" not in client.get("/v1/routers").text
    config = client.get("/v1/routers/leaf1/config", params={"format": "frr"})
    assert config.headers["content-type"].startswith("text/plain")
    assert "router bgp 65101" in config.text and "neighbor 10.1.1.1 password hunter2" in config.text
    assert client.delete("/v1/routers/leaf1").status_code == 204
    missing = client.get("/v1/routers/leaf1/config")
    assert missing.status_code == 404 and missing.json()["code"] == "router_not_found"


def test_bad_router_gets_a_clear_4xx(client: TestClient) -> None:
    bad_role = client.post("/v1/routers", json={**LEAF, "role": "core"})
    assert bad_role.status_code == 422
    bad_format = client.get("/v1/routers/leaf1/config", params={"format": "junos"})
    assert bad_format.status_code == 422
    bad_iface = client.post(
        "/v1/routers", json={**LEAF, "interfaces": [{"name": "eth1", "address": "nope/31"}]}
    )
    assert bad_iface.status_code == 422 and bad_iface.json()["code"] == "invalid_interfaces"


def _seed_leaf(client: TestClient) -> None:
    client.post("/v1/pools", json={"name": "p", "cidr": "10.244.0.0/24", "block_size": 28})
    assert client.post("/v1/routers", json=LEAF).status_code == 201
    client.post("/v1/hosts", json={"name": "h1", "address": "10.1.1.1", "asn": 65001})
    client.post("/v1/peers", json={"name": "p1", "address": "10.1.1.0", "asn": 65101,
                                   "scope": "host", "host": "h1"})  # fmt: skip


def test_config_long_poll_answers_when_the_rendering_changes(client: TestClient) -> None:
    """tor-sync's long-poll: held while the rendering is the one it has (an allocation inside a
    block the host holds changes nothing for the ToR), answered once a new block is claimed."""
    _seed_leaf(client)
    client.post("/v1/allocations", json={"host": "h1", "handle": "a0"})
    first = client.get("/v1/routers/leaf1/config")
    digest = first.headers["X-Fabric-Config-Digest"]
    assert first.headers["ETag"] == f'"{digest}"' and len(digest) == 64
    got: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        got["answer"] = client.get("/v1/routers/leaf1/config", params={"digest": digest, "wait": 10})
        got["elapsed"] = time.monotonic() - started

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.3)
    client.post("/v1/allocations", json={"host": "h1", "handle": "a1"})  # same block
    time.sleep(0.5)
    assert waiter.is_alive()  # woken, rendered the same, held again
    for i in range(2, 20):  # past the first /28: a second block, a new prefix-list entry
        client.post("/v1/allocations", json={"host": "h1", "handle": f"a{i}"})
    waiter.join(5)
    assert not waiter.is_alive()
    answer = got["answer"]
    assert answer.status_code == 200
    assert answer.headers["X-Fabric-Config-Digest"] != digest and "10.244.0.16/28" in answer.text
    assert int(answer.headers["X-Fabric-Revision"]) > int(first.headers["X-Fabric-Revision"])
    timed_out = client.get("/v1/routers/leaf1/config", params={
        "digest": answer.headers["X-Fabric-Config-Digest"], "wait": 0.3})  # fmt: skip
    assert timed_out.headers["X-Fabric-Config-Digest"] == answer.headers["X-Fabric-Config-Digest"]


def test_applied_reports_say_in_sync_or_behind(client: TestClient) -> None:
    _seed_leaf(client)
    config = client.get("/v1/routers/leaf1/config")
    report = {"format": "frr", "filters": True, "revision": int(config.headers["X-Fabric-Revision"]),
              "digest": config.headers["X-Fabric-Config-Digest"]}  # fmt: skip
    assert client.get("/v1/routers/leaf1").json()["config"] is None
    state = client.put("/v1/routers/leaf1/applied", json=report).json()["config"]
    assert state["in_sync"] and state["applied_digest"] == report["digest"] and state["error"] is None
    assert "fabric_router_config_in_sync{router=\"leaf1\"} 1.0" in client.get("/metrics").text
    for i in range(20):  # a second block: the router is now behind
        client.post("/v1/allocations", json={"host": "h1", "handle": f"b{i}"})
    state = client.get("/v1/routers/leaf1").json()["config"]
    assert not state["in_sync"] and state["desired_digest"] != report["digest"]
    assert "fabric_router_config_in_sync{router=\"leaf1\"} 0.0" in client.get("/metrics").text
    refused = {**report, "digest": "f" * 64, "error": "frr-reload.py failed (1): boom"}
    state = client.put("/v1/routers/leaf1/applied", json=refused).json()["config"]
    assert state["error"].startswith("frr-reload.py failed") and state["applied_digest"] == report["digest"]
    bad = client.put("/v1/routers/leaf1/applied", json={**report, "digest": "xyz"})
    assert bad.status_code == 422
    assert client.put("/v1/routers/nope/applied", json=report).json()["code"] == "router_not_found"


def test_a_peer_bfd_profile_reaches_the_host_speaker_and_the_tor(client: TestClient) -> None:
    _seed_leaf(client)
    assert client.get("/v1/peers/p1").json()["bfd"] is None
    r = client.patch("/v1/peers/p1", json={"bfd": {"detect_multiplier": 3, "receive_ms": 300}})
    assert r.status_code == 200, r.text
    assert r.json()["bfd"] == {"detect_multiplier": 3, "receive_ms": 300, "transmit_ms": 300}
    speaker = client.get("/v1/hosts/h1/speaker").json()["peers"][0]
    assert (speaker["bfd_multiplier"], speaker["bfd_receive_ms"], speaker["bfd_transmit_ms"]) == (3, 300, 300)
    frr_conf = client.get("/v1/routers/leaf1/config").text
    assert " profile host-h1\n  detect-multiplier 3\n  receive-interval 300" in frr_conf
    assert " neighbor 10.1.1.1 bfd profile host-h1" in frr_conf
    bird_conf = client.get("/v1/routers/leaf1/config", params={"format": "bird"}).text
    assert "  bfd on;" in bird_conf and 'interface "eth3"' in bird_conf and "multiplier 3;" in bird_conf
    assert client.patch("/v1/peers/p1", json={"hold_time": 30}).json()["bfd"] is not None  # kept
    off = client.patch("/v1/peers/p1", json={"bfd": None}).json()
    assert off["bfd"] is None and "bfd" not in client.get("/v1/routers/leaf1/config").text
    for bad in ({"detect_multiplier": 1}, {"receive_ms": 5}, {"transmit_ms": 60001}):
        r = client.patch("/v1/peers/p1", json={"bfd": bad})
        assert r.status_code == 422, (bad, r.text)
    assert client.get("/v1/peers/p1").json()["bfd"] is None  # nothing half-written


def test_the_ip_trace_says_whether_the_tor_accepted_the_prefix(client: TestClient) -> None:
    _seed_leaf(client)
    address = client.post("/v1/allocations", json={"host": "h1", "handle": "web"}).json()[
        "allocations"][0]["address"]  # fmt: skip
    client.put("/v1/hosts/h1/routes", json={"announced": {"10.244.0.0/28": "2026-12-03T19:00:00+00:00"},
                                             "acked": True}).raise_for_status()  # fmt: skip
    assert client.get(f"/v1/ips/{address}").json()["accepted_by"] == []  # nobody can tell yet
    config = client.get("/v1/routers/leaf1/config")
    report = {"format": "frr", "filters": True, "revision": int(config.headers["X-Fabric-Revision"]),
              "digest": config.headers["X-Fabric-Config-Digest"],
              "accepted": {"10.1.1.1": ["10.99.0.0/24"]}}  # fmt: skip
    client.put("/v1/routers/leaf1/applied", json=report).raise_for_status()
    [seen] = client.get(f"/v1/ips/{address}").json()["accepted_by"]
    assert (seen["router"], seen["accepted"]) == ("leaf1", False)  # sent, but filtered out
    report["accepted"] = {"10.1.1.1": ["10.244.0.0/28"]}
    client.put("/v1/routers/leaf1/applied", json=report).raise_for_status()
    [seen] = client.get(f"/v1/ips/{address}").json()["accepted_by"]
    assert seen["accepted"] is True and seen["as_of"] is not None
    bad = client.put("/v1/routers/leaf1/applied", json={**report, "accepted": {"not-an-ip": []}})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_address"
