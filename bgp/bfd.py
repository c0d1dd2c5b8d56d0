"""The host's BFD responder: FRR's bfdd on its own, beside ExaBGP, from the same speaker config.

ExaBGP has no BFD (Exa-Networks/exabgp#1037). FRR's bfdd runs without zebra or bgpd (one
process, its own vty socket in the agent's state directory) and answers the ToR's BFD sessions;
a host that hangs or is cut off then loses its routes at the ToR in detect-multiplier ×
interval (3 × 300 ms), not in the BGP hold time.

bfdd is left running when the agent stops: a planned agent restart must not take BFD down (the
ToR would drop the host's routes at once), graceful restart covers ExaBGP's own restart. The
next agent adopts it by its pid file and applies its configuration without restarting it
(``frr-reload.py --daemon bfdd``), so unchanged sessions never flap.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgp.frr import FRR_BIN, FRR_RELOAD, FRR_USER
from fabric.render.exabgp import Speaker


def render(speaker: Speaker) -> str:
    """bfdd's configuration: one single-hop peer per speaker peer with a BFD profile."""
    lines = ["bfd"]
    for p in speaker.peers:
        if p.bfd_multiplier is None:
            continue
        lines += [
            f" peer {p.address} local-address {speaker.address}",
            f"  detect-multiplier {p.bfd_multiplier}",
            f"  receive-interval {p.bfd_receive_ms}",
            f"  transmit-interval {p.bfd_transmit_ms}",
            " exit",
        ]
    return "\n".join([*lines, "exit", ""])


def wanted(speaker: Speaker) -> bool:
    return any(p.bfd_multiplier is not None for p in speaker.peers)


@dataclass
class BfdDaemon:
    run: Path  # bfdd's directory: its config, pid file, vty socket and log

    @property
    def conf(self) -> Path:
        return self.run / "bfdd.conf"

    @property
    def pidfile(self) -> Path:
        return self.run / "bfdd.pid"

    def pid(self) -> int | None:
        """bfdd's PID if it runs (its pid file, and /proc says it is bfdd)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError):
            return None
        return pid if comm == "bfdd" else None

    def ensure(self, config: str) -> str:
        """bfdd running with ``config``: started if it is not, else the difference applied
        (nothing when it runs with that config already: the agent asks on every change of its
        host, an allocation included). What it did, for the log."""
        running = self.pid() is not None
        if running and self.conf.exists() and self.conf.read_text() == config:
            return "unchanged"
        self.run.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.run, FRR_USER, FRR_USER)
        self.conf.write_text(config)
        shutil.chown(self.conf, FRR_USER, FRR_USER)
        if not running:
            self._start()
            return "started"
        self._reload()
        return "reloaded"

    def _start(self) -> None:
        subprocess.run(
            [str(FRR_BIN / "bfdd"), "-d", "-u", FRR_USER, "-g", FRR_USER, "-f", str(self.conf),
             "-i", str(self.pidfile), "--vty_socket", str(self.run),
             "--bfdctl", str(self.run / "bfdd.sock"), "-z", str(self.run / "zserv.api"),
             "--log", f"file:{self.run / 'bfdd.log'}"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    def _reload(self) -> None:
        run = str(self.run)
        subprocess.run(
            [str(FRR_RELOAD), "--reload", "--daemon", "bfdd", "--vty_socket", run,
             "--confdir", run, "--rundir", run, str(self.conf)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def peers(self) -> dict[str, str]:
        """Each BFD peer's state as bfdd has it (up, down, init, …); empty when bfdd is not
        running or does not answer."""
        if self.pid() is None:
            return {}
        try:
            out = subprocess.run(
                ["vtysh", "--vty_socket", str(self.run), "-c", "show bfd peers json"],
                capture_output=True, text=True, timeout=5, check=True,
            ).stdout  # fmt: skip
            rows: list[dict[str, Any]] = json.loads(out or "[]")
        except (OSError, subprocess.SubprocessError, ValueError):
            return {}
        return {str(r["peer"]): str(r["status"]) for r in rows if "peer" in r}
