"""The injector's own job, its parts wired together, against a scripted ExaBGP pipe: desired state
in, the right lines out; a session coming up brings a replay and End-of-RIB after it; acks that
never come bring a replay and a look at the RIB; refusals are reported, never announced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bgp import exabgp_api
from bgp.injector import Injector
from bgp.options import InjectorOptions
from tests.bgp.fake_exabgp import PEER, FakeExabgp

BLOCK = "10.100.0.0/26"
POD = "10.100.0.5/32"


def state(revision: int, *adverts: tuple[str, str], blocks: tuple[str, ...] = (BLOCK,)) -> dict[str, Any]:
    return {
        "revision": revision,
        "blocks": list(blocks),
        "advertisements": [{"prefix": p, "kind": k} for p, k in adverts],
    }


def wait_until(what: str, check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.fixture
def wired() -> tuple[Injector, FakeExabgp]:
    fake = FakeExabgp()
    inj = Injector(api=None, out=fake.injector_out, inp=fake.injector_in,  # type: ignore[arg-type]
                   options=InjectorOptions(allow=("10.100.0.0/16",)))  # fmt: skip
    threading.Thread(target=inj.read_forever, daemon=True).start()
    return inj, fake


def up(inj: Injector, fake: FakeExabgp) -> None:
    fake.say({"type": "state", "neighbor": {"address": {"peer": PEER}, "state": "up"}})
    wait_until("the session is up", lambda: inj.established() == {PEER})


def test_a_session_up_replays_then_sends_end_of_rib(wired: tuple[Injector, FakeExabgp]) -> None:
    inj, fake = wired
    inj.apply_state(state(1, (BLOCK, "block"), (POD, "workload")))
    inj.sync_once()
    assert inj.window.drain()
    first = list(fake.lines)
    assert first == exabgp_api.announce_lines({BLOCK, POD})
    up(inj, fake)
    inj.sync_once()
    assert inj.window.drain()
    again = fake.lines[len(first):]
    assert again == exabgp_api.announce_lines({BLOCK, POD}) + exabgp_api.eor_lines(PEER)
    assert inj.status()[0]["state"] == "established" and inj.status()[0]["prefixes_sent"] == 2


def test_what_safety_refuses_is_reported_and_never_announced(
    wired: tuple[Injector, FakeExabgp],
) -> None:
    inj, fake = wired
    inj.apply_state(state(2, ("10.200.0.0/26", "block"), ("10.99.0.1/32", "workload"), (POD, "workload")))
    inj.sync_once()
    assert inj.window.drain()
    assert fake.lines == exabgp_api.announce_lines({POD})
    report = inj.routes_report()
    assert set(report["refused"]) == {"10.200.0.0/26", "10.99.0.1/32"}
    assert set(report["announced"]) == {POD} and report["acked"] and report["revision"] == 2


def test_acks_that_never_come_bring_a_replay_and_a_look_at_the_rib(
    wired: tuple[Injector, FakeExabgp],
) -> None:
    inj, fake = wired
    inj.window.timeout = 0.2
    inj.apply_state(state(3, (POD, "workload")))
    fake.silent = 1
    inj.sync_once()  # a new revision: the pass waits for its ack, in vain
    assert inj.window.counts["lost"] == 1 and inj.replay and inj.reconciler.due
    before = len(fake.lines)
    inj.sync_once()  # nothing changed, but the doubt replays it
    assert inj.window.drain() and fake.lines[before:] == exabgp_api.announce_lines({POD})


def test_a_withdrawal_follows_the_desired_state(wired: tuple[Injector, FakeExabgp]) -> None:
    inj, fake = wired
    inj.apply_state(state(4, (POD, "workload"), ("10.100.0.6/32", "workload")))
    inj.sync_once()
    inj.apply_state(state(5, ("10.100.0.6/32", "workload")))
    before = len(fake.lines)
    inj.sync_once()
    assert inj.window.drain()
    assert fake.lines[before:] == exabgp_api.withdraw_lines({POD})
    assert inj.announcer.announced == {"10.100.0.6/32"}
