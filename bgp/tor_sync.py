"""``fabricctl tor-sync``: a router's configuration kept in step with IPAM, without hands.

With prefix filters on, a block a host claims after the last push is dropped by its ToR until
the filter is pushed again. tor-sync follows the router's rendered configuration by long-poll
(``GET /v1/routers/{name}/config`` with the digest it applied last: the API answers when the
rendering differs, or the wait is over) and, on a change, applies it: FRR with
``frr-reload.py --reload`` (the difference, released prefixes included, which ``vtysh -b`` would
leave) then ``clear bgp * soft in`` (hosts resend what the old filter dropped); BIRD with
``birdc configure``. It then checks the router took it (FRR: its prefix-lists are exactly the
rendered ones; BIRD: the reconfiguration was accepted) and reports the applied digest
(``PUT /v1/routers/{name}/applied``): ``fabricctl router list`` shows applied against desired.

A config that fails to apply or to verify is reported as the error it was, never as applied,
and the last good one is applied again: the router is never left half-changed. Without the API
the router keeps what it has; killing tor-sync changes nothing on the router.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bgp.follower import LongPoll
from bgp.frr import FRR_RELOAD
from fabric.client.router import Rendered, RouterApi

log = logging.getLogger("fabric.tor_sync")
RETRY_SECONDS = 30.0  # a rendering the router refused is offered to it again this late


class ApplyFailed(Exception):
    """The router did not take a configuration; the sentence says what it answered."""


class Applier(Protocol):
    def apply(self, text: str) -> None: ...

    def verify(self, text: str) -> None: ...

    def accepted(self) -> dict[str, list[str]]: ...


def _run(argv: Sequence[str], what: str) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ApplyFailed(f"{what} failed ({proc.returncode}): {' / '.join(tail)}"[:250])
    return proc.stdout


def _candidate(config: Path, text: str) -> Path:
    """``text`` beside ``config`` as a hidden file, readable by the router's group only (it
    holds BGP passwords): what is applied, then takes the config's place."""
    candidate = config.with_name(f".{config.name}.new")
    candidate.write_text(text)
    candidate.chmod(0o640)
    return candidate


def prefix_lists(text: str) -> set[str]:
    """The prefix-list entries of an FRR configuration, as ``show running-config`` prints them."""
    return {
        " ".join(line.split())
        for line in text.splitlines()
        if line.startswith(("ip prefix-list ", "ipv6 prefix-list "))
    }


@dataclass
class FrrApplier:
    """An FRR router's integrated config file, applied by ``frr-reload.py``; ``vty_socket``:
    the daemons' vty directory when it is not FRR's default (a lab's namespace)."""

    config: Path
    vty_socket: Path | None = None
    frr_reload: Path = FRR_RELOAD

    def _vty(self) -> list[str]:
        if self.vty_socket is None:
            return []
        run = str(self.vty_socket)
        return ["--vty_socket", run, "--confdir", str(self.config.parent), "--rundir", run]

    def _vtysh(self, command: str) -> str:
        socket = ["--vty_socket", str(self.vty_socket)] if self.vty_socket else []
        return _run(["vtysh", *socket, "-c", command], f"vtysh -c '{command}'")

    def apply(self, text: str) -> None:
        candidate = _candidate(self.config, text)
        try:
            _run([str(self.frr_reload), "--reload", *self._vty(), str(candidate)], "frr-reload.py")
        finally:
            candidate.replace(self.config)  # what is loaded, for the next reload's difference
        self._vtysh("clear bgp * soft in")

    def accepted(self) -> dict[str, list[str]]:
        """The router's BGP table: each neighbour's prefixes that passed its filter."""
        out: dict[str, set[str]] = {}
        for afi in ("ipv4", "ipv6"):
            table = json.loads(self._vtysh(f"show bgp {afi} unicast json") or "{}")
            for prefix, paths in table.get("routes", {}).items():
                for path in paths:
                    peer = path.get("peerId", "")
                    if peer and peer[0].isalnum():  # "(unspec)": the router's own
                        out.setdefault(peer, set()).add(prefix)
        return {peer: sorted(prefixes) for peer, prefixes in out.items()}

    def verify(self, text: str) -> None:
        want, have = prefix_lists(text), prefix_lists(self._vtysh("show running-config"))
        if want != have:
            missing, extra = sorted(want - have)[:3], sorted(have - want)[:3]
            raise ApplyFailed(f"the router's prefix-lists differ: missing {missing}, extra {extra}")


