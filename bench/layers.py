"""What each IPAM speed layer earns: the API's allocation throughput (httpx clients and wrk,
each held against the same server's ``/healthz`` ceiling) and wrk's p99, with every layer on
and then with each one switched off (``fabric.store.speed_layers``), on SQLite and PostgreSQL,
all in one run. A layer earns what is lost without it: ``1 - off / on`` of the share of the
ceiling, and of p99 ``off / on - 1``. The issue's rule: keep a layer that earns 10 % of one.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.common import console, save, show
from bench.ipam import drop_all, rounds, seed_over_http, wrk
from fabric.store.speed_layers import LAYERS
from tests.harness.servers import ApiServer

PG_ONLY = ("at_once", "pg_statement")  # no such layer on SQLite: nothing to switch off


def _measure(url: str, off: str, n: int, clients: int, repeat: int, seconds: float,
             tmp: Path) -> dict[str, float]:  # fmt: skip
    server = ApiServer(url, tmp / f"api-{off or 'all'}.log",
                       env={"FABRIC_SPEED_LAYERS_OFF": off}).wait_ready()  # fmt: skip
    try:
        seed_over_http(server.url)
        got = rounds(server.url, n, clients, repeat)
        runs = {k: [wrk(server.url, k, clients, seconds, r, tmp) for r in range(repeat)]
                for k in ("health", "allocate")}  # fmt: skip
    finally:
        server.stop()
    shares = [a / c for a, c in zip(got["allocate"], got["health"], strict=True)]
    wrk_shares = [a[0] / c[0] for a, c in zip(runs["allocate"], runs["health"], strict=True)]
    return {
        "httpx_per_s": statistics.median(got["allocate"]),
        "httpx_share": statistics.median(shares),
        "wrk_per_s": statistics.median(r[0] for r in runs["allocate"]),
        "wrk_share": statistics.median(wrk_shares),
        "wrk_p99_ms": statistics.median(r[1] for r in runs["allocate"]),
    }


def run(smoke: bool = False) -> dict[str, Any]:
    n, clients, repeat, seconds = (64, 4, 1, 1) if smoke else (4000, 16, 3, 3)
    backends: dict[str, str | None] = {"sqlite": None}
    if os.environ.get("FABRIC_BENCH_POSTGRES_URL"):
        backends["postgres"] = os.environ["FABRIC_BENCH_POSTGRES_URL"]
    results: dict[str, dict[str, dict[str, float]]] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="rf-bench-layers-") as tmp:
        for name, pg_url in backends.items():
            variants = ["", *(layer for layer in LAYERS if pg_url or layer not in PG_ONLY)]
            results[name] = {}
            for i, off in enumerate(variants):
                console.print(f"[dim]{name}: {off or 'every layer on'}[/dim]")
                url = pg_url or f"sqlite:///{Path(tmp) / f'{name}-{i}.db'}"
                if pg_url:
                    drop_all(pg_url)  # each server on a clean database
                results[name][off or "none"] = _measure(url, off, n, clients, repeat, seconds,
                                                        Path(tmp))  # fmt: skip
            on = results[name]["none"]
            for off, got in results[name].items():
                rows.append((
                    name, off, got["httpx_per_s"], got["httpx_share"],
                    1 - got["httpx_share"] / on["httpx_share"], got["wrk_per_s"],
                    got["wrk_share"], 1 - got["wrk_share"] / on["wrk_share"], got["wrk_p99_ms"],
                    got["wrk_p99_ms"] / on["wrk_p99_ms"] - 1,
                ))  # fmt: skip
    show(
        f"IPAM speed layers, each switched off ({clients} clients; medians of {repeat} rounds, "
        "each against its own ceiling; 'earns' = what is lost without it)",
        ["backend", "off", "httpx /s", "httpx ÷ ceiling", "earns (httpx)", "wrk /s",
         "wrk ÷ ceiling", "earns (wrk)", "wrk p99 ms", "earns (p99)"],
        rows,
    )  # fmt: skip
    if not smoke:
        save("layers", {"requests": n, "clients": clients, "rounds": repeat, "results": results})
    else:
        console.print("[dim]smoke run: results not written[/dim]")
    return results
