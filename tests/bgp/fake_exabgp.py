"""A scripted stand-in for ExaBGP's process pipe, for unit tests of the injector's parts.

It speaks the same line protocol (one ``done`` per line, v2 route lines then ``done`` for
``show adj-rib out json``) so a test can make ExaBGP lose or keep routes, or hold back its
acks, at will; the lab suite runs the same code against the real ExaBGP.
"""

from __future__ import annotations

import json
import os
import threading
from typing import IO, Any

from bgp import exabgp_api

PEER = "10.0.1.0"


class FakeExabgp:
    """Holds an adj-rib-out; routes it is told to announce reach it after ``delay``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.silent = 0  # the next lines this many get no ack at all (acks lost under load)
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
            if self.silent > 0:
                self.silent -= 1
                continue
            self.say("done")
