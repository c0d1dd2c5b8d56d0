"""Pools, hosts, allocations and peers through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.api


def seed(client: TestClient) -> None:
    assert (
        client.post(
            "/v1/pools", json={"name": "v4", "cidr": "10.0.0.0/24", "block_size": 28}
        ).status_code
        == 201
    )
    assert client.post("/v1/pools", json={"name": "v6", "cidr": "fd00::/120"}).status_code == 201
    for i, rack in ((1, "r1"), (2, "r2")):
        body = {
            "name": f"h{i}",
            "address": f"192.0.2.{i}",
            "asn": 65000 + i,
            "labels": {"rack": rack},
        }
        assert client.post("/v1/hosts", json=body).status_code == 201


def test_pool_usage_by_host(client: TestClient) -> None:
    seed(client)
    for i in range(3):
        client.post("/v1/allocations", json={"host": "h1", "handle": f"a{i}"})
    client.post("/v1/allocations", json={"host": "h2", "handle": "b"})
    usage = client.get("/v1/pools/v4").json()
    assert (usage["total"], usage["allocated"], usage["free"]) == (256, 4, 252)
    assert usage["blocks_claimed"] == 2
    assert {h["host"]: h["allocated"] for h in usage["by_host"]} == {"h1": 3, "h2": 1}


def test_pool_disable_and_delete(client: TestClient) -> None:
    seed(client)
    client.post("/v1/allocations", json={"host": "h1", "handle": "a"})
    r = client.delete("/v1/pools/v4")
    assert (r.status_code, r.json()["code"]) == (409, "pool_in_use")
    assert client.patch("/v1/pools/v4", json={"disabled": True}).json()["disabled"] is True
    # h1 keeps using its block; h2 may neither claim nor borrow from a disabled pool.
    assert client.post("/v1/allocations", json={"host": "h1", "handle": "b"}).status_code == 201
    r = client.post("/v1/allocations", json={"host": "h2", "handle": "c"})
    assert (r.status_code, r.json()["code"]) == (409, "pool_exhausted")
    client.post("/v1/allocations/release", json={"handle": "a"})
    client.post("/v1/allocations/release", json={"handle": "b"})
    assert client.delete("/v1/pools/v4").status_code == 204
    assert client.get("/v1/pools/v4").json()["code"] == "pool_not_found"


def test_pool_selector_limits_claims(client: TestClient) -> None:
    seed(client)
    client.post(
        "/v1/pools", json={"name": "r2only", "cidr": "10.9.0.0/24", "selector": {"rack": "r2"}}
    )
    client.patch("/v1/pools/v4", json={"disabled": True})
    r = client.post("/v1/allocations", json={"host": "h1", "handle": "x"})
    assert (r.status_code, r.json()["code"]) == (409, "pool_exhausted")
    r = client.post("/v1/allocations", json={"host": "h2", "handle": "y"})
    assert r.json()["allocations"][0]["pool"] == "r2only"


def test_allocation_dual_stack_idempotent_and_owner(client: TestClient) -> None:
    seed(client)
    body = {
        "host": "h1",
        "handle": "ctr-1/eth0",
        "family": "dual",
        "attributes": {"namespace": "web"},
    }
    first = client.post("/v1/allocations", json=body)
    assert first.status_code == 201 and first.json()["created"] is True
    again = client.post("/v1/allocations", json=body)
    assert again.status_code == 200 and again.json()["created"] is False
    addrs = [a["address"] for a in first.json()["allocations"]]
    assert addrs == [a["address"] for a in again.json()["allocations"]]
    assert [a["family"] for a in first.json()["allocations"]] == [4, 6]
    owner = client.get(f"/v1/allocations/{addrs[1]}").json()
    assert (owner["host"], owner["handle"], owner["attributes"]) == (
        "h1",
        "ctr-1/eth0",
        {"namespace": "web"},
    )
    assert len(client.get("/v1/allocations", params={"host": "h1"}).json()) == 2
    assert len(client.get("/v1/allocations", params={"pool": "v6"}).json()) == 1
    released = client.post("/v1/allocations/release", json={"handle": "ctr-1/eth0"}).json()
    assert sorted(a["address"] for a in released["released"]) == sorted(addrs)
    assert client.post("/v1/allocations/release", json={"handle": "ctr-1/eth0"}).json() == {
        "released": []
    }
    assert client.get(f"/v1/allocations/{addrs[0]}").json()["code"] == "address_not_allocated"


def test_release_by_address(client: TestClient) -> None:
    seed(client)
    addr = client.post("/v1/allocations", json={"host": "h1", "handle": "a"}).json()["allocations"][
        0
    ]["address"]
    r = client.delete(f"/v1/allocations/{addr}", params={"handle": "not-a"})
    assert (r.status_code, r.json()["code"]) == (409, "handle_mismatch")
    assert client.delete(f"/v1/allocations/{addr}").json()["released"][0]["address"] == addr


def test_host_lifecycle(client: TestClient) -> None:
    seed(client)
    r = client.post("/v1/hosts", json={"name": "h1", "address": "192.0.2.9", "asn": 65009})
    assert (r.status_code, r.json()["code"]) == (409, "host_exists")
    r = client.post("/v1/hosts", json={"name": "h9", "address": "192.0.2.1", "asn": 65009})
    assert (r.status_code, r.json()["code"]) == (409, "host_address_in_use")
    updated = client.patch(
        "/v1/hosts/h1", json={"advertise_mode": "host-routes", "labels": {"rack": "r9"}}
    )
    assert updated.json()["advertise_mode"] == "host-routes"
    assert [h["name"] for h in client.get("/v1/hosts", params={"selector": "rack=r9"}).json()] == [
        "h1"
    ]
    client.post("/v1/allocations", json={"host": "h1", "handle": "a"})
    r = client.delete("/v1/hosts/h1")
    assert (r.status_code, r.json()["code"]) == (409, "host_has_allocations")
    assert client.delete("/v1/hosts/h1", params={"release": "true"}).json() == {"released": 1}
    assert client.get("/v1/hosts/h1").status_code == 404
    assert client.get("/v1/ipam/check").json()["ok"] is True


def test_deleted_hosts_blocks_keep_borrowed_addresses(client: TestClient) -> None:
    client.post("/v1/pools", json={"name": "tiny", "cidr": "10.0.0.0/30", "block_size": 30})
    client.post("/v1/hosts", json={"name": "a", "address": "192.0.2.1", "asn": 65001})
    client.post("/v1/hosts", json={"name": "b", "address": "192.0.2.2", "asn": 65002})
    client.post("/v1/allocations", json={"host": "a", "handle": "a1"})
    r = client.post("/v1/allocations", json={"host": "b", "handle": "b1"})
    assert r.json()["allocations"][0]["borrowed"] is True
    assert client.delete("/v1/hosts/a", params={"release": "true"}).status_code == 200
    # b's borrowed address survives; the orphaned block goes to the next host that asks.
    assert client.get("/v1/allocations/10.0.0.1").json()["host"] == "b"
    client.post("/v1/hosts", json={"name": "c", "address": "192.0.2.3", "asn": 65003})
    r = client.post("/v1/allocations", json={"host": "c", "handle": "c1"})
    assert r.json()["allocations"][0]["borrowed"] is False
    assert client.get("/v1/hosts/c/advertisements").json()["blocks"] == ["10.0.0.0/30"]
    assert client.get("/v1/ipam/check").json()["ok"] is True


def test_peers_scope_and_write_only_password(client: TestClient) -> None:
    seed(client)
    secret = "Sup3r-s3cret"
    r = client.post(
        "/v1/peers",
        json={"name": "spine", "address": "192.0.2.254", "asn": 65100, "password": secret},
    )
    assert r.status_code == 201 and r.json()["password_set"] is True and secret not in r.text
    r = client.post(
        "/v1/peers",
        json={
            "name": "tor-r1",
            "address": "192.0.2.253",
            "asn": 65201,
            "scope": "selector",
            "selector": {"rack": "r1"},
        },
    )
    assert r.status_code == 201
    r = client.post(
        "/v1/peers",
        json={
            "name": "h2-special",
            "address": "192.0.2.254",
            "asn": 65999,
            "scope": "host",
            "host": "h2",
            "hold_time": 9,
            "keepalive": 3,
        },
    )
    assert r.status_code == 201
    h1 = {p["name"] for p in client.get("/v1/hosts/h1/peers").json()}
    h2 = {p["name"]: p for p in client.get("/v1/hosts/h2/peers").json()}
    assert h1 == {"spine", "tor-r1"}
    assert set(h2) == {"h2-special"} and h2["h2-special"]["hold_time"] == 9  # host scope wins
    for path in ("/v1/peers", "/v1/peers/spine", "/v1/hosts/h1/peers"):
        assert secret not in client.get(path).text
    r = client.post(
        "/v1/peers",
        json={"name": "bad", "address": "192.0.2.1", "asn": 1, "password": "has space'"},
    )
    assert r.json()["code"] == "invalid_password" and "has space" not in r.text
    r = client.post(
        "/v1/peers",
        json={"name": "all", "address": "192.0.2.1", "asn": 1, "scope": "selector", "selector": {}},
    )
    assert r.json()["code"] == "invalid_selector"
    assert client.patch("/v1/peers/spine", json={"password": ""}).json()["password_set"] is False
    assert client.delete("/v1/peers/spine").status_code == 204


def test_a_hold_time_alone_brings_a_keepalive_of_a_third(client: TestClient) -> None:
    seed(client)
    peer = {"name": "tor", "address": "192.0.2.254", "asn": 65100}
    r = client.post("/v1/peers", json={**peer, "hold_time": 9})
    assert r.status_code == 201 and (r.json()["hold_time"], r.json()["keepalive"]) == (9, 3)
    r = client.patch("/v1/peers/tor", json={"hold_time": 30})
    assert (r.json()["hold_time"], r.json()["keepalive"]) == (30, 10)
    r = client.patch("/v1/peers/tor", json={"keepalive": 5})  # a keepalive alone stays as given
    assert (r.json()["hold_time"], r.json()["keepalive"]) == (30, 5)
    r = client.patch("/v1/peers/tor", json={"hold_time": 9, "keepalive": 4})
    assert r.status_code == 422 and r.json()["code"] == "invalid_timers"
    r = client.patch("/v1/peers/tor", json={"hold_time": 2})
    assert r.status_code == 422 and r.json()["code"] == "invalid_timers"
    assert "0 or 3-65535" in r.json()["detail"]
    assert client.get("/v1/peers/tor").json()["hold_time"] == 30  # nothing half-written


def test_peer_status_report_and_list(client: TestClient) -> None:
    seed(client)
    report = {
        "sessions": [
            {
                "peer_address": "192.0.2.254",
                "peer_asn": 65100,
                "state": "established",
                "prefixes_sent": 3,
            }
        ]
    }
    assert client.put("/v1/hosts/h1/peers/status", json=report).json() == {"sessions": 1}
    rows = client.get("/v1/peers/status").json()
    assert [(r["host"], r["rack"], r["state"], r["prefixes_sent"]) for r in rows] == [
        ("h1", "r1", "established", 3)
    ]
    bad = {"sessions": [{"peer_address": "192.0.2.254", "state": "dancing"}]}
    assert client.put("/v1/hosts/h1/peers/status", json=bad).status_code == 422
    assert client.put("/v1/hosts/nope/peers/status", json=report).json()["code"] == "host_not_found"


def _metric(client: TestClient, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_peer_status_is_intent_joined_with_reports(client: TestClient) -> None:
    """Every intended session appears (unknown until reported); a report from a session the
    controller does not intend appears too; a report three intervals old is stale."""
    seed(client)
    tor = {"name": "tor", "address": "192.0.2.254", "asn": 65100}
    assert client.post("/v1/peers", json=tor).status_code == 201
    up = {"peer_address": "192.0.2.254", "state": "established", "prefixes_sent": 3}
    old = {"peer_address": "192.0.2.99", "state": "active"}
    report = {"sessions": [up, old], "interval_seconds": 0.2}
    assert client.put("/v1/hosts/h1/peers/status", json=report).status_code == 200
    rows = {(r["host"], r["peer_address"]): r for r in client.get("/v1/peers/status").json()}
    assert set(rows) == {("h1", "192.0.2.254"), ("h1", "192.0.2.99"), ("h2", "192.0.2.254")}
    h1 = rows[("h1", "192.0.2.254")]
    assert (h1["peer"], h1["configured"], h1["established"], h1["stale"]) == ("tor", True, True, False)
    stray = rows[("h1", "192.0.2.99")]
    assert (stray["peer"], stray["configured"], stray["state"]) == (None, False, "active")
    never = rows[("h2", "192.0.2.254")]
    assert (never["state"], never["reported_at"], never["report_age_seconds"]) == ("unknown", None, None)
    assert (never["peer"], never["peer_asn"], never["established"]) == ("tor", 65100, False)
    assert _metric(client, "fabric_bgp_session_up", host="h1", peer="192.0.2.254") == 1.0
    assert _metric(client, "fabric_bgp_sessions", state="unknown") == 1.0
    assert _metric(client, "fabric_agent_report_age_seconds", host="h1") is not None
    assert _metric(client, "fabric_agent_report_age_seconds", host="h2") is None  # never reported
    time.sleep(0.7)  # three intervals of 0.2 s and then some: the agent has gone quiet
    h1 = next(r for r in client.get("/v1/peers/status?host=h1").json() if r["peer"] == "tor")
    assert (h1["state"], h1["stale"], h1["established"]) == ("established", True, False)
    assert _metric(client, "fabric_bgp_session_up", host="h1", peer="192.0.2.254") == 0.0
    assert _metric(client, "fabric_bgp_sessions", state="stale") == 2.0
    assert _metric(client, "fabric_bgp_sessions", state="established") is None
    assert client.put("/v1/hosts/h1/peers/status", json={**report, "interval_seconds": 0}).status_code == 422


def test_an_agent_that_peers_with_nobody_still_reports_its_age(client: TestClient) -> None:
    """An empty report is a live agent: its age is on /metrics and grows when it goes quiet,
    so an alert on the age sees a dead agent whether or not it had sessions."""
    seed(client)
    assert _metric(client, "fabric_agent_report_age_seconds", host="h1") is None  # never reported
    empty = {"sessions": [], "interval_seconds": 1}
    assert client.put("/v1/hosts/h1/peers/status", json=empty).status_code == 200
    first = _metric(client, "fabric_agent_report_age_seconds", host="h1")
    assert first is not None and first < 5
    assert client.get("/v1/peers/status?host=h1").json() == []
    time.sleep(0.3)
    assert _metric(client, "fabric_agent_report_age_seconds", host="h1") >= first + 0.2
    assert client.put("/v1/hosts/h1/peers/status", json=empty).status_code == 200
    assert _metric(client, "fabric_agent_report_age_seconds", host="h1") < first + 0.2
    assert _metric(client, "fabric_agent_report_age_seconds", host="h2") is None
    assert client.delete("/v1/hosts/h1").status_code == 200  # its report goes with it
    assert _metric(client, "fabric_agent_report_age_seconds", host="h1") is None
