"""Labs the tests and benchmarks deploy from containerlab files: a rack lab up and seeded, and
a ping kept running through an event, counted after."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fabric.lab import deploy as lab_deploy
from fabric.lab.demo import Fabric
from fabric.lab.netns import Lab, wait_for
from fabric.lab.topology import load

RACK = Path(__file__).resolve().parents[2] / "containerlab" / "rack.clab.yml"


@contextmanager
def rack_lab(suffix: str, prefix: str = "rf-lab-") -> Iterator[tuple[Fabric, Path]]:
    """containerlab/rack.clab.yml deployed under a per-run name, its controller seeded; its
    base directory; everything gone after, failed or not."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)  # FRR (user frr) reads its files below
    os.environ["CLAB_LABDIR_BASE"] = str(base)
    topo = load(RACK, f"rf{uuid.uuid4().hex[:6]}-{suffix}")
    fabric = Fabric(topo, Lab(base))
    try:
        lab_deploy.deploy(topo)
        wait_for("the controller to be seeded", lambda: len(fabric.hosts()) == 2, 60)
        yield fabric, base
    finally:
        fabric.workloads.destroy()
        lab_deploy.destroy(topo)
        os.environ.pop("CLAB_LABDIR_BASE", None)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class PingCount:
    sent: int = 0
    received: int = 0

    @property
    def lost(self) -> int:
        return self.sent - self.received


@contextmanager
def steady_ping(ns: str, address: str, every: float = 0.02) -> Iterator[PingCount]:
    """A ping every ``every`` seconds from ``ns`` for as long as the block runs; the counts
    once it is over (ping stopped by PID with SIGINT, so it prints its statistics)."""
    count = PingCount()
    ping = subprocess.Popen(
        ["ip", "netns", "exec", ns, "ping", "-i", str(every), "-W", "1", address],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield count
    finally:
        ping.send_signal(signal.SIGINT)
        out, _ = ping.communicate(timeout=10)
        stats = next((line for line in out.splitlines() if "packets transmitted" in line), "")
        if stats:
            count.sent, count.received = int(stats.split()[0]), int(stats.split()[3])
