"""The long-poll follower the agent and the injector share: the revision carried from one poll to
the next, back-off while the API is away, and a stop that ends it at once, even mid back-off."""

from __future__ import annotations

import threading
import time
from typing import Any

from bgp.follower import Follower


class ScriptedApi:
    """Answers ``advertisements`` from a script: a dict is an answer, an exception is raised."""

    def __init__(self, script: list[Any], stopping: threading.Event) -> None:
        self.script, self.stopping = list(script), stopping
        self.calls: list[tuple[int | None, float, float]] = []

    def advertisements(self, since: int | None = None, wait: float = 0) -> dict[str, Any]:
        self.calls.append((since, wait, time.monotonic()))
        if not self.script:
            self.stopping.set()
            raise ConnectionError("script ended")
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return dict(step)


def test_each_poll_asks_since_the_revision_of_the_last_answer() -> None:
    stopping = threading.Event()
    api = ScriptedApi([{"revision": 3}, {"revision": 7}], stopping)
    got = [s["revision"] for s in Follower(api, stopping, wait=12.0).states()]  # type: ignore[arg-type]
    assert got == [3, 7]
    assert [(since, wait) for since, wait, _ in api.calls[:3]] == [(None, 12.0), (3, 12.0), (7, 12.0)]


def test_errors_back_off_doubling_and_are_reported() -> None:
    stopping = threading.Event()
    down = ConnectionError("refused")
    api = ScriptedApi([down, down, down, {"revision": 1}], stopping)
    errors: list[BaseException] = []
    follower = Follower(api, stopping, backoff=(0.05, 0.4), on_error=errors.append)  # type: ignore[arg-type]
    assert [s["revision"] for s in follower.states()] == [1]
    assert errors[:3] == [down, down, down]
    gaps = [b[2] - a[2] for a, b in zip(api.calls, api.calls[1:4], strict=False)]
    assert 0.04 <= gaps[0] < 0.3 and gaps[2] > gaps[0] * 2.5  # 0.05, 0.1, 0.2 s


def test_a_stop_ends_the_back_off_at_once() -> None:
    stopping = threading.Event()
    api = ScriptedApi([ConnectionError("refused")] * 10, stopping)
    follower = Follower(api, stopping, backoff=(30.0, 30.0))  # type: ignore[arg-type]
    threading.Timer(0.1, stopping.set).start()
    started = time.monotonic()
    assert list(follower.states()) == []
    assert time.monotonic() - started < 2.0
