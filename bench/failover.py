"""Failover: a host that hangs (all its processes frozen, its links up), and how long its block
outlives it in the ToR's kernel FIB: with BFD (3 × 300 ms, bfdd beside ExaBGP) against the BGP
hold time (9 s), both hosts of the rack lab frozen at the same moment, over several rounds.

Between rounds both hosts are thawed and their blocks wait to be back at the ToR, so each round
starts from a converged fabric.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import console, percentiles, save, show
from fabric.lab.netns import wait_for
from tests.harness.failover import (
    BFD_PEER,
    bfd_rack_lab,
    freeze,
    thaw,
    tor_bfd,
    tor_fib,
    until_gone,
)


def run(smoke: bool = False) -> dict[str, Any]:
    rounds = 1 if smoke else 5
    gone: dict[str, list[float]] = {"h1": [], "h2": []}
    with bfd_rack_lab() as lab:
        fabric, blocks = lab.fabric, lab.blocks
        for i in range(rounds):
            started = freeze(fabric, ["h1", "h2"])
            try:
                took = until_gone(fabric, blocks, started, timeout=20)
            finally:
                thaw(fabric, ["h1", "h2"])
            for host, seconds in took.items():
                gone[host].append(seconds)
            console.print(f"round {i + 1}: with BFD {took['h1']:.3f} s, without {took['h2']:.3f} s")
            wait_for("both blocks back at the ToR", lambda: set(blocks.values()) <= tor_fib(fabric),
                     60)  # fmt: skip
            wait_for("BFD up again", lambda: tor_bfd(lab).get(BFD_PEER) == "up", 30)
            time.sleep(2)  # the sessions settle (keepalives on their usual rhythm again)
    with_bfd, without = percentiles(gone["h1"]), percentiles(gone["h2"])
    show(
        "A hung host's block gone from the ToR's FIB (seconds after the freeze; BFD target < 1)",
        ["", "p50", "max", "rounds"],
        [["with BFD (3 × 300 ms)", with_bfd["p50"], with_bfd["max"], rounds],
         ["without (hold time 9 s)", without["p50"], without["max"], rounds],
         ["ratio (without ÷ with, p50)", without["p50"] / with_bfd["p50"], "", ""]],
    )  # fmt: skip
    results = {"rounds": rounds, "with_bfd": gone["h1"], "without_bfd": gone["h2"],
               "with_bfd_pct": with_bfd, "without_bfd_pct": without}  # fmt: skip
    save("failover", results)
    return results
