"""The ack window: at most ``size`` lines in flight, waiters woken by the ack itself, and what
never gets its ack given up on and reported once."""

from __future__ import annotations

import threading
import time

from bgp.ack_window import AckWindow


def test_a_full_window_waits_until_an_ack_frees_a_place() -> None:
    window = AckWindow(size=2, timeout=5.0)
    window.take()
    window.take()
    took = threading.Event()
    threading.Thread(target=lambda: (window.take(), took.set()), daemon=True).start()
    assert not took.wait(0.1)  # full: the third line waits
    started = time.monotonic()
    window.acked(True)
    assert took.wait(1.0) and time.monotonic() - started < 0.5  # woken by the ack, not a timer
    assert window.outstanding == 2 and window.counts["done"] == 1


def test_drain_returns_when_the_last_ack_arrives() -> None:
    window = AckWindow(size=4, timeout=5.0)
    for _ in range(3):
        window.take()
    threading.Timer(0.05, lambda: [window.acked(ok) for ok in (True, False, True)]).start()
    assert window.drain()
    assert window.counts == {"done": 2, "error": 1, "lost": 0}


def test_acks_that_never_come_are_given_up_on_and_reported() -> None:
    lost: list[int] = []
    window = AckWindow(size=2, timeout=0.1, on_lost=lost.append)
    window.take()
    window.take()
    window.take()  # waits 0.1 s, gives up on the two, then goes out
    assert lost == [2] and window.outstanding == 1
    assert not window.drain()
    assert lost == [2, 1] and window.outstanding == 0 and window.counts["lost"] == 3


def test_a_late_ack_of_a_line_given_up_on_is_only_counted() -> None:
    window = AckWindow(size=1, timeout=0.05)
    window.take()
    assert not window.drain()
    window.acked(True)
    assert window.outstanding == 0 and window.counts["done"] == 1


def test_on_lost_may_take_locks_that_a_taker_holds_elsewhere() -> None:
    """The callback runs after the window's own lock is let go: a callback taking the caller's
    state lock cannot deadlock with a thread that holds it and asks the window something."""
    state = threading.Lock()

    def on_lost(_: int) -> None:
        with state:
            pass

    window = AckWindow(size=1, timeout=0.1, on_lost=on_lost)
    window.take()
    done = threading.Event()

    def holder() -> None:
        with state:
            time.sleep(0.15)
            _ = window.outstanding  # needs the window's lock while holding ``state``
        done.set()

    threading.Thread(target=holder, daemon=True).start()
    window.take()
    assert done.wait(2.0)
