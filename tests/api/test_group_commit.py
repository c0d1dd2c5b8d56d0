"""Allocations queued behind a write share the next transaction, each with its own outcome."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api import group_commit
from api.group_commit import GroupCommit
from api.revisions import RevisionHub
from fabric.store.database import Database

pytestmark = pytest.mark.api


def seed(client: TestClient) -> None:
    client.post("/v1/pools", json={"name": "p", "cidr": "10.0.0.0/24", "block_size": 28})
    client.post("/v1/hosts", json={"name": "h1", "address": "192.0.2.1", "asn": 65001})
    client.post("/v1/hosts", json={"name": "h2", "address": "192.0.2.2", "asn": 65002})


def queued_behind_a_writer(
    client: TestClient, bodies: list[dict[str, Any]], path: str = "/v1/allocations"
) -> list[Any]:
    """POST every body (``path`` in a body overrides the path) while another writer holds the
    gate, in this order, then let them go."""
    app: Any = client.app
    gate, commit = app.state.write_gate, app.state.group_commit
    assert isinstance(commit, GroupCommit)
    assert client.portal is not None
    client.portal.call(gate.acquire)  # a writer is busy
    answers: list[Any] = [None] * len(bodies)

    def post(i: int) -> None:
        body = dict(bodies[i])
        answers[i] = client.post(body.pop("path", path), json=body)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for i, t in enumerate(threads):  # one at a time: the queue keeps the order of the bodies
        t.start()
        deadline = time.monotonic() + 10
        while len(commit._queue) <= i and time.monotonic() < deadline:
            time.sleep(0.005)
    assert len(commit._queue) == len(bodies)
    client.portal.call(gate.release)
    for t in threads:
        t.join(10)
    return answers


def served(client: TestClient) -> dict[str, float]:
    """The metrics' count of write batches, by how they were served (``fabric_write_batches``)."""
    prefix = 'fabric_write_batches_total{served="'
    lines = client.get("/metrics").text.splitlines()
    return {
        line[len(prefix) :].split('"')[0]: float(line.split()[-1])
        for line in lines
        if line.startswith(prefix)
    }


def test_queued_allocations_share_one_transaction_and_one_revision(client: TestClient) -> None:
    seed(client)
    client.post("/v1/allocations", json={"host": "h1", "handle": "earlier"})
    commit: GroupCommit = client.app.state.group_commit  # type: ignore[attr-defined]
    batches, before = commit.batches, served(client)
    rev = client.get("/v1/hosts/h1/advertisements").json()["revision"]
    bodies = [{"host": f"h{1 + i % 2}", "handle": f"c{i}"} for i in range(6)]
    bodies.append({"host": "h1", "handle": "earlier"})  # asked again: the same address, 200
    answers = queued_behind_a_writer(client, bodies)

    assert commit.batches == batches + 1 and commit.largest >= len(bodies)
    # A handle asked again: served together, in one transaction.
    assert served(client).get("together", 0) == before.get("together", 0) + 1
    assert [a.status_code for a in answers] == [201] * 6 + [200]
    assert [a.json()["created"] for a in answers] == [True] * 6 + [False]
    addresses = [a.json()["allocations"][0]["address"] for a in answers[:6]]
    assert len(set(addresses)) == 6
    for host in ("h1", "h2"):  # one transaction: one revision for both hosts' changes
        state = client.get(f"/v1/hosts/{host}/advertisements").json()
        assert state["revision"] == state["host_revision"] == rev + 1
    # The audit log names each request's own allocation, not the batch's first.
    audit = client.get("/v1/audit", params={"entity": "allocations"}).json()
    keys = {e["key"] for e in audit if e["action"] == "create"}
    assert {f"allocations/{a}" for a in addresses} <= keys


def test_one_refused_allocation_fails_alone(client: TestClient) -> None:
    seed(client)
    before = served(client).get("alone", 0)
    bodies = [
        {"host": "h1", "handle": "ok-1"},
        {"host": "nowhere", "handle": "lost"},
        {"host": "h1", "handle": "ok-2"},
        {"host": "h2", "handle": "ok-1"},  # held on h1 by the first, in this very batch
        {"host": "h2", "handle": "ok-3"},
    ]
    answers = queued_behind_a_writer(client, bodies)

    assert [a.status_code for a in answers] == [201, 404, 201, 409, 201]
    assert served(client)["alone"] == before + len(bodies)  # each in a transaction of its own
    assert answers[1].json()["code"] == "host_not_found"
    assert answers[3].json()["code"] == "handle_in_use"
    held = {a["handle"] for a in client.get("/v1/allocations").json()}
    assert held == {"ok-1", "ok-2", "ok-3"}  # nothing of the refused ones, nothing twice


