"""BFD: a host that hangs loses its routes at the ToR in under a second, not in the hold time.

containerlab/rack.clab.yml deployed with ``fabricctl lab``, the ToR on FRR (bfdd enabled there)
and then on BIRD 2, its configuration from tor-sync; h1's
peer gets a BFD profile (3 × 300 ms), h2's none. h1's agent then runs bfdd beside ExaBGP. Both hosts are frozen at the same moment (SIGSTOP of all
their processes: links stay up, as when a host hangs): h1's block leaves the ToR's FIB in under
a second, h2's only at its hold time (9 s); thawed, both come back. A planned agent restart
(SIGTERM, start again) loses no ping: bfdd outlives the agent, graceful restart covers ExaBGP.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fabric.lab.demo import Fabric
from fabric.lab.netns import pids_in, wait_for
from tests.harness.failover import (
    BFD_PEER,
    BfdLab,
    bfd_rack_lab,
    freeze,
    thaw,
    tor_bfd,
    tor_fib,
    until_gone,
)
from tests.harness.labs import steady_ping


def _agent_pid(fabric: Fabric, host: str) -> int:
    """The host's agent process (``fabricctl agent``), found among its namespace's PIDs."""
    for pid in pids_in(fabric.topo.namespace(host)):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agent" in argv and any(a.endswith(b"fabricctl") for a in argv):
            return pid
    raise AssertionError(f"no agent running on {host}")


@pytest.fixture(scope="module", params=["frr", "bird"])
def bfd_lab(request: pytest.FixtureRequest) -> Iterator[BfdLab]:
    if os.geteuid() != 0:
        pytest.fail("lab tests need root") if os.environ.get("CI") else pytest.skip("needs root")
    with bfd_rack_lab(request.param) as lab:
        yield lab


def test_the_host_reports_its_bfd_session(bfd_lab: BfdLab) -> None:
    def reported() -> dict[str, object] | None:
        rows = bfd_lab.fabric.fabricctl("peers", "--host", "h1")
        row = next((r for r in rows if r["peer_address"] == "10.0.1.0"), None)
        return row if row and row["bfd_state"] == "up" else None

    row = wait_for("h1's agent to report BFD up", reported, 30)
    assert row["established"]
    h2 = next(r for r in bfd_lab.fabric.fabricctl("peers", "--host", "h2"))
    assert h2["bfd_state"] is None  # no profile, no BFD
    assert "10.0.2.1" not in tor_bfd(bfd_lab)


def test_ip_show_says_the_tor_accepted_the_block(bfd_lab: BfdLab) -> None:
    """tor-sync reads the ToR's BGP table (FRR's JSON, BIRD's route list) for the IP trace."""
    fabric = bfd_lab.fabric
    address = bfd_lab.containers["h1"][1]

    def accepted() -> list[dict[str, object]] | None:
        seen = fabric.fabricctl("ip", "show", address)["accepted_by"]
        return seen if any(r["router"] == "tor" and r["accepted"] for r in seen) else None

    wait_for(f"ip show to say the {bfd_lab.tor_kind} ToR accepted h1's block", accepted, 30)


def test_a_planned_agent_restart_loses_no_ping(bfd_lab: BfdLab) -> None:
    fabric = bfd_lab.fabric
    src_ns, _ = bfd_lab.containers["h2"]
    _, dst = bfd_lab.containers["h1"]
    with steady_ping(src_ns, dst) as pings:
        time.sleep(1)
        pid = _agent_pid(fabric, "h1")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        os.kill(pid, signal.SIGTERM)  # by PID
        wait_for("the agent to exit", lambda: not Path(f"/proc/{pid}").exists(), 20, 0.05)
        token = fabric.topo.nodes["h1"].env["FABRIC_TOKEN"]
        fabric.workloads.spawn(fabric.topo.namespace("h1"), argv,
                               fabric.workloads.workdir / "h1-agent-again.log",
                               {"FABRIC_TOKEN": token})  # fmt: skip
        wait_for("h1's ExaBGP back and its session established",
                 lambda: any(r["established"] for r in fabric.fabricctl("peers", "--host", "h1")),
                 60)  # fmt: skip
        time.sleep(3)
    print(f"\nplanned agent restart with BFD: {pings.lost} of {pings.sent} pings lost")
    assert pings.sent > 100 and pings.lost == 0
    assert tor_bfd(bfd_lab).get(BFD_PEER) == "up"


def test_a_hung_host_is_gone_in_under_a_second_with_bfd_and_at_the_hold_time_without(
    bfd_lab: BfdLab,
) -> None:
    fabric, blocks = bfd_lab.fabric, bfd_lab.blocks
    started = freeze(fabric, ["h1", "h2"])
    try:
        gone = until_gone(fabric, blocks, started, timeout=20)
    finally:
        thaw(fabric, ["h1", "h2"])
    print(f"\nhost frozen -> its block gone from the ToR's FIB: with BFD {gone['h1']:.3f} s, "
          f"without (hold time 9 s) {gone['h2']:.3f} s")  # fmt: skip
    assert gone["h1"] < 1.0
    assert 3.0 < gone["h2"] < 15.0
    wait_for("both hosts' blocks back at the ToR", lambda: set(blocks.values()) <= tor_fib(fabric),
             60)  # fmt: skip
    wait_for("BFD with h1 up again", lambda: tor_bfd(bfd_lab).get(BFD_PEER) == "up", 30)


def test_a_bfdd_that_dies_is_started_again_by_the_agent(bfd_lab: BfdLab) -> None:
    fabric = bfd_lab.fabric
    pidfile = fabric.topo.lab_dir / "h1" / "bfdd" / "bfdd.pid"  # the agent's state directory
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGKILL)  # by PID
    wait_for("a new bfdd on h1", lambda: pidfile.exists() and int(pidfile.read_text()) != pid
             and Path(f"/proc/{int(pidfile.read_text())}").exists(), 30)  # fmt: skip
    wait_for("BFD with h1 up again", lambda: tor_bfd(bfd_lab).get(BFD_PEER) == "up", 30)
    wait_for("h1's block back at the ToR",
             lambda: bfd_lab.blocks["h1"] in tor_fib(fabric), 60)  # fmt: skip
