"""IPAM throughput: the allocator in-process, and over HTTP with concurrent clients against
the same server's trivial health endpoint as the ceiling, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import console, save, show
from fabric import hosts, pools
from fabric.ipam import plan
from fabric.store import ipam_writes, migrate
from fabric.store.database import Database
from tests.harness.ipam import allocate_batch
from tests.harness.servers import ADMIN, ADMIN_TOKEN, ApiServer

HOSTS = 16
BATCH = 16  # in-process, as many per transaction as the group commit serves at 16 clients at most
TARGET_PER_SECOND = 2000


def seed(db: Database) -> None:
    with db.write() as s:
        pools.create_pool(s, name="bench", cidr="10.128.0.0/12", block_size=24)
        for h in range(HOSTS):
            hosts.create_host(s, name=f"h{h}", address=f"192.0.2.{h + 1}", asn=65000 + h)


def seed_over_http(url: str) -> None:
    """``seed``'s pool and hosts, through a running API."""
    with httpx.Client(base_url=url, headers=ADMIN) as http:
        pool = {"name": "bench", "cidr": "10.128.0.0/12", "block_size": 24}
        http.post("/v1/pools", json=pool).raise_for_status()
        for h in range(HOSTS):
            host = {"name": f"h{h}", "address": f"192.0.2.{h + 1}", "asn": 65000 + h}
            http.post("/v1/hosts", json=host).raise_for_status()


def drop_all(pg_url: str) -> None:
    """An empty PostgreSQL database again (the next user migrates it)."""
    db = Database(pg_url)
    with db.write_engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    db.dispose()


def in_process(url: str, n: int, batch: int = 1) -> float:
    """Allocations/s of the allocator alone: one per transaction, or ``batch`` per transaction
    as the API's group commit serves the requests that queued together; with the API's upkeep
    (PostgreSQL: fresh statistics, ``fabric.store.pg_stats``)."""
    db = Database(url, upkeep_every=1.0)
    migrate.upgrade(db.write_engine, db.url)
    seed(db)
    start = time.perf_counter()
    for first in range(0, n, batch):
        with db.write() as s:
            if batch == 1:
                ipam_writes.allocate_described(s, host=f"h{first % HOSTS}", handle=f"in-{first}")
                continue
            handles = range(first, min(first + batch, n))
            asks = [plan.Request(f"h{i % HOSTS}", f"in-{i}", 4, {}) for i in handles]
            allocate_batch(s, asks)
    elapsed = time.perf_counter() - start
    db.dispose()
    return n / elapsed


def _client(args: tuple[str, str, int, int, int]) -> int:
    url, kind, worker, count, round_ = args
    ok = 0
    with httpx.Client(base_url=url, headers=ADMIN, timeout=60) as http:
        for i in range(count):
            if kind == "health":
                r = http.get("/healthz")
            elif kind == "release":  # what "allocate" allocated, handle by handle
                r = http.post("/v1/allocations/release", json={"handle": f"r{round_}w{worker}-{i}"})
            else:
                body = {"host": f"h{(worker + i) % HOSTS}", "handle": f"r{round_}w{worker}-{i}"}
                r = http.post("/v1/allocations", json=body)
            ok += r.status_code < 300
    return ok


