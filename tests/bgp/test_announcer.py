"""The announcer: ``set`` writes exactly the lines that turn the announced set into the desired
one, all of it again on a replay, and End-of-RIB only after everything before it is acked."""

from __future__ import annotations

import io

from bgp import exabgp_api
from bgp.ack_window import AckWindow
from bgp.announcer import Announcer

A, B, C = "10.100.0.1/32", "10.100.0.2/32", "10.100.1.0/26"


class AckingOut(io.StringIO):
    """An ExaBGP that acks every line at once: the window never fills."""

    def __init__(self, window: AckWindow) -> None:
        super().__init__()
        self.window = window

    def write(self, text: str) -> int:
        self.window.acked(True)
        return super().write(text)

    def lines(self) -> list[str]:
        return self.getvalue().splitlines()


def announcer() -> tuple[Announcer, AckingOut]:
    window = AckWindow(size=1, timeout=1.0)
    out = AckingOut(window)
    return Announcer(out, window), out


def test_set_writes_only_the_difference() -> None:
    ann, out = announcer()
    change = ann.set({A, B})
    assert change.announced == {A, B} and not change.withdrawn
    assert out.lines() == exabgp_api.announce_lines({A, B})
    out.seek(0), out.truncate()
    change = ann.set({B, C})
    assert (change.announced, change.withdrawn) == ({C}, {A})
    assert out.lines() == exabgp_api.withdraw_lines({A}) + exabgp_api.announce_lines({C})
    assert ann.announced == {B, C}


def test_nothing_to_change_writes_nothing_and_is_false() -> None:
    ann, out = announcer()
    ann.set({A})
    out.seek(0), out.truncate()
    assert not ann.set({A}) and out.lines() == []


def test_a_replay_announces_everything_again() -> None:
    ann, out = announcer()
    ann.set({A, B})
    out.seek(0), out.truncate()
    assert ann.set({A, B}, replay=True).announced == {A, B}
    assert out.lines() == exabgp_api.announce_lines({A, B})


def test_since_keeps_the_first_announcement_time() -> None:
    ann, _ = announcer()
    ann.set({A})
    first = ann.since()[A]
    ann.set({A, B})
    assert ann.since()[A] == first and set(ann.since()) == {A, B}
    ann.set({B})
    assert set(ann.since()) == {B}


def test_end_of_rib_goes_to_each_peer() -> None:
    ann, out = announcer()
    ann.end_of_rib({"10.0.2.0", "10.0.1.0"})
    assert out.lines() == exabgp_api.eor_lines("10.0.1.0") + exabgp_api.eor_lines("10.0.2.0")
