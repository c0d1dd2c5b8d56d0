"""``/v1/ipam/check`` finds real inconsistencies; ``/v1/ipam/gc`` respects the grace period."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.main import create_app
from tests.api.conftest import make_settings
from tests.harness.servers import ADMIN

pytestmark = pytest.mark.api


def seed(client: TestClient) -> None:
    client.post("/v1/pools", json={"name": "p", "cidr": "10.0.0.0/24"})
    client.post("/v1/hosts", json={"name": "h1", "address": "192.0.2.1", "asn": 65001})
    client.post("/v1/hosts", json={"name": "h2", "address": "192.0.2.2", "asn": 65002})


def test_check_reports_each_kind_of_damage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    with TestClient(create_app(make_settings(url)), headers=ADMIN) as client:
        seed(client)
        for i in range(3):
            client.post("/v1/allocations", json={"host": "h1", "handle": f"a{i}"})
        client.post("/v1/allocations", json={"host": "h2", "handle": "b"})
        assert client.get("/v1/ipam/check").json()["ok"] is True
        # Damage the database behind the API's back, as a bad restore or hand edit would.
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            conn.execute(text("UPDATE allocations SET handle = 'a0' WHERE handle = 'a1'"))
            conn.execute(
                text(
                    "UPDATE blocks SET allocated = allocated + 5 WHERE host_id = (SELECT id FROM hosts WHERE name='h1')"
                )
            )
            conn.execute(text("DELETE FROM hosts WHERE name = 'h2'"))
        engine.dispose()
        report = client.get("/v1/ipam/check").json()
    assert report["ok"] is False
    assert [a["handle"] for a in report["allocations_without_host"]] == ["b"]
    assert len(report["blocks_of_missing_hosts"]) == 1
    assert report["handles_with_several_addresses"][0]["handle"] == "a0"
    assert report["counter_mismatches"] == [{"block": "10.0.0.0/26", "counter": 8, "rows": 3}]


def test_gc_releases_only_unknown_handles_past_grace(client: TestClient) -> None:
    seed(client)
    for handle in ("keep", "stale"):
        client.post("/v1/allocations", json={"host": "h1", "handle": handle})
    body = {"host": "h1", "handles": ["keep"], "grace_seconds": 3600}
    assert client.post("/v1/ipam/gc", json=body).json()["released"] == []
    time.sleep(0.05)
    dry = client.post("/v1/ipam/gc", json={**body, "grace_seconds": 0, "dry_run": True}).json()
    assert [a["handle"] for a in dry["released"]] == ["stale"]
    assert len(client.get("/v1/allocations", params={"host": "h1"}).json()) == 2
    done = client.post("/v1/ipam/gc", json={**body, "grace_seconds": 0}).json()
    assert [a["handle"] for a in done["released"]] == ["stale"]
    assert [a["handle"] for a in client.get("/v1/allocations").json()] == ["keep"]


def test_gc_grace_never_below_the_server_minimum(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    with TestClient(
        create_app(make_settings(url, gc_min_grace_seconds=600)), headers=ADMIN
    ) as client:
        seed(client)
        client.post("/v1/allocations", json={"host": "h1", "handle": "young"})
        result = client.post(
            "/v1/ipam/gc", json={"host": "h1", "handles": [], "grace_seconds": 0}
        ).json()
    assert result["grace_seconds"] == 600 and result["released"] == []


def test_gc_with_a_handle_prefix_leaves_other_handles_alone(client: TestClient) -> None:
    """A CNI network collects its own attachments only (``<network>/…``)."""
    seed(client)
    for handle in ("net/a/eth0", "net/b/eth0", "other/c/eth0", "by-hand"):
        client.post("/v1/allocations", json={"host": "h1", "handle": handle})
    time.sleep(0.05)
    body = {"host": "h1", "handles": ["net/a/eth0"], "grace_seconds": 0, "handle_prefix": "net/"}
    done = client.post("/v1/ipam/gc", json=body).json()
    assert [a["handle"] for a in done["released"]] == ["net/b/eth0"]
    left = {a["handle"] for a in client.get("/v1/allocations").json()}
    assert left == {"net/a/eth0", "other/c/eth0", "by-hand"}
    bad = client.post("/v1/ipam/gc", json={**body, "handle_prefix": ""})
    assert bad.status_code == 422


def test_an_allocation_can_be_held_to_named_pools(client: TestClient) -> None:
    seed(client)
    client.post("/v1/pools", json={"name": "q", "cidr": "10.9.0.0/24"})
    got = client.post("/v1/allocations", json={"host": "h1", "handle": "x", "pools": ["q"]})
    assert got.status_code == 201 and got.json()["allocations"][0]["pool"] == "q"
    again = client.post("/v1/allocations", json={"host": "h1", "handle": "y", "pools": ["p"]})
    assert again.json()["allocations"][0]["pool"] == "p"  # not q's block, which has room
    # Idempotent per handle, wherever the address is.
    same = client.post("/v1/allocations", json={"host": "h1", "handle": "x", "pools": ["p"]})
    assert same.status_code == 200 and same.json()["allocations"][0]["pool"] == "q"
    unknown = client.post("/v1/allocations", json={"host": "h1", "handle": "w", "pools": ["nope"]})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_pool"
    assert client.get("/v1/allocations", params={"handle": "w"}).json() == []
    six = client.post("/v1/allocations",
                      json={"host": "h1", "handle": "v", "family": "6", "pools": ["q"]})  # fmt: skip
    assert six.status_code == 409 and six.json()["code"] == "pool_exhausted"
