"""The adj-rib-out reconciler against a scripted ExaBGP pipe (``fake_exabgp``): ExaBGP's RIB is
asked twice, and only what both looks show differs from the announced set is repaired."""

from __future__ import annotations

import threading

import pytest

from bgp import exabgp_api
from bgp.ack_window import AckWindow
from bgp.announcer import Announcer
from bgp.rib_reconciler import Counts, RibReconciler
from tests.bgp.fake_exabgp import PEER, FakeExabgp

ROUTES = {f"10.100.0.{i}/32" for i in range(1, 120)}


def read(fake: FakeExabgp, window: AckWindow, reconciler: RibReconciler) -> None:
    for line in fake.injector_in:
        event = exabgp_api.parse(line)
        if isinstance(event, exabgp_api.Ack):
            window.acked(event.ok)
        elif isinstance(event, exabgp_api.RibRoute):
            reconciler.route_seen(event)


def start(fake: FakeExabgp, desired: set[str]) -> RibReconciler:
    window = AckWindow(timeout=2.0)
    announcer = Announcer(fake.injector_out, window)
    reconciler = RibReconciler(announcer, lambda: {PEER: frozenset({4, 6})}, threading.Event())
    threading.Thread(target=read, args=(fake, window, reconciler), daemon=True).start()
    announcer.set(desired)
    assert window.drain()
    return reconciler


@pytest.fixture
def speaker() -> FakeExabgp:
    return FakeExabgp()


def test_nothing_to_repair_when_exabgp_holds_what_we_announced(speaker: FakeExabgp) -> None:
    rec = start(speaker, ROUTES)
    written = len(speaker.lines)
    assert rec.reconcile(confirm_after=0.1) == (0, 0)
    assert speaker.lines[written:] == [exabgp_api.SHOW_ADJ_RIB_OUT]


def test_lost_and_stray_routes_are_repaired(speaker: FakeExabgp) -> None:
    rec = start(speaker, ROUTES)
    lost = {"10.100.0.5/32", "10.100.0.77/32"}
    stray = "10.100.9.9/32"
    speaker.rib -= lost
    speaker.rib.add(stray)
    assert rec.reconcile(confirm_after=0.1) == (2, 1)
    assert rec.announcer.window.drain()
    assert speaker.rib == ROUTES
    assert rec.counts == Counts(runs=0, missing=2, extra=1)
    assert rec.announcer.announced == ROUTES  # a repair does not change what is announced


def test_routes_still_on_their_way_are_not_taken_for_lost() -> None:
    slow = FakeExabgp(delay=0.3)
    rec = start(slow, ROUTES)
    assert slow.rib == set()  # acked, not yet "sent"
    written = len(slow.lines)
    assert rec.reconcile(confirm_after=0.6) == (0, 0)
    assert all(line == exabgp_api.SHOW_ADJ_RIB_OUT for line in slow.lines[written:])


def test_a_difference_seen_once_is_left_alone_when_the_announced_set_moved(
    speaker: FakeExabgp,
) -> None:
    rec = start(speaker, ROUTES)
    speaker.rib.discard("10.100.0.9/32")
    threading.Timer(0.05, lambda: rec.announcer.set(ROUTES - {"10.100.0.9/32"})).start()
    assert rec.reconcile(confirm_after=0.3) == (0, 0)


def test_no_answer_from_exabgp_repairs_nothing(speaker: FakeExabgp) -> None:
    rec = start(speaker, ROUTES)
    speaker.rib.discard("10.100.0.9/32")
    rec.announcer.window.timeout = 0.2
    speaker.silent = 1  # the show's own ack never comes
    assert rec.reconcile(confirm_after=0.1) == (0, 0)
    assert rec.announcer.window.counts["lost"] == 1


def test_if_due_waits_for_quiet_and_for_an_established_peer(speaker: FakeExabgp) -> None:
    rec = start(speaker, ROUTES)
    rec.due = True
    rec.established = dict  # no peer up: nothing to compare
    rec.if_due()
    assert rec.counts.runs == 0 and rec.due
    rec.established = lambda: {PEER: frozenset({4, 6})}
    rec.last_write = 1e12  # a line just went out: not quiet
    rec.if_due()
    assert rec.counts.runs == 0
    rec.last_write = 0.0
    rec.if_due()
    assert rec.counts.runs == 1 and not rec.due
