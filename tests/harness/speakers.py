"""A bare ExaBGP in a lab namespace (no agent, no API): rogue hosts and baselines."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bgp.agent import exabgp_env
from bgp.exabgp_runtime import this_interpreter


def bare_exabgp(ns: str, conf: Path, workdir: Path) -> subprocess.Popen[bytes]:
    """Start ExaBGP on ``conf`` inside ``ns``; it ends with its namespace (by PID), reap it."""
    with (workdir / f"{conf.stem}.out").open("ab") as log:
        return subprocess.Popen(
            ["ip", "netns", "exec", ns, *this_interpreter().command(), str(conf)],
            env=exabgp_env(workdir), stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
