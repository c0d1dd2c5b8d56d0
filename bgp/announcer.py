"""What ExaBGP has been told to announce, made so by saying what it should be.

``set(desired)`` writes the withdraw and announce lines that turn the announced set into
``desired`` (every desired prefix again on a replay: ExaBGP sends no UPDATE for a route it
already holds), through the ack window. It is the only writer of ExaBGP's stdin.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from bgp import exabgp_api
from bgp.ack_window import AckWindow


@dataclass(frozen=True)
class Change:
    announced: frozenset[str]
    withdrawn: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.announced or self.withdrawn)


class Announcer:
    def __init__(self, out: IO[str], window: AckWindow) -> None:
        self.out, self.window = out, window
        self._lock = threading.Lock()  # the announced set, read by the reporter's thread
        self._announced: frozenset[str] = frozenset()
        self._since: dict[str, str] = {}  # prefix -> when it was first announced (ISO)
        self.next_hop6: str | None = None  # the IPv6 prefixes' next hop (the host's address)

    @property
    def announced(self) -> frozenset[str]:
        with self._lock:
            return self._announced

    def since(self) -> dict[str, str]:
        """Each announced prefix and when it was first announced (ISO 8601)."""
        with self._lock:
            return {p: self._since[p] for p in self._announced if p in self._since}

    def set(
        self, desired: Iterable[str], *, replay: bool = False, next_hop6: str | None = None
    ) -> Change:
        """``next_hop6``: the IPv6 prefixes' next hop; when it changes, every prefix is
        announced again (a replay) so the routers learn the new one."""
        want = frozenset(desired)
        withdraw = self.announced - want
        if next_hop6 != self.next_hop6:
            replay, self.next_hop6 = True, next_hop6
        announce = want if replay else want - self.announced
        self.write(exabgp_api.withdraw_lines(withdraw, self.next_hop6))
        self.write(exabgp_api.announce_lines(announce, self.next_hop6))
        with self._lock:
            self._announced = want
            if withdraw or announce:
                now = dt.datetime.now(dt.UTC).isoformat()
                self._since = {p: self._since.get(p, now) for p in want}
        return Change(frozenset(announce), frozenset(withdraw))

    def repair(self, missing: Iterable[str], extra: Iterable[str]) -> None:
        """Make ExaBGP's RIB hold the announced set again where it was seen not to: the set
        itself does not change."""
        self.write(exabgp_api.withdraw_lines(extra, self.next_hop6))
        self.write(exabgp_api.announce_lines(missing, self.next_hop6))

    def end_of_rib(self, peers: Iterable[str]) -> None:
        """End-of-RIB to each peer once ExaBGP has acked everything before it (graceful restart:
        the ToR drops a restarting host's stale routes at End-of-RIB)."""
        self.window.drain()
        for peer in sorted(peers):
            self.write(exabgp_api.eor_lines(peer))

    def write(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.window.take()
            self.out.write(line + "\n")
            self.out.flush()
