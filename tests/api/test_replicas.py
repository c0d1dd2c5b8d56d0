"""Two real API processes on one PostgreSQL: no address twice, long-polls woken across replicas."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.servers import ADMIN, ApiServer

pytestmark = [pytest.mark.api, pytest.mark.postgres]

CLIENTS, PER_CLIENT, HOSTS = 8, 250, 4


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[list[ApiServer]]:
    # A slow poll: a wake-up within a second can only come from LISTEN/NOTIFY.
    env = {"FABRIC_REVISION_POLL_SECONDS": "30"}
    servers = [ApiServer(postgres_url, tmp_path / f"api{i}.log", env=env) for i in range(2)]
    try:
        for s in servers:
            s.wait_ready()
        yield servers
    finally:
        for s in servers:
            s.stop()


def allocate_many(args: tuple[str, int]) -> tuple[list[str], list[int]]:
    url, client_id = args
    addresses, failures = [], []
    with httpx.Client(base_url=url, timeout=60, headers=ADMIN) as http:
        for i in range(PER_CLIENT):
            body = {"host": f"h{(client_id + i) % HOSTS}", "handle": f"c{client_id}-{i}"}
            r = http.post("/v1/allocations", json=body)
            if r.status_code == 201:
                addresses.append(r.json()["allocations"][0]["address"])
            else:
                failures.append(r.status_code)
    return addresses, failures


def test_concurrent_allocations_across_replicas(replicas: list[ApiServer]) -> None:
    a = replicas[0].url
    httpx.post(
        headers=ADMIN,
        url=f"{a}/v1/pools",
        json={"name": "p", "cidr": "10.0.0.0/20", "block_size": 27},
    ).raise_for_status()
    for h in range(HOSTS):
        httpx.post(
            headers=ADMIN,
            url=f"{a}/v1/hosts",
            json={"name": f"h{h}", "address": f"192.0.2.{h + 1}", "asn": 65001},
        ).raise_for_status()
    jobs = [(replicas[i % 2].url, i) for i in range(CLIENTS)]
    with multiprocessing.get_context("spawn").Pool(CLIENTS) as pool:
        results = pool.map(allocate_many, jobs)
    addresses = [addr for got, _ in results for addr in got]
    failures = [code for _, bad in results for code in bad]
    assert failures == []
    assert len(addresses) == CLIENTS * PER_CLIENT
    assert len(set(addresses)) == len(addresses)
    assert httpx.get(headers=ADMIN, url=f"{a}/v1/ipam/check").json()["ok"] is True
    assert (
        httpx.get(headers=ADMIN, url=f"{a}/v1/pools/p").json()["allocated"] == CLIENTS * PER_CLIENT
    )


def test_change_on_one_replica_wakes_long_poll_on_the_other(replicas: list[ApiServer]) -> None:
    a, b = (s.url for s in replicas)
    httpx.post(
        headers=ADMIN, url=f"{a}/v1/pools", json={"name": "p", "cidr": "10.0.0.0/24"}
    ).raise_for_status()
    httpx.post(
        headers=ADMIN,
        url=f"{a}/v1/hosts",
        json={"name": "h1", "address": "192.0.2.1", "asn": 65001},
    ).raise_for_status()
    rev = httpx.get(headers=ADMIN, url=f"{b}/v1/hosts/h1/advertisements").json()["revision"]
    with httpx.Client(timeout=30, headers=ADMIN) as http:
        import threading

        answer: dict[str, object] = {}

        def poll() -> None:
            r = http.get(f"{b}/v1/hosts/h1/advertisements", params={"since": rev, "wait": 20})
            answer["body"], answer["at"] = r.json(), time.monotonic()

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        sent = time.monotonic()
        httpx.post(
            headers=ADMIN, url=f"{a}/v1/allocations", json={"host": "h1", "handle": "x"}
        ).raise_for_status()
        t.join(25)
    assert "body" in answer, "the long-poll on replica B never answered"
    assert float(answer["at"]) - sent < 1.5  # type: ignore[arg-type]
    assert answer["body"]["advertisements"] == [{"prefix": "10.0.0.0/26", "kind": "block"}]  # type: ignore[index]
