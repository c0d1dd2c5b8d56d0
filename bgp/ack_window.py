"""How many lines ExaBGP still owes an ack for, bounded, waited on with a condition.

ExaBGP answers every line its process writes with one ``done`` or ``error``. Feeding it fastest
means keeping a few lines in flight (``WINDOW``, docs/design/exabgp.md), and acks can go missing
under load: a wait that outlasts ``timeout`` gives up on what is outstanding, counts it lost and
tells ``on_lost`` (the injector then replays everything and looks at ExaBGP's adj-rib-out).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

WINDOW = 4
ACK_TIMEOUT = 10.0


class AckWindow:
    def __init__(
        self,
        size: int = WINDOW,
        timeout: float = ACK_TIMEOUT,
        on_lost: Callable[[int], None] = lambda _lost: None,
    ) -> None:
        self.size, self.timeout, self.on_lost = size, timeout, on_lost
        self._cond = threading.Condition()
        self._outstanding = 0
        self.counts = {"done": 0, "error": 0, "lost": 0}

    @property
    def outstanding(self) -> int:
        with self._cond:
            return self._outstanding

    def take(self) -> None:
        """A place for one more line: waits while the window is full; a window still full after
        ``timeout`` is given up on, and the line then goes out into an empty one."""
        lost = 0
        with self._cond:
            if not self._cond.wait_for(lambda: self._outstanding < self.size, self.timeout):
                lost = self._give_up()
            self._outstanding += 1
        if lost:
            self.on_lost(lost)

    def acked(self, ok: bool) -> None:
        """ExaBGP's answer to the oldest outstanding line (an answer nobody waits for, one of
        the lines given up on, is only counted)."""
        with self._cond:
            self.counts["done" if ok else "error"] += 1
            if self._outstanding > 0:
                self._outstanding -= 1
                self._cond.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every line written so far has its ack; False if it was given up on."""
        with self._cond:
            if self._cond.wait_for(lambda: self._outstanding == 0, timeout or self.timeout):
                return True
            lost = self._give_up()
        self.on_lost(lost)
        return False

    def _give_up(self) -> int:
        """Forget the outstanding lines (the caller holds the condition, and tells ``on_lost``
        once it has let go of it: the callback may take locks of its own)."""
        lost, self._outstanding = self._outstanding, 0
        self.counts["lost"] += lost
        self._cond.notify_all()
        return lost
