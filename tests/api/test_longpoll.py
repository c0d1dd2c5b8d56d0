"""``/advertisements?since=R&wait=S``: held until this host's state changes, then answered."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

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