@dataclass
class BirdApplier:
    """A BIRD router's config file (the one BIRD was started with), reconfigured by birdc."""

    config: Path
    socket: Path | None = None
    _answer: str = field(default="", init=False)  # birdc's answer to the last configure

    def _birdc(self, *args: str) -> str:
        socket = ["-s", str(self.socket)] if self.socket else []
        return _run(["birdc", *socket, *args], f"birdc {' '.join(args)}")

    def apply(self, text: str) -> None:
        candidate = _candidate(self.config, text)
        checked = self._birdc("configure", "check", f'"{candidate}"')
        if "Configuration OK" not in checked:
            raise ApplyFailed(f"BIRD refused the configuration: {checked.strip()[-200:]}")
        candidate.replace(self.config)
        self._answer = self._birdc("configure")

    def accepted(self) -> dict[str, list[str]]:
        """BIRD's routes by the neighbour they came through (``via``), its own left out."""
        out: dict[str, set[str]] = {}
        prefix = None
        for line in self._birdc("show", "route").splitlines():
            words = line.split()
            if words and "/" in words[0] and "[" in line:
                prefix = words[0] if "[host_" in line or "[router_" in line else None
            elif prefix and len(words) >= 2 and words[0] == "via":
                out.setdefault(words[1], set()).add(prefix)
        return {peer: sorted(prefixes) for peer, prefixes in out.items()}

    def verify(self, text: str) -> None:
        answer = self._answer
        if "Reconfigured" not in answer and "Reconfiguration in progress" not in answer:
            raise ApplyFailed(f"BIRD did not reconfigure: {answer.strip()[-200:]}")


class TorSync:
    def __init__(
        self, api: RouterApi, applier: Applier, stopping: threading.Event, *, wait: float = 30.0
    ) -> None:
        self.api, self.applier, self.stopping, self.wait = api, applier, stopping, wait
        self.applied: Rendered | None = None  # the last configuration the router took
        self.refused: tuple[str, float] | None = None  # the digest it refused last, and when

    def _poll(self) -> Rendered:
        # After a refusal, wait for a rendering other than the refused one (or the wait).
        have = self.applied.digest if self.applied else None
        digest = self.refused[0] if self.refused else have
        return self.api.config(digest=digest, wait=self.wait if digest else 0)

    def step(self, rendered: Rendered) -> bool:
        """Apply ``rendered`` unless it is what the router has (or refused a moment ago);
        whether it changed the router."""
        if self.applied is not None and rendered.digest == self.applied.digest:
            self.refused = None
            return False
        if self.refused and self.refused[0] == rendered.digest:
            if time.monotonic() - self.refused[1] < RETRY_SECONDS:
                return False
        try:
            self.applier.apply(rendered.text)
            self.applier.verify(rendered.text)
        except (ApplyFailed, OSError, subprocess.SubprocessError) as exc:
            why = str(exc) or type(exc).__name__
            log.error("revision %d not applied: %s", rendered.revision, why)
            self.refused = (rendered.digest, time.monotonic())
            self._restore()
            self.api.report(rendered, error=why)
            return False
        self.applied, self.refused = rendered, None
        self.api.report(rendered)
        log.info("applied revision %d (%s)", rendered.revision, rendered.digest[:12])
        return True

    def report_accepted(self) -> None:
        """What the router accepted, for ``ip show`` (each answer of the long-poll: a change
        or the wait elapsed)."""
        if self.applied is None:
            return
        try:
            accepted = self.applier.accepted()
        except (ApplyFailed, OSError, subprocess.SubprocessError, ValueError) as exc:
            log.warning("could not read what the router accepted: %s", exc)
            return
        self.api.report(self.applied, accepted=accepted)

    def _restore(self) -> None:
        if self.applied is None:
            return
        try:
            self.applier.apply(self.applied.text)
        except (ApplyFailed, OSError, subprocess.SubprocessError) as exc:
            log.error("could not apply the last good configuration again: %s", exc)

    def run(self) -> None:
        def away(exc: BaseException) -> None:
            log.warning("API unreachable (%s); the router keeps its configuration",
                        type(exc).__name__)  # fmt: skip

        for rendered in LongPoll(self._poll, self.stopping, on_error=away).answers():
            try:
                self.step(rendered)
                self.report_accepted()
            except Exception as exc:  # a report that failed: the next answer tries again
                log.warning("tor-sync step failed (%s); retrying", type(exc).__name__)
                self.stopping.wait(1.0)
