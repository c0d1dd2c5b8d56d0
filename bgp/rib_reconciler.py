"""ExaBGP's adj-rib-out compared with what was announced, and the confirmed differences repaired.

Acks can go missing under load, so what was announced is not proof that ExaBGP holds it. Every
so often, and once quiet after an ack went missing, the reconciler asks ExaBGP what each
established peer's adj-rib-out holds. ExaBGP moves a route there only once it has sent it, so a
difference counts only when a second look ``confirm_after`` seconds later shows it again: a
burst still on its way is not a loss. Each session is expected to hold the families it carries:
what its OPEN negotiated (an IPv4 session whose ToR did not activate IPv6 carries IPv4 only),
else what we offered (``fabric.render.exabgp.session_versions``). A route of a family the
session did not negotiate is neither missing nor extra, whether ExaBGP holds it or not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bgp import exabgp_api
from bgp.announcer import Announcer

log = logging.getLogger("fabric.injector")

RECONCILE_SECONDS = 60.0
QUIET_SECONDS = 3.0  # no lines written for this long before we look at ExaBGP's RIB

Differences = tuple[set[str], set[str]]  # missing, extra


@dataclass
class Counts:
    runs: int = 0
    missing: int = 0
    extra: int = 0


@dataclass
class RibReconciler:
    announcer: Announcer
    established: Callable[[], dict[str, frozenset[int]]]  # peer -> the families (4, 6) it carries
    stopping: threading.Event
    every: float = RECONCILE_SECONDS
    counts: Counts = field(default_factory=Counts)
    due: bool = False  # look at the next quiet moment, whatever the time since the last look
    last_write: float = 0.0  # when a line last went to ExaBGP (monotonic)
    _last_run: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rib: dict[str, set[str]] | None = None  # filled by the reader while a show runs

    def route_seen(self, event: exabgp_api.RibRoute) -> None:
        """One route line of a ``show adj-rib out`` answer (the reader's thread)."""
        with self._lock:
            if self._rib is not None:
                self._rib.setdefault(event.peer, set()).add(event.prefix)

    def adj_rib_out(self) -> dict[str, set[str]] | None:
        """Each peer's adj-rib-out as ExaBGP holds it; None if ExaBGP did not answer."""
        window = self.announcer.window
        if not window.drain():
            return None
        held: dict[str, set[str]] = {}
        with self._lock:
            self._rib = held
        try:
            self.announcer.write([exabgp_api.SHOW_ADJ_RIB_OUT])
            answered = window.drain()  # its ``done`` comes after the last route line
        finally:
            with self._lock:
                self._rib = None
        return held if answered else None

    def differences(self, expected: frozenset[str]) -> Differences | None:
        held = self.adj_rib_out()
        if held is None:
            return None
        missing: set[str] = set()
        extra: set[str] = set()
        for peer, versions in self.established().items():
            missing |= _of_families(expected, versions) - held.get(peer, set())
            extra |= held.get(peer, set()) - expected
        return missing, extra

    def reconcile(self, confirm_after: float = QUIET_SECONDS) -> tuple[int, int]:
        """Repair the differences seen twice; (missing, extra) repaired."""
        expected = self.announcer.announced
        first = self.differences(expected)
        if first is None or first == (set(), set()):
            return (0, 0)
        self.stopping.wait(confirm_after)
        if self.announcer.announced != expected:
            return (0, 0)  # things moved meanwhile: the next round looks again
        second = self.differences(expected)
        if second is None:
            return (0, 0)
        missing, extra = first[0] & second[0], first[1] & second[1]
        self.announcer.repair(missing, extra)
        if missing or extra:
            self.last_write = time.monotonic()
            log.warning(
                "adj-rib-out reconcile: %d missing, %d extra: repaired", len(missing), len(extra)
            )
        self.counts.missing += len(missing)
        self.counts.extra += len(extra)
        return (len(missing), len(extra))

    def if_due(self) -> None:
        """Reconcile when it is time (or asked for), ExaBGP has been quiet and a peer is up."""
        now = time.monotonic()
        quiet = now - self.last_write >= QUIET_SECONDS
        due = self.due or now - self._last_run >= self.every
        if not (due and quiet and self.established()):
            return
        self.due = False
        missing, extra = self.reconcile()
        self.counts.runs += 1
        log.info(
            "adj-rib-out reconcile %d: %d announced, %d missing, %d extra",
            self.counts.runs, len(self.announcer.announced), missing, extra,
        )  # fmt: skip
        self._last_run = time.monotonic()


def _of_families(prefixes: frozenset[str], versions: frozenset[int]) -> frozenset[str]:
    """The prefixes of those families (4, 6): all of them without a loop when both."""
    if versions == {4, 6}:
        return prefixes
    return frozenset(p for p in prefixes if exabgp_api.version_of(p) in versions)
