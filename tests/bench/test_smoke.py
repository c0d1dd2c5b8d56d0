"""Every benchmark at a tiny size, so none of them rots (the numbers are not checked here:
speed targets live in ``bench/``, measured against baselines of the same run)."""

from __future__ import annotations

import os

import pytest

from bench import convergence, injection, ipam, scale

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("benchmarks need root") if os.environ.get("CI") else pytest.skip("needs root")


def test_ipam_smoke() -> None:
    results = ipam.run(smoke=True)
    assert results["sqlite"]["http_per_s"] > 0 and results["sqlite"]["in_process_per_s"] > 0


def test_scale_smoke() -> None:
    results = scale.run(smoke=True)
    assert results["wake"]["max"] < 5 and all(
        s["advertisements_ms"]["p50"] > 0 for s in results["sizes"].values()
    )


def test_convergence_smoke() -> None:
    stats = convergence.run(smoke=True)
    assert stats["allocate"]["max"] < 5 and stats["bare_up"]["max"] < 5


def test_injection_smoke() -> None:
    results = injection.run(smoke=True)
    assert results["routed-fabric (ExaBGP)"][100]["announce_s"] > 0
    assert results["BIRD 2 (static)"][100]["announce_s"] > 0
    # GoBGP through its CLI's MRT path loses paths here (bench/README.md): a number or a
    # recorded failure, never a crash of the whole run.
    gobgp = results["GoBGP (gRPC, MRT inject)"]
    assert 100 in gobgp or "ToR never reached" in gobgp["error"]
