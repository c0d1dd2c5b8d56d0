"""Long-polls that keep what was last known when the API is away: the one follower of the
agent, the injector and tor-sync. An error is retried with back-off (tenacity: 0.5 s,
doubling up to 10 s) until ``stopping`` is set; the caller keeps announcing, or configuring,
what it had (fail static)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    stop_when_event_set,
    wait_exponential,
)

from fabric.client.agent import AgentApi

log = logging.getLogger("fabric.follower")

WAIT_SECONDS = 30.0  # how long the API holds a long-poll open when nothing changes
T = TypeVar("T")


class LongPoll(Generic[T]):
    """Each answer of ``poll`` (which itself waits for a change, or for its wait to pass)."""

    def __init__(
        self,
        poll: Callable[[], T],
        stopping: threading.Event,
        *,
        backoff: tuple[float, float] = (0.5, 10.0),
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.poll, self.stopping, self._on_error = poll, stopping, on_error

        def nap(seconds: float) -> None:  # a stop ends the back-off at once
            stopping.wait(seconds)

        self._retrying = Retrying(
            sleep=nap,
            stop=stop_when_event_set(stopping),
            wait=wait_exponential(multiplier=backoff[0], min=backoff[0], max=backoff[1]),
            before_sleep=self._failed,
        )

    def _failed(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None and self._on_error is not None:
            self._on_error(exc)

    def answers(self) -> Iterator[T]:
        while not self.stopping.is_set():
            try:
                answer = self._retrying(self.poll)
            except RetryError:  # stopped while the API was away
                return
            yield answer


class Follower:
    """This host's desired state, each poll asking for what changed since the last answer."""

    def __init__(
        self,
        api: AgentApi,
        stopping: threading.Event,
        *,
        wait: float = WAIT_SECONDS,
        backoff: tuple[float, float] = (0.5, 10.0),
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.api, self.wait = api, wait
        self.revision: int | None = None  # the fabric's revision of the last answer
        self._poll = LongPoll(self._ask, stopping, backoff=backoff, on_error=on_error)

    def _ask(self) -> dict[str, Any]:
        return self.api.advertisements(self.revision, self.wait)

    def states(self) -> Iterator[dict[str, Any]]:
        """Each answer of the long-poll (a change, or the wait elapsed), until stopped."""
        for state in self._poll.answers():
            self.revision = int(state["revision"])
            yield state
