"""Each IPAM speed layer switched off (``fabric.store.speed_layers``, what ``bench layers``
measures) gives the same answers as all of them on: a real server per setting, on SQLite and
PostgreSQL, driven by concurrent clients so that batches form."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabric.store.speed_layers import LAYERS
from tests.harness.servers import ADMIN, ApiServer


def _exercise(url: str) -> list[Any]:
    """What an orchestrator sees: allocations from 8 clients at once, one asked again, a
    release, a release of nothing, a host that does not exist."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as http:
        http.post("/v1/pools", json={"name": "p", "cidr": "10.9.0.0/16", "block_size": 28})
        for h in range(4):
            http.post("/v1/hosts", json={"name": f"h{h}", "address": f"192.0.2.{h + 1}",
                                         "asn": 65001})  # fmt: skip

        def allocate(i: int) -> tuple[int, str, str]:
            r = http.post("/v1/allocations", json={"host": f"h{i % 4}", "handle": f"c{i}"})
            return r.status_code, r.json()["allocations"][0]["address"], f"c{i}"

        with ThreadPoolExecutor(8) as pool:
            made = sorted(pool.map(allocate, range(40)))
        again = http.post("/v1/allocations", json={"host": "h1", "handle": "c1"})
        gone = http.post("/v1/allocations/release", json={"handle": "c2"}).json()
        nothing = http.post("/v1/allocations/release", json={"handle": "nope"}).json()
        missing = http.post("/v1/allocations", json={"host": "h9", "handle": "x"})
        owners = {a["address"]: a["host"] for a in http.get("/v1/allocations").json()}
        return [
            {address for _, address, _ in made} == set(owners) | {a["address"]
                                                              for a in gone["released"]},
            [status for status, _, _ in made].count(201),
            (again.status_code, again.json()["created"]),
            [a["handle"] for a in gone["released"]], nothing,
            (missing.status_code, missing.json()["code"]), len(owners),
        ]  # fmt: skip


@pytest.mark.parametrize("off", ["", *LAYERS, ",".join(LAYERS)])
def test_any_layer_off_answers_the_same(database_url: str, tmp_path: Path, off: str) -> None:
    server = ApiServer(database_url, tmp_path / "api.log",
                       env={"FABRIC_SPEED_LAYERS_OFF": off}).wait_ready()  # fmt: skip
    try:
        seen = _exercise(server.url)
        served = _batches(server.url)
    finally:
        server.stop()
    assert seen == [True, 40, (200, False), ["c2"], {"released": []},
                    (404, "host_not_found"), 39], off  # fmt: skip
    # The switch took: with the group commit off, no write shared a transaction (a batch of
    # one may still go at once, on PostgreSQL: that is its own layer).
    if "group_commit" in off:
        assert "together" not in served, served
    elif not off:
        assert served.keys() - {"alone"}, served  # batched (together or at once)


def _batches(url: str) -> dict[str, float]:
    """The server's write batches by how they were served (``fabric_write_batches``)."""
    prefix = 'fabric_write_batches_total{served="'
    lines = httpx.get(f"{url}/metrics", headers=ADMIN).text.splitlines()
    return {line[len(prefix):].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in lines if line.startswith(prefix)}  # fmt: skip


def test_an_unknown_layer_name_stops_the_server(sqlite_url: str, tmp_path: Path) -> None:
    env = {"FABRIC_SPEED_LAYERS_OFF": "lean,fast"}
    server = ApiServer(sqlite_url, tmp_path / "api.log", env=env)
    with pytest.raises(RuntimeError, match="unknown layer 'fast'"):
        server.wait_ready()
    server.stop()