def over_http(pool: Any, clients: int, url: str, kind: str, n: int, round_: int) -> float:
    """Requests per second of ``kind``: ``n`` split over the pool's ``clients`` processes."""
    jobs = [(url, kind, w, n // clients, round_) for w in range(clients)]
    start = time.perf_counter()
    done = sum(pool.map(_client, jobs))
    elapsed = time.perf_counter() - start
    if done != (n // clients) * clients:
        raise RuntimeError(f"{kind}: only {done} of {n} requests succeeded")
    return done / elapsed


# wrk's script: each request a new handle, the hosts in turn (one wrk thread: one counter).
_WRK_ALLOCATE = """
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"host":"h%d","handle":"wrk-%s-%d"}', n % HOSTS, ROUND, n)
  return wrk.format("POST", "/v1/allocations",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer TOKEN"}, body)
end
"""


def lean(url: str, kind: str, clients: int, seconds: float, round_: int, tmp: Path) -> float:
    """Requests per second of ``kind`` from wrk (C, one thread, ``clients`` connections): the
    clients then cost the 2-core machine little, and the server's own cost shows."""
    return wrk(url, kind, clients, seconds, round_, tmp)[0]


def wrk(
    url: str, kind: str, clients: int, seconds: float, round_: int, tmp: Path
) -> tuple[float, float]:
    """``lean``'s run: requests per second, and the 99th percentile of latency in ms."""
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    if kind == "allocate":
        script = tmp / f"wrk-allocate-{round_}.lua"
        script.write_text(
            _WRK_ALLOCATE.replace("HOSTS", str(HOSTS))
            .replace("ROUND", f'"{round_}"')
            .replace("TOKEN", ADMIN_TOKEN)
        )
        cmd += ["-s", str(script), url]
    else:
        cmd += [f"{url}/healthz"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk {kind}: not every request succeeded:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\b", out, flags=re.M)
    if found is None or p99 is None:
        raise RuntimeError(f"wrk {kind}: no rate or latency in its output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return float(found.group(1)), float(p99.group(1)) * scale


def rounds(url: str, n: int, clients: int, repeat: int) -> dict[str, list[float]]:
    """``repeat`` rounds of the ceiling, allocations and their releases, one after another:
    the machine's speed drifts between runs (the ceiling alone by ±15 %), so each round's
    allocations are held against that round's own ceiling."""
    got: dict[str, list[float]] = {"health": [], "allocate": [], "release": []}
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        # Warm up: the clients' connections, and the server past its first slow requests.
        warm = max(2, n // clients // 4)
        pool.map(_client, [(url, "health", w, warm, 0) for w in range(clients)])
        for r in range(repeat):
            for kind in got:
                got[kind].append(over_http(pool, clients, url, kind, n, r))
    return got


def run(smoke: bool = False) -> dict[str, Any]:
    # Five rounds: single rounds' share of the ceiling spread 0.46-0.61 in one run, which
    # moved a median of three by more than the target's margin.
    n, clients, repeat, seconds = (64, 4, 1, 1) if smoke else (4000, 16, 5, 3)
    backends = {"sqlite": None}
    pg = os.environ.get("FABRIC_BENCH_POSTGRES_URL")
    if pg:
        backends["postgres"] = pg
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="rf-bench-ipam-") as tmp:
        for name, pg_url in backends.items():
            url = pg_url or f"sqlite:///{Path(tmp) / f'{name}.db'}"
            alone = in_process(pg_url or f"sqlite:///{Path(tmp) / f'{name}-inproc.db'}", n)
            if pg_url:  # in-process runs on a clean database each
                drop_all(pg_url)
            batched = in_process(pg_url or f"sqlite:///{Path(tmp) / f'{name}-batch.db'}", n, BATCH)
            if pg_url:  # a clean database for the server
                drop_all(pg_url)
            server = ApiServer(url, Path(tmp) / f"api-{name}.log").wait_ready()
            try:
                seed_over_http(server.url)
                got = rounds(server.url, n, clients, repeat)
                wrk: dict[str, list[float]] = {"health": [], "allocate": []}
                for r in range(repeat):
                    for kind in wrk:
                        wrk[kind].append(lean(server.url, kind, clients, seconds, r, Path(tmp)))
            finally:
                server.stop()
            shares = [a / c for a, c in zip(got["allocate"], got["health"], strict=True)]
            allocs, ceiling = statistics.median(got["allocate"]), statistics.median(got["health"])
            releases, share = statistics.median(got["release"]), statistics.median(shares)
            wrk_shares = [a / c for a, c in zip(wrk["allocate"], wrk["health"], strict=True)]
            wrk_allocs = statistics.median(wrk["allocate"])
            results[name] = {
                "in_process_per_s": alone,
                f"in_process_batch{BATCH}_per_s": batched,
                "http_per_s": allocs,
                "release_http_per_s": releases,
                "health_per_s": ceiling,
                "share_of_ceiling": share,
                "rounds": {**got, "share_of_ceiling": shares},
                "wrk": {
                    "http_per_s": wrk_allocs,
                    "health_per_s": statistics.median(wrk["health"]),
                    "share_of_ceiling": statistics.median(wrk_shares),
                    "rounds": {**wrk, "share_of_ceiling": wrk_shares},
                    "seconds": seconds,
                },
                "requests": n,
                "clients": clients,
            }
            rows.append((
                name, alone, batched, allocs, releases, ceiling, share,
                wrk_allocs, statistics.median(wrk["health"]), statistics.median(wrk_shares),
                f"{allocs / TARGET_PER_SECOND:.2f} / {wrk_allocs / TARGET_PER_SECOND:.2f}",
            ))  # fmt: skip
    show(
        f"IPAM throughput ({clients} clients: {n} requests from Python processes, then wrk for "
        f"{seconds} s; medians of {repeat} rounds, each held against its own ceiling)",
        [
            "backend",
            "in-process /s",
            f"in-process, {BATCH} a transaction /s",
            "httpx alloc /s",
            "httpx release /s",
            "httpx /healthz /s",
            "httpx ÷ ceiling",
            "wrk alloc /s",
            "wrk /healthz /s",
            "wrk ÷ ceiling",
            f"÷ {TARGET_PER_SECOND}/s (httpx / wrk)",
        ],
        rows,
    )
    if not smoke:
        save("ipam", results)
    else:
        console.print("[dim]smoke run: results not written[/dim]")
    return results
