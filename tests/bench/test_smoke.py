"""Every benchmark at a tiny size, so none of them rots (the numbers are not checked here:
speed targets live in ``bench/``, measured against baselines of the same run)."""

from __future__ import annotations

import os

import pytest

from bench import cni, convergence, failover, injection, ipam, layers, scale
from fabric.store.speed_layers import LAYERS

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("benchmarks need root") if os.environ.get("CI") else pytest.skip("needs root")


def test_ipam_smoke() -> None:
    results = ipam.run(smoke=True)
    assert results["sqlite"]["http_per_s"] > 0 and results["sqlite"]["in_process_per_s"] > 0
    assert results["sqlite"]["release_http_per_s"] > 0
    assert results["sqlite"]["wrk"]["http_per_s"] > 0  # every wrk request answered 2xx


def test_layers_smoke() -> None:
    results = layers.run(smoke=True)
    sqlite = results["sqlite"]  # every layer off in turn, each server answering every request
    assert set(sqlite) == {"none", *LAYERS} - {"at_once", "pg_statement"}
    assert all(r["wrk_per_s"] > 0 and r["httpx_per_s"] > 0 for r in sqlite.values())


def test_scale_smoke() -> None:
    results = scale.run(smoke=True)
    # The server's own wake histogram saw every woken poll (None: it counted none).
    assert results["wake"]["server_within"] is not None
    assert results["wake"]["max"] < 5 and all(
        s["advertisements_ms"]["p50"] > 0 for s in results["sizes"].values()
    )


def test_convergence_smoke() -> None:
    stats = convergence.run(smoke=True)
    for v in (4, 6):  # IPv6 beside IPv4, in the same run
        assert stats[f"allocate{v}"]["max"] < 5 and stats[f"bare_up{v}"]["max"] < 5


def test_injection_smoke() -> None:
    results = injection.run(smoke=True)
    for speaker in ("GoBGP (gRPC)", "routed-fabric (ExaBGP)", "routed-fabric (ExaBGP on PyPy)",
                    "ExaBGP alone (floor)", "ExaBGP alone on PyPy", "BIRD 2 (static)"):  # fmt: skip
        assert results[speaker][100]["inject_s"] > 0, results[speaker]
        assert results[speaker][100]["withdraw_s"] > 0, results[speaker]
    for ours in ("routed-fabric (ExaBGP)", "routed-fabric (ExaBGP on PyPy)"):
        assert results[ours][100]["restart_s"] > 0


def test_cni_smoke() -> None:
    ms = cni.run(smoke=True)
    assert 0 < ms["add"]["p50"] < 5000 and 0 < ms["ref_add"]["p50"] < 5000
    assert ms["fib"]["max"] >= ms["add"]["max"] > 0 and ms["del"]["p50"] > 0


def test_failover_smoke() -> None:
    results = failover.run(smoke=True)
    assert results["with_bfd"][0] < results["without_bfd"][0]
