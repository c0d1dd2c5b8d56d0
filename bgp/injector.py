"""The route-injection process ExaBGP runs: desired state in, announce/withdraw lines out.

Threads, and why:
- reader: reads ExaBGP's stdin for ever (acks and events). ExaBGP writes with blocking writes
  from its only thread; if we stop reading it freezes whole and the ToR's hold timer flushes
  every route (docs/design/exabgp.md).
- follower: long-polls the API for this host's desired state (``bgp.follower``); on errors it
  keeps what it last knew (fail static) and retries with back-off.
- reporter: sends peer status and the announced routes to the API every few seconds and on
  changes.
- main: makes ExaBGP announce the desired state (``bgp.announcer``, at most ``WINDOW`` lines
  waiting for their ack, ``bgp.ack_window``). An ack that does not come in time is a doubt: the
  next pass replays every desired prefix (replays of unchanged routes send no UPDATE), and the
  adj-rib-out reconciler (``bgp.rib_reconciler``) looks at what ExaBGP really holds once quiet.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bgp import exabgp_api, safety
from bgp.ack_window import AckWindow
from bgp.announcer import Announcer
from bgp.bfd import BfdDaemon
from bgp.follower import WAIT_SECONDS, Follower
from bgp.metrics import InjectorMetrics
from bgp.options import InjectorOptions, InjectorRun
from bgp.rib_reconciler import RibReconciler
from fabric.client.agent import AgentApi
from fabric.client.transport import Access
from fabric.render.exabgp import session_versions

log = logging.getLogger("fabric.injector")

FULL_REPLAY_SECONDS = 300.0
REPORT_SECONDS = 5.0  # peer status to the API at least this often (and on every change)


@dataclass
class PeerState:
    address: str
    asn: int | None = None
    state: str = "connect"
    since: dt.datetime | None = None
    last_error: str | None = None
    received: int = 0
    received6: int = 0  # of ``received``, the IPv6 prefixes
    updates_received: int = 0
    # What the session's OPEN agreed, 4 and/or 6; None until ExaBGP says (or if it never
    # does): then it is taken to carry what we offered.
    versions: frozenset[int] | None = None

    def carries(self) -> frozenset[int]:
        if self.versions is not None:
            return self.versions
        return frozenset(session_versions(self.address))


class Injector:
    def __init__(
        self,
        api: AgentApi,
        out: IO[str],
        inp: IO[str],
        *,
        kernel: Any = None,
        options: InjectorOptions | None = None,
        poll_wait: float = WAIT_SECONDS,
        metrics: InjectorMetrics | None = None,
        bfd_dir: Path | None = None,
    ) -> None:
        self.options = options or InjectorOptions()
        self.bfdd = BfdDaemon(bfd_dir) if bfd_dir is not None else None
        self.metrics = metrics or InjectorMetrics(None)
        self.api, self.inp, self.kernel = api, inp, kernel
        self.stopping = threading.Event()
        self.status_dirty = threading.Event()
        self.routes_dirty = threading.Event()
        self.window = AckWindow(on_lost=self._acks_lost)
        self.announcer = Announcer(out, self.window)
        self.reconciler = RibReconciler(
            self.announcer, self.carried, self.stopping, every=self.options.reconcile_seconds
        )
        self.follower = Follower(api, self.stopping, wait=poll_wait, on_error=self._api_away)
        # What the API and ExaBGP told us, guarded by ``lock`` (its condition wakes the main
        # loop): the desired state, the peers, and what the next pass owes them.
        self.lock = threading.Condition()
        self.desired: set[str] = set()
        self.blocks: set[str] = set()
        self.next_hop6: str | None = None
        self.refused: dict[str, str] = {}
        self.revision: int | None = None
        self.revision_at: float | None = None  # when the newest desired state arrived
        self.peers: dict[str, PeerState] = {}
        self.pending_eor: set[str] = set()
        self.replay = True

    # -- ExaBGP's stdin ------------------------------------------------------
    def read_forever(self) -> None:
        for line in self.inp:
            event = exabgp_api.parse(line)
            if isinstance(event, exabgp_api.Ack):
                self.window.acked(event.ok)
            elif isinstance(event, exabgp_api.StateEvent):
                self._on_state(event)
            elif isinstance(event, exabgp_api.RibRoute):
                self.reconciler.route_seen(event)
            elif isinstance(event, exabgp_api.NegotiatedEvent):
                with self.lock:
                    self.peers.setdefault(event.peer, PeerState(event.peer)).versions = (
                        event.versions
                    )
            elif isinstance(event, exabgp_api.UpdateEvent):
                with self.lock:
                    peer = self.peers.setdefault(event.peer, PeerState(event.peer))
                    peer.received = max(0, peer.received + event.announced - event.withdrawn)
                    peer.received6 = max(0, peer.received6 + event.net6)
                    peer.updates_received += 1
            elif isinstance(event, exabgp_api.Shutdown):
                break
        self.stopping.set()
        with self.lock:
            self.lock.notify_all()

    def _on_state(self, event: exabgp_api.StateEvent) -> None:
        with self.lock:
            peer = self.peers.setdefault(event.peer, PeerState(event.peer))
            peer.asn = event.peer_asn or peer.asn
            peer.state = event.state
            peer.since = dt.datetime.now(dt.UTC)
            if event.state == "up":
                # ExaBGP restarted or the session came back: replay, then EOR.
                self.pending_eor.add(event.peer)
                self.replay = True
            elif event.state == "down":
                peer.last_error = event.reason
                peer.received = peer.received6 = 0
                peer.versions = None  # the next OPEN may agree to something else
            self.lock.notify_all()
        log.info("peer %s %s %s", event.peer, event.state, event.reason or "")
        self.status_dirty.set()

    def established(self) -> set[str]:
        return set(self.carried())

    def carried(self) -> dict[str, frozenset[int]]:
        """The established sessions, each with the families (4, 6) it carries."""
        with self.lock:
            return {a: p.carries() for a, p in self.peers.items() if p.state == "up"}

    def _acks_lost(self, lost: int) -> None:
        """Acks that never came (seen under load): replay everything, then look at the RIB."""
        log.warning("%d ack(s) missing after %.0fs: full replay", lost, self.window.timeout)
        self.metrics.lost_acks.inc(lost)
        with self.lock:
            self.replay = True
        self.reconciler.due = True

    # -- the main loop's pass ------------------------------------------------
    def _without_kernel_route(self, desired: set[str]) -> set[str]:
        """The workload routes to hold back: their container's kernel route is not there."""
        if not (self.options.require_kernel_route and self.kernel is not None):
            return set()
        return {
            p
            for p in safety.workload_routes(desired)
            if p not in self.blocks and not self.kernel.host_route_exists(p)
        }

    def sync_once(self) -> None:
        with self.lock:
            desired, next_hop6 = set(self.desired), self.next_hop6
            replay, self.replay = self.replay, False
            arrived, self.revision_at = self.revision_at, None
            eor, self.pending_eor = set(self.pending_eor), set()
        change = self.announcer.set(
            desired - self._without_kernel_route(desired), replay=replay, next_hop6=next_hop6
        )
        self.metrics.announced.inc(len(change.announced))
        self.metrics.withdrawn.inc(len(change.withdrawn))
        if arrived is not None and change and self.window.drain():
            self.metrics.revision_to_ack.observe(time.monotonic() - arrived)
        if change:
            self.routes_dirty.set()
        if eor:
            self.announcer.end_of_rib(eor)
        if change or eor:
            self.reconciler.last_write = time.monotonic()
            log.info(
                "sync: +%d -%d eor=%s", len(change.announced), len(change.withdrawn), sorted(eor)
            )
            self.status_dirty.set()

    # -- the API side --------------------------------------------------------
    def apply_state(self, state: dict[str, Any]) -> None:
        verdict = safety.check(state, list(self.options.allow))
        for prefix, why in verdict.refused.items():
            if self.refused.get(prefix) != why:
                log.error("refusing to announce %s: %s", prefix, why)
        if self.kernel is not None:
            try:
                self.kernel.reconcile(set(state.get("blocks", [])))
            except Exception:  # a netlink error must not stop announcing
                log.exception("kernel route reconcile failed")
        with self.lock:
            if verdict.refused != self.refused:
                self.routes_dirty.set()
            self.refused = verdict.refused
            self.blocks = set(state.get("blocks", []))
            self.desired = verdict.allowed
            self.next_hop6 = state.get("next_hop6")
            if state.get("advertisements") is not None and self.revision != state["revision"]:
                self.revision_at = time.monotonic()
            self.revision = int(state["revision"])
            self.lock.notify_all()
        self.metrics.last_sync.set_to_current_time()

    def _api_away(self, exc: BaseException) -> None:
        announced = len(self.announcer.announced)
        log.warning("API unreachable (%s); keeping %d routes", type(exc).__name__, announced)

    def follow_forever(self) -> None:
        for state in self.follower.states():
            self.apply_state(state)

    def status(self) -> list[dict[str, Any]]:
        announced = self.announcer.announced
        six = sum(1 for prefix in announced if exabgp_api.version_of(prefix) == 6)
        sent_of = {4: len(announced) - six, 6: six}
        bfd_states = self.bfdd.peers() if self.bfdd is not None else {}
        with self.lock:
            out = []
            for p in self.peers.values():
                up = p.state == "up"
                received_of = {4: p.received - p.received6, 6: p.received6}
                families = {
                    f"ipv{v}": {"sent": sent_of[v], "received": received_of[v]}
                    for v in sorted(p.carries())
                } if up else {}  # fmt: skip
                out.append(
                    {
                        "peer_address": p.address,
                        "peer_asn": p.asn,
                        "state": "established"
                        if up
                        else ("connected" if p.state == "connected" else "down"),
                        "since": p.since.isoformat() if p.since else None,
                        "last_error": p.last_error,
                        "prefixes_sent": sum(f["sent"] for f in families.values()),
                        "prefixes_received": p.received,
                        "updates_received": p.updates_received,
                        "bfd_state": bfd_states.get(p.address),
                        "families": families,
                    }
                )
            return out

    def routes_report(self) -> dict[str, Any]:
        acked = self.window.outstanding == 0
        announced = self.announcer.since()
        with self.lock:
            return {
                "revision": self.revision,
                "announced": announced,
                "refused": dict(self.refused),
                "acked": acked,
            }

    def report_forever(self, every: float = REPORT_SECONDS) -> None:
        while not self.stopping.is_set():
            self.status_dirty.wait(every)
            self.status_dirty.clear()
            try:
                self.api.report(self.status(), every)
            except Exception as exc:
                log.warning("status report failed (%s)", type(exc).__name__)
            self.metrics.write()
            if self.routes_dirty.is_set():
                self.routes_dirty.clear()
                try:
                    body = self.routes_report()
                    self.api.report_routes(body)
                    if not body["acked"]:  # say so again once ExaBGP has acked everything
                        self.routes_dirty.set()
                except Exception as exc:  # next change, or the next round, tries again
                    self.routes_dirty.set()
                    log.warning("routes report failed (%s)", type(exc).__name__)
            time.sleep(0.2)  # coalesce bursts of events

    def run(self) -> None:
        for target in (self.read_forever, self.follow_forever, self.report_forever):
            threading.Thread(target=target, daemon=True, name=target.__name__).start()
        last_full = time.monotonic()
        while not self.stopping.is_set():
            with self.lock:
                self.lock.wait(timeout=1.0)
            if time.monotonic() - last_full > FULL_REPLAY_SECONDS:
                with self.lock:
                    self.replay = True
                last_full = time.monotonic()
            try:
                self.sync_once()
                self.reconciler.if_due()
            except BrokenPipeError:
                break
            except Exception:  # the loop never dies on one error
                log.exception("sync failed; retrying")


def main(argv: list[str] | None = None) -> None:
    run = InjectorRun.parse(argv)
    logging.basicConfig(
        filename=run.log_file, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per long-poll
    kernel = None
    if run.options.kernel:
        from pyroute2 import IPRoute

        from bgp.kernel import RouteTable

        kernel = RouteTable(IPRoute())
    api = AgentApi(run.api, run.host, access=Access.load(None, run.token_file, run.ca_file))
    Injector(
        api, sys.stdout, sys.stdin, kernel=kernel, options=run.options, bfd_dir=run.bfd_dir,
        metrics=InjectorMetrics(run.log_file.parent if run.log_file else None),
    ).run()  # fmt: skip


if __name__ == "__main__":
    main()
