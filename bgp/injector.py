"""The route-injection process ExaBGP runs: desired state in, announce/withdraw lines out.

Threads, and why:
- reader: reads ExaBGP's stdin for ever (acks and events). ExaBGP writes with
  blocking writes from its only thread; if we stop reading it freezes whole and
  the ToR's hold timer flushes every route.
- follower: long-polls the API for this host's desired state; on errors it
  keeps what it last knew (fail static) and retries with back-off.
- reporter: sends peer status to the API every few seconds and on changes.
- main: reconciles desired vs announced and writes the minimal lines, with at
  most ``WINDOW`` lines waiting for their ack. An ack that does not come in
  time (seen under load) is a doubt: the window is reset and the next pass
  replays every desired prefix (replays of unchanged routes send no UPDATE).
  Every ``reconcile_every`` seconds, and once quiet after any such doubt, it
  asks ExaBGP what each established peer's adj-rib-out holds and repairs the
  difference with the announced set. ExaBGP moves a route into its adj-rib-out
  only once it has sent it, so a difference counts only if a second look a few
  seconds later confirms it: a burst still on its way is not a loss.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bgp import exabgp_api, safety
from bgp.api_client import AgentApi
from bgp.metrics import InjectorMetrics
from fabric.http import Access

log = logging.getLogger("fabric.injector")

WINDOW = 4
ACK_TIMEOUT = 10.0
FULL_REPLAY_SECONDS = 300.0
RECONCILE_SECONDS = 60.0
QUIET_SECONDS = 3.0  # no lines written for this long before we look at ExaBGP's RIB


@dataclass
class PeerState:
    address: str
    asn: int | None = None
    state: str = "connect"
    since: dt.datetime | None = None
    last_error: str | None = None
    received: int = 0
    updates_received: int = 0


class Injector:
    def __init__(
        self,
        api: AgentApi,
        out: IO[str],
        inp: IO[str],
        *,
        kernel: Any = None,
        require_kernel_route: bool = False,
        allow: list[str] | None = None,
        poll_wait: float = 30.0,
        reconcile_every: float = RECONCILE_SECONDS,
        metrics: InjectorMetrics | None = None,
    ) -> None:
        self.metrics = metrics or InjectorMetrics(None)
        self.revision_at: float | None = None  # when the newest desired state arrived
        self.api, self.out, self.inp = api, out, inp
        self.kernel, self.require_kernel_route = kernel, require_kernel_route
        self.allow = allow or []
        self.poll_wait = poll_wait
        self.lock = threading.Condition()
        self.desired: set[str] = set()
        self.blocks: set[str] = set()
        self.announced: set[str] = set()
        self.since: dict[str, str] = {}  # prefix -> when it was first announced (ISO)
        self.routes_dirty = threading.Event()
        self.peers: dict[str, PeerState] = {}
        self.pending_eor: set[str] = set()
        self.replay = True
        self.refused: dict[str, str] = {}
        self.revision: int | None = None
        self.stopping = threading.Event()
        self.status_dirty = threading.Event()
        self._window = threading.Semaphore(WINDOW)
        self._outstanding = 0
        self._acks_lock = threading.Lock()
        self.acks = {"done": 0, "error": 0, "lost": 0}
        self.reconcile_every = reconcile_every
        self.reconcile_due = False
        self.last_write = 0.0
        self._rib: dict[str, set[str]] | None = None  # filled by the reader during a show
        self.reconciled = {"runs": 0, "missing": 0, "extra": 0}

    # -- ExaBGP's stdin ------------------------------------------------------
    def read_forever(self) -> None:
        for line in self.inp:
            event = exabgp_api.parse(line)
            if isinstance(event, exabgp_api.Ack):
                self._on_ack(event.ok)
            elif isinstance(event, exabgp_api.StateEvent):
                self._on_state(event)
            elif isinstance(event, exabgp_api.RibRoute):
                with self._acks_lock:
                    if self._rib is not None:
                        self._rib.setdefault(event.peer, set()).add(event.prefix)
            elif isinstance(event, exabgp_api.UpdateEvent):
                with self.lock:
                    peer = self.peers.setdefault(event.peer, PeerState(event.peer))
                    peer.received = max(0, peer.received + event.announced - event.withdrawn)
                    peer.updates_received += 1
            elif isinstance(event, exabgp_api.Shutdown):
                break
        self.stopping.set()
        with self.lock:
            self.lock.notify_all()

    def _on_ack(self, ok: bool) -> None:
        with self._acks_lock:
            self.acks["done" if ok else "error"] += 1
            if self._outstanding > 0:
                self._outstanding -= 1
                self._window.release()

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
                peer.received = 0
            self.lock.notify_all()
        log.info("peer %s %s %s", event.peer, event.state, event.reason or "")
        self.status_dirty.set()

    # -- writing lines -------------------------------------------------------
    def _give_up_on_acks(self) -> None:
        """Acks that never came (seen under load): forget them, and replay everything next."""
        with self._acks_lock:
            log.warning(
                "%d ack(s) missing after %.0fs: full replay", self._outstanding, ACK_TIMEOUT
            )
            self.acks["lost"] += self._outstanding
            self.metrics.lost_acks.inc(self._outstanding)
            self._window = threading.Semaphore(WINDOW)
            self._outstanding = 0
        with self.lock:
            self.replay = True
            self.reconcile_due = True

    def _send(self, line: str) -> None:
        if not self._window.acquire(timeout=ACK_TIMEOUT):
            self._give_up_on_acks()
            self._window.acquire()
        with self._acks_lock:
            self._outstanding += 1
        self.out.write(line + "\n")
        self.out.flush()

    def _drain(self) -> bool:
        """Wait until every line written so far has its ack; False if given up."""
        deadline = time.monotonic() + ACK_TIMEOUT
        while time.monotonic() < deadline:
            with self._acks_lock:
                if self._outstanding == 0:
                    return True
            time.sleep(0.005)
        self._give_up_on_acks()
        return False

    def sync_once(self) -> None:
        with self.lock:
            desired = set(self.desired)
            replay, self.replay = self.replay, False
            arrived, self.revision_at = self.revision_at, None
            eor, self.pending_eor = set(self.pending_eor), set()
        if self.require_kernel_route and self.kernel is not None:
            missing = {
                p
                for p in safety.workload_routes(desired)
                if p not in self.blocks and not self.kernel.host_route_exists(p)
            }
            desired -= missing
        withdraw = self.announced - desired
        announce = desired if replay else desired - self.announced
        for line in exabgp_api.withdraw_lines(withdraw):
            self._send(line)
        for line in exabgp_api.announce_lines(announce):
            self._send(line)
        self.announced = desired
        self.metrics.announced.inc(len(announce))
        self.metrics.withdrawn.inc(len(withdraw))
        if arrived is not None and (withdraw or announce) and self._drain():
            self.metrics.revision_to_ack.observe(time.monotonic() - arrived)
        if withdraw or announce:
            now = dt.datetime.now(dt.UTC).isoformat()
            self.since = {p: self.since.get(p, now) for p in desired}
            self.routes_dirty.set()
        if eor:
            self._drain()
            for peer in sorted(eor):
                for line in exabgp_api.eor_lines(peer):
                    self._send(line)
        if withdraw or announce or eor:
            self.last_write = time.monotonic()
            log.info("sync: +%d -%d eor=%s", len(announce), len(withdraw), sorted(eor))
            self.status_dirty.set()

    # -- what ExaBGP really holds ------------------------------------------
    def _established(self) -> set[str]:
        with self.lock:
            return {a for a, p in self.peers.items() if p.state == "up"}

    def _adj_rib_out(self) -> dict[str, set[str]] | None:
        """Each peer's adj-rib-out as ExaBGP holds it; None if ExaBGP did not answer."""
        if not self._drain():
            return None
        held: dict[str, set[str]] = {}
        with self._acks_lock:
            self._rib = held
        try:
            self._send(exabgp_api.SHOW_ADJ_RIB_OUT)
            answered = self._drain()  # its ``done`` comes after the last route line
        finally:
            with self._acks_lock:
                self._rib = None
        return held if answered else None

    def _differences(self, expected: set[str]) -> tuple[set[str], set[str]] | None:
        held = self._adj_rib_out()
        if held is None:
            return None
        missing: set[str] = set()
        extra: set[str] = set()
        for peer in self._established():
            missing |= expected - held.get(peer, set())
            extra |= held.get(peer, set()) - expected
        return missing, extra

    def reconcile(self, confirm_after: float = QUIET_SECONDS) -> tuple[int, int]:
        """Repair confirmed differences between ExaBGP's adj-rib-out and what we announced."""
        expected = set(self.announced)
        first = self._differences(expected)
        if first is None or first == (set(), set()):
            return (0, 0)
        self.stopping.wait(confirm_after)
        if self.announced != expected:
            return (0, 0)  # things moved meanwhile: the next round looks again
        second = self._differences(expected)
        if second is None:
            return (0, 0)
        missing, extra = first[0] & second[0], first[1] & second[1]
        for line in exabgp_api.withdraw_lines(extra):
            self._send(line)
        for line in exabgp_api.announce_lines(missing):
            self._send(line)
        if missing or extra:
            self.last_write = time.monotonic()
            log.warning(
                "adj-rib-out reconcile: %d missing, %d extra: repaired", len(missing), len(extra)
            )
        self.reconciled["missing"] += len(missing)
        self.reconciled["extra"] += len(extra)
        return (len(missing), len(extra))

    def _reconcile_if_due(self, last: float) -> float:
        now = time.monotonic()
        quiet = now - self.last_write >= QUIET_SECONDS
        due = self.reconcile_due or now - last >= self.reconcile_every
        if not (due and quiet and self._established()):
            return last
        self.reconcile_due = False
        missing, extra = self.reconcile()
        self.reconciled["runs"] += 1
        log.info(
            "adj-rib-out reconcile %d: %d announced, %d missing, %d extra",
            self.reconciled["runs"], len(self.announced), missing, extra,
        )  # fmt: skip
        return time.monotonic()

    # -- the API side --------------------------------------------------------
    def apply_state(self, state: dict[str, Any]) -> None:
        verdict = safety.check(state, self.allow)
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
            if state.get("advertisements") is not None and self.revision != state["revision"]:
                self.revision_at = time.monotonic()
            self.revision = int(state["revision"])
            self.lock.notify_all()
        self.metrics.last_sync.set_to_current_time()

    def follow_forever(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                state = self.api.advertisements(self.revision, self.poll_wait)
            except Exception as exc:  # fail static: keep announcing what we know
                log.warning(
                    "API unreachable (%s); keeping %d routes",
                    type(exc).__name__,
                    len(self.announced),
                )
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            self.apply_state(state)

    def status(self) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for p in self.peers.values():
                up = p.state == "up"
                out.append(
                    {
                        "peer_address": p.address,
                        "peer_asn": p.asn,
                        "state": "established"
                        if up
                        else ("connected" if p.state == "connected" else "down"),
                        "since": p.since.isoformat() if p.since else None,
                        "last_error": p.last_error,
                        "prefixes_sent": len(self.announced) if up else 0,
                        "prefixes_received": p.received,
                        "updates_received": p.updates_received,
                    }
                )
            return out

    def routes_report(self) -> dict[str, Any]:
        with self._acks_lock:
            acked = self._outstanding == 0
        with self.lock:
            return {
                "revision": self.revision,
                "announced": {p: self.since[p] for p in self.announced if p in self.since},
                "refused": dict(self.refused),
                "acked": acked,
            }

    def report_forever(self, every: float = 5.0) -> None:
        while not self.stopping.is_set():
            self.status_dirty.wait(every)
            self.status_dirty.clear()
            try:
                self.api.report(self.status())
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
        last_full = last_reconcile = time.monotonic()
        while not self.stopping.is_set():
            with self.lock:
                self.lock.wait(timeout=1.0)
            if time.monotonic() - last_full > FULL_REPLAY_SECONDS:
                self.replay, last_full = True, time.monotonic()
            try:
                self.sync_once()
                last_reconcile = self._reconcile_if_due(last_reconcile)
            except BrokenPipeError:
                break
            except Exception:  # the loop never dies on one error
                log.exception("sync failed; retrying")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="routed-fabric route injection (run by ExaBGP)")
    parser.add_argument("--api", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--log-file")
    parser.add_argument("--token-file", type=Path, help="the agent's API token")
    parser.add_argument("--ca-file", type=Path, help="CA to verify the API's TLS certificate")
    parser.add_argument("--no-kernel", action="store_true", help="do not program blackholes")
    parser.add_argument("--require-kernel-route", action="store_true")
    parser.add_argument("--allow", action="append", default=[])
    parser.add_argument(
        "--reconcile-seconds", type=float, default=RECONCILE_SECONDS,
        help="how often to compare ExaBGP's adj-rib-out with what was announced",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(
        filename=args.log_file, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per long-poll
    kernel = None
    if not args.no_kernel:
        from pyroute2 import IPRoute

        from bgp.kernel import RouteTable

        kernel = RouteTable(IPRoute())
    api = AgentApi(args.api, args.host, access=Access.load(None, args.token_file, args.ca_file))
    Injector(
        api, sys.stdout, sys.stdin, kernel=kernel,
        require_kernel_route=args.require_kernel_route, allow=args.allow,
        reconcile_every=args.reconcile_seconds,
        metrics=InjectorMetrics(Path(args.log_file).parent if args.log_file else None),
    ).run()  # fmt: skip


if __name__ == "__main__":
    main()
