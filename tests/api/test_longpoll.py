"""``/advertisements?since=R&wait=S``: held until this host's state changes, then answered."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.revisions import RevisionHub
from fabric.store.database import Database

pytestmark = pytest.mark.api


def seed(client: TestClient) -> int:
    client.post("/v1/pools", json={"name": "p", "cidr": "10.0.0.0/24", "block_size": 30})
    client.post(
        "/v1/hosts",
        json={"name": "h1", "address": "192.0.2.1", "asn": 65001, "advertise_mode": "host-routes"},
    )
    client.post("/v1/hosts", json={"name": "h2", "address": "192.0.2.2", "asn": 65002})
    return int(client.get("/v1/hosts/h1/advertisements").json()["revision"])


def poll_in_thread(client: TestClient, host: str, since: int, wait: float) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def run() -> None:
        start = time.monotonic()
        result["body"] = client.get(
            f"/v1/hosts/{host}/advertisements", params={"since": since, "wait": wait}
        ).json()
        result["elapsed"] = time.monotonic() - start

    result["thread"] = threading.Thread(target=run)
    result["thread"].start()
    return result


def test_long_poll_wakes_on_own_change_only(client: TestClient) -> None:
    rev = seed(client)
    h1 = poll_in_thread(client, "h1", rev, 10)
    time.sleep(0.3)
    # A change to h2 must not wake h1's poll...
    client.post("/v1/allocations", json={"host": "h2", "handle": "other"})
    time.sleep(0.5)
    assert h1["thread"].is_alive()
    # ...a change to h1 does, at once.
    t0 = time.monotonic()
    client.post("/v1/allocations", json={"host": "h1", "handle": "mine"})
    h1["thread"].join(5)
    assert not h1["thread"].is_alive()
    assert time.monotonic() - t0 < 1.0
    body = h1["body"]
    assert body["revision"] > rev and body["host_revision"] > rev
    assert [a["prefix"] for a in body["advertisements"]] == ["10.0.0.4/32"]


def test_commits_with_nobody_waiting_leave_the_next_poll_right(client: TestClient) -> None:
    # With no long-poll held, a commit only moves the hub's revision on (no refresh read):
    # a poll that starts afterwards must still be held, and woken by the next change.
    seed(client)
    for handle in ("a", "b", "c"):
        client.post("/v1/allocations", json={"host": "h1", "handle": handle})
    now = int(client.get("/v1/hosts/h1/advertisements").json()["revision"])
    h1 = poll_in_thread(client, "h1", now, 10)
    time.sleep(0.3)
    assert h1["thread"].is_alive()
    client.post("/v1/allocations", json={"host": "h1", "handle": "d"})
    h1["thread"].join(5)
    assert not h1["thread"].is_alive()
    assert h1["elapsed"] < 5
    assert len(h1["body"]["advertisements"]) == 4


def test_waiters_of_one_host_time_out_alone(client: TestClient) -> None:
    # Waiters of a host share the hub's answer; one giving up must not cancel it for the rest.
    rev = seed(client)
    short = poll_in_thread(client, "h1", rev, 0.3)
    long = poll_in_thread(client, "h1", rev, 10)
    short["thread"].join(5)
    assert short["body"]["revision"] == rev
    got = client.post("/v1/allocations", json={"host": "h1", "handle": "mine"})
    address = got.json()["allocations"][0]["address"]
    long["thread"].join(5)
    assert not long["thread"].is_alive() and long["elapsed"] < 5
    assert [a["prefix"] for a in long["body"]["advertisements"]] == [f"{address}/32"]


def test_one_global_change_answers_every_host_with_its_own_state(client: TestClient) -> None:
    seed(client)
    addresses = {}
    for i in range(3, 13):
        client.post(
            "/v1/hosts",
            json={"name": f"h{i}", "address": f"192.0.2.{i}", "asn": 65000 + i,
                  "advertise_mode": "host-routes"},
        )  # fmt: skip
        got = client.post("/v1/allocations", json={"host": f"h{i}", "handle": f"c{i}"})
        addresses[i] = got.json()["allocations"][0]["address"]
    rev = int(client.get("/v1/hosts/h1/advertisements").json()["revision"])
    polls = {i: poll_in_thread(client, f"h{i}", rev, 10) for i in range(3, 13)}
    time.sleep(0.5)
    assert all(p["thread"].is_alive() for p in polls.values())
    client.post("/v1/peers", json={"name": "tor", "address": "192.0.2.254", "asn": 65100})
    for i, poll in polls.items():
        poll["thread"].join(5)
        body = poll["body"]
        assert body["host"] == f"h{i}" and body["revision"] > rev
        assert [a["prefix"] for a in body["advertisements"]] == [f"{addresses[i]}/32"]


def test_long_poll_times_out_with_current_state(client: TestClient) -> None:
    rev = seed(client)
    result = poll_in_thread(client, "h1", rev, 0.5)
    result["thread"].join(5)
    assert 0.4 < result["elapsed"] < 3
    assert result["body"]["revision"] == rev


def test_stale_since_answers_at_once(client: TestClient) -> None:
    seed(client)
    client.post("/v1/allocations", json={"host": "h1", "handle": "a"})
    result = poll_in_thread(client, "h1", 0, 10)
    result["thread"].join(5)
    assert result["elapsed"] < 2 and result["body"]["advertisements"]


def test_a_notify_wakes_the_refresher_only_with_news(sqlite_url: str) -> None:
    """PostgreSQL NOTIFYs every commit, this replica's own too: one at or below the revision
    the hub has seen is nothing new (pure logic; waking across replicas: test_replicas)."""
    hub = RevisionHub(Database(sqlite_url), 1.0)
    hub.revision = 10
    assert [hub._is_news(p) for p in ("9", "10", "11", "", "x")] == [False, False, True, True, True]
