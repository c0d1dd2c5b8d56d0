"""The injector's adj-rib-out reconcile, against a scripted stand-in for ExaBGP's pipe.

The stand-in speaks the same line protocol (one ``done`` per line, v2 route
lines then ``done`` for ``show adj-rib out json``) so the test can make ExaBGP
lose or keep routes at will; the lab suite runs the same code against the real
ExaBGP.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import IO, Any

import pytest

from bgp import exabgp_api
from bgp.injector import Injector

PEER = "10.0.1.0"


class FakeExabgp:
    """Holds an adj-rib-out; routes it is told to announce reach it after ``delay``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.rib: set[str] = set()
        self.lines: list[str] = []
        to_us_r, to_us_w = os.pipe()
        to_inj_r, to_inj_w = os.pipe()
        self.injector_out: IO[str] = os.fdopen(to_us_w, "w")
        self.injector_in: IO[str] = os.fdopen(to_inj_r, "r")
        self._from_injector = os.fdopen(to_us_r, "r")
        self._to_injector = os.fdopen(to_inj_w, "w")
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def say(self, obj: Any) -> None:
        with self._lock:
            self._to_injector.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
            self._to_injector.flush()

    def _later(self, fn: Any) -> None:
        if self.delay:
            threading.Timer(self.delay, fn).start()
        else:
            fn()

    def _serve(self) -> None:
        for raw in self._from_injector:
            line = raw.strip()
            self.lines.append(line)
            if line == exabgp_api.SHOW_ADJ_RIB_OUT:
                for prefix in sorted(self.rib):
                    self.say({"peer": {"address": PEER}, "route": {"nlri": {"prefix": prefix}}})
            elif " nlri " in line:
                prefixes = set(line.split(" nlri ")[1].split())
                if line.startswith("announce"):
                    self._later(lambda p=prefixes: self.rib.update(p))
                else:
                    self.rib.difference_update(prefixes)
            self.say("done")


@pytest.fixture
def speaker() -> FakeExabgp:
    return FakeExabgp()


def start(fake: FakeExabgp, desired: set[str]) -> Injector:
    inj = Injector(api=None, out=fake.injector_out, inp=fake.injector_in)  # type: ignore[arg-type]
    threading.Thread(target=inj.read_forever, daemon=True).start()
    fake.say({"type": "state", "neighbor": {"address": {"peer": PEER}, "state": "up"}})
    deadline = time.monotonic() + 5
    while not inj._established() and time.monotonic() < deadline:
        time.sleep(0.01)
    inj.desired = desired
    inj.replay = False
    inj.sync_once()
    assert inj._drain()
    return inj


ROUTES = {f"10.100.0.{i}/32" for i in range(1, 120)}


def test_nothing_to_repair_when_exabgp_holds_what_we_announced(speaker: FakeExabgp) -> None:
    inj = start(speaker, ROUTES)
    written = len(speaker.lines)
    assert inj.reconcile(confirm_after=0.1) == (0, 0)
    assert speaker.lines[written:] == [exabgp_api.SHOW_ADJ_RIB_OUT]


def test_lost_and_stray_routes_are_repaired(speaker: FakeExabgp) -> None:
    inj = start(speaker, ROUTES)
    lost = {"10.100.0.5/32", "10.100.0.77/32"}
    stray = "10.100.9.9/32"
    speaker.rib -= lost
    speaker.rib.add(stray)
    assert inj.reconcile(confirm_after=0.1) == (2, 1)
    assert inj._drain()
    assert speaker.rib == ROUTES
    assert inj.reconciled == {"runs": 0, "missing": 2, "extra": 1}


def test_routes_still_on_their_way_are_not_taken_for_lost() -> None:
    slow = FakeExabgp(delay=0.3)
    inj = start(slow, ROUTES)
    assert slow.rib == set()  # acked, not yet "sent"
    written = len(slow.lines)
    assert inj.reconcile(confirm_after=0.6) == (0, 0)
    assert all(line == exabgp_api.SHOW_ADJ_RIB_OUT for line in slow.lines[written:])