def test_releases_share_the_batch_and_a_stale_one_fails_alone(client: TestClient) -> None:
    seed(client)
    first = client.post("/v1/allocations", json={"host": "h1", "handle": "old"}).json()
    address = first["allocations"][0]["address"]
    client.post("/v1/allocations", json={"host": "h2", "handle": "gone"})
    release = "/v1/allocations/release"
    answers = queued_behind_a_writer(
        client,
        [
            {"path": release, "handle": "gone"},
            {"path": release, "address": address, "handle": "someone-else"},  # stale: refused
            {"path": release, "handle": "old"},
            {"host": "h1", "handle": "new"},  # gets the address "old" just gave back
            {"path": release, "handle": "never-held"},  # idempotent: nothing, no error
        ],
    )
    assert [a.status_code for a in answers] == [200, 409, 200, 201, 200]
    assert answers[1].json()["code"] == "handle_mismatch"
    assert [r["handle"] for r in answers[0].json()["released"]] == ["gone"]
    assert answers[2].json()["released"][0]["address"] == address
    assert answers[3].json()["allocations"][0]["address"] == address
    assert answers[4].json()["released"] == []
    assert {a["handle"] for a in client.get("/v1/allocations").json()} == {"new"}


def test_a_batch_served_together_fills_the_block_then_claims_the_next(client: TestClient) -> None:
    seed(client)  # blocks of /28: 16 addresses
    client.post("/v1/allocations", json={"host": "h1", "handle": "first"})  # claims 10.0.0.0/28
    commit: GroupCommit = client.app.state.group_commit  # type: ignore[attr-defined]
    batches, served = commit.batches, commit.served_together
    bodies: list[dict[str, Any]] = [{"host": "h1", "handle": f"n{i}"} for i in range(20)]
    bodies.insert(5, {"host": "h1", "handle": "n2"})  # asked twice in the batch
    answers = queued_behind_a_writer(client, bodies)

    assert commit.batches == batches + 1
    assert commit.served_together == served + 15  # the rest: the repeat, and the spill
    assert [a.status_code for a in answers] == [201] * 5 + [200] + [201] * 15
    got = [a.json()["allocations"][0] for a in answers]
    assert got[5]["address"] == got[2]["address"]
    fresh = [g for i, g in enumerate(got) if i != 5]
    # In the queue's order: the rest of the host's block, then a block it claims.
    assert [g["address"] for g in fresh] == [f"10.0.0.{n}" for n in range(1, 21)]
    assert {g["block"] for g in fresh[15:]} == {"10.0.0.16/28"}
    assert client.get("/v1/ipam/check").json()["ok"] is True


def test_releases_queued_together_are_served_together(client: TestClient) -> None:
    seed(client)
    for host, handle in (("h1", "a"), ("h1", "b"), ("h2", "c")):
        client.post("/v1/allocations", json={"host": host, "handle": handle})
    commit: GroupCommit = client.app.state.group_commit  # type: ignore[attr-defined]
    batches, served = commit.batches, commit.served_together
    release = "/v1/allocations/release"
    answers = queued_behind_a_writer(
        client,
        [
            {"path": release, "handle": "a"},
            {"path": release, "handle": "b"},
            {"path": release, "handle": "a"},  # asked twice: nothing the second time
            {"path": release, "handle": "c", "family": 6},  # c holds no IPv6 address
            {"path": release, "handle": "never-held"},
        ],
    )
    assert commit.batches == batches + 1 and commit.served_together == served + 5
    assert [a.status_code for a in answers] == [200] * 5
    released = [[r["handle"] for r in a.json()["released"]] for a in answers]
    assert released == [["a"], ["b"], [], [], []]
    assert answers[0].json()["released"][0] | {"created_at": None} == {
        "address": "10.0.0.0", "family": 4, "host": "h1", "handle": "a", "block": "10.0.0.0/28",
        "pool": "p", "borrowed": False, "attributes": {}, "created_at": None,
    }  # fmt: skip
    assert {a["handle"] for a in client.get("/v1/allocations").json()} == {"c"}
    audit = client.get("/v1/audit", params={"limit": 5}).json()
    deleted = sorted(e["key"] for e in audit if e["action"] == "delete")
    assert deleted == ["allocations/10.0.0.0", "allocations/10.0.0.1"]


def test_a_stream_of_queued_writes_lets_a_waiting_writer_in(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's thread serves batch after batch while requests keep queuing, but not past
    ``HOLD_SECONDS``: another writer waiting on the gate gets in long before the stream ends."""
    monkeypatch.setattr(group_commit, "MAX_BATCH", 1)  # one 5 ms request a batch
    done: list[int] = []

    def work(n: int) -> Any:
        def run(_session: Session) -> int:
            time.sleep(0.005)
            done.append(n)
            return n

        return run

    async def scenario() -> tuple[list[int], int]:
        gate = asyncio.Lock()
        commit = GroupCommit(db, gate, RevisionHub(db, 1.0))
        stream = [asyncio.create_task(commit.run(work(n), None, "test")) for n in range(100)]
        await asyncio.sleep(0.02)  # the writer's thread is at it, the gate held
        async with gate:  # another writer, e.g. a pool's creation
            served_before_us = len(done)
        return list(await asyncio.gather(*stream)), served_before_us

    results, served_before_us = asyncio.run(scenario())
    assert results == list(range(100))  # every request still answered, in order
    assert served_before_us < 60, served_before_us  # ~10 expected: 50 ms of 5 ms batches
