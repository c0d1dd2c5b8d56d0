"""Scale: 1,000 hosts and up to 100,000 allocations.

One host's advertisements call (flat as the fabric grows, target under 10 ms),
the API's memory, and 1,000 agents' long-polls all woken by one change (target:
within a second). Rows are written in bulk with SQL: this measures the API's
reads, not the allocator.
"""

from __future__ import annotations

import asyncio
import ipaddress
import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import h11
import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection, create_engine, insert, select, text

from bench.common import console, percentiles, save, show
from fabric.models import Allocation, Block, Host, Pool
from tests.harness.servers import ADMIN, ApiServer

TARGET_MS = 10.0
BLOCK = 64  # /26


def bump_revisions(conn: Connection) -> None:
    """What a write through the API does besides its rows: every host's long-poll wakes."""
    rev = conn.scalar(text("UPDATE fabric_state SET revision = revision + 1 RETURNING revision"))
    conn.execute(text("UPDATE hosts SET revision = :r"), {"r": rev})


def grow(url: str, hosts: int, total: int, bump: bool = False) -> None:
    """Add blocks and allocations, spread evenly over the hosts, up to ``total`` allocations
    (``have`` must be a whole number of blocks: every call but the last grows by blocks);
    ``bump``: tell running agents, in the same transaction."""
    engine = create_engine(url)
    with engine.begin() as conn:
        pool_id = conn.scalar(select(Pool.id).where(Pool.name == "bench"))
        host_ids = list(conn.scalars(select(Host.id).order_by(Host.id)))
        have = conn.scalar(text("SELECT count(*) FROM allocations")) or 0
        blocks, rows = [], []
        for i in range(have // BLOCK, -(-total // BLOCK)):
            third, fourth = divmod(i, 4)
            blocks.append(
                {
                    "pool_id": pool_id,
                    "cidr": f"10.{64 + third // 256}.{third % 256}.{fourth * BLOCK}/26",
                    "host_id": host_ids[i % hosts],
                    "allocated": min(BLOCK, total - i * BLOCK),
                }
            )
        if blocks:
            conn.execute(insert(Block), blocks)
            ids = dict(conn.execute(select(Block.cidr, Block.id)).tuples().all())
            for b in blocks:
                net, base = b["cidr"].rsplit(".", 1)[0], int(b["cidr"].rsplit(".", 1)[1][:-3])
                for k in range(b["allocated"]):
                    rows.append(
                        {
                            "address": f"{net}.{base + k}",
                            "family": 4,
                            "block_id": ids[b["cidr"]],
                            "host_id": b["host_id"],
                            "handle": f"s-{b['cidr']}-{k}",
                            "attributes": {},
                        }
                    )
            for start in range(0, len(rows), 20_000):
                conn.execute(insert(Allocation), rows[start : start + 20_000])
        if bump:
            bump_revisions(conn)
    engine.dispose()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def advertisements_ms(url: str, hosts: int, calls: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=url, headers=ADMIN) as http:
        for _ in range(calls):
            host = f"h{random.randrange(hosts)}"
            start = time.perf_counter()
            http.get(f"/v1/hosts/{host}/advertisements").raise_for_status()
            samples.append((time.perf_counter() - start) * 1000)
    return samples


WAKE_CLIENTS = 4  # processes holding the long-polls between them


async def _poll(address: tuple[str, int], path: str) -> float:
    """One long-poll on its own connection, as one agent holds it; when it answered.

    On h11 over a bare asyncio stream: a general client's connection pool (httpx, with a few
    hundred connections per process) spent seconds of its own before the answers were read,
    which measured the client. 1,000 agents are 1,000 machines with one connection each."""
    reader, writer = await asyncio.open_connection(*address)
    conn = h11.Connection(h11.CLIENT)
    headers = [("host", address[0]), *ADMIN.items()]
    writer.write(conn.send(h11.Request(method="GET", target=path, headers=headers)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    status = 0
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        answered = time.monotonic()
    finally:
        writer.close()
    if status != 200:
        raise RuntimeError(f"{path}: HTTP {status}")
    return answered


async def _hold(url: str, names: list[str], since: int) -> list[float]:
    """Long-poll every host of ``names`` at once; when each answered (``time.monotonic``, one
    clock for every process on the machine)."""
    parsed = httpx.URL(url)
    address = (parsed.host, parsed.port or 80)
    return list(
        await asyncio.gather(
            *(_poll(address, f"/v1/hosts/{n}/advertisements?since={since}&wait=60") for n in names)
        )
    )


def _hold_sync(args: tuple[str, list[str], int]) -> list[float]:
    return asyncio.run(_hold(*args))


def wake_all_sync(url: str, hosts: int) -> tuple[list[float], float]:
    """``hosts`` long-polls held at once; one global peer change; seconds until each answered,
    and how long the change's own call took.

    The polls are spread over several client processes: one asyncio client holding 1,000
    connections spent seconds in its own connection pool, which measured the client."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=60) as http:
        since = http.get("/v1/hosts/h0/advertisements").json()["revision"]
        names = [f"h{h}" for h in range(hosts)]
        shares = [(url, names[i::WAKE_CLIENTS], since) for i in range(WAKE_CLIENTS)]
        with multiprocessing.get_context("spawn").Pool(WAKE_CLIENTS) as pool:
            pending = pool.map_async(_hold_sync, shares)
            while http.get("/v1/revision").json()["waiters"] < hosts:
                time.sleep(0.2)
            time.sleep(1.0)  # every request is now held
            changed = time.monotonic()
            body = {"name": f"wake-{since}", "address": "192.0.2.254", "asn": 65535}
            http.post("/v1/peers", json=body).raise_for_status()
            call = time.monotonic() - changed
            answered = [t for share in pending.get(timeout=120) for t in share]
    return [t - changed for t in answered], call


def server_wake_within(url: str) -> float | None:
    """The server's side of the wake-up (its ``fabric_longpoll_wake_seconds`` histogram):
    the smallest bucket bound within which every answer was ready to send."""
    text = httpx.get(f"{url}/metrics", headers=ADMIN, timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name != "fabric_longpoll_wake_seconds":
            continue
        buckets = [s for s in family.samples if s.name.endswith("_bucket")]
        total = next(s.value for s in buckets if s.labels["le"] == "+Inf")
        return min(float(s.labels["le"]) for s in buckets if s.value >= total)
    return None


def run(smoke: bool = False) -> dict[str, Any]:
    hosts = 20 if smoke else 1000
    sizes = [640, 1280] if smoke else [10_240, 102_400]
    calls = 20 if smoke else 200
    results: dict[str, Any] = {"hosts": hosts, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="rf-bench-scale-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'scale.db'}"
        env = {"FABRIC_LONGPOLL_MAX_SECONDS": "90"}
        server = ApiServer(url, Path(tmp) / "api.log", env=env).wait_ready()
        try:
            with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as http:
                http.post(
                    "/v1/pools", json={"name": "bench", "cidr": "10.64.0.0/10", "block_size": 26}
                ).raise_for_status()
                first = ipaddress.ip_address("172.16.0.1")
                for h in range(hosts):
                    body = {"name": f"h{h}", "asn": 65000, "address": str(first + h)}
                    http.post("/v1/hosts", json=body).raise_for_status()
            rows = []
            for size in sizes:
                grow(url, hosts, size)
                samples = advertisements_ms(server.url, hosts, calls)
                p = percentiles(samples)
                mem = rss_mib(server.proc.pid)
                results["sizes"][size] = {"advertisements_ms": p, "api_rss_mib": mem}
                rows.append((size, statistics.median(samples), p["p99"], mem))
            wake, call = wake_all_sync(server.url, hosts)
            results["wake"] = percentiles(wake)
            results["wake"]["change_call_s"] = call
            results["wake"]["server_within"] = server_wake_within(server.url)
        finally:
            server.stop()
    show(
        f"Scale: {hosts} hosts (target: advertisements under {TARGET_MS:.0f} ms, flat)",
        ["allocations", "advertisements p50 ms", "p99 ms", "API RSS MiB"],
        rows,
    )
    w = results["wake"]
    console.print(
        f"{hosts} long-polls woken by one change: p50 {w['p50']:.3f}s, p99 {w['p99']:.3f}s, "
        f"last {w['max']:.3f}s (target: all within 1 s); the change's call took "
        f"{w['change_call_s']:.3f}s; the server had every answer ready within "
        f"{w['server_within']} s of seeing it (its wake histogram)"
    )
    if not smoke:
        save("scale", results)
    return results
