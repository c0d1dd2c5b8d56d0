"""This host's desired state, followed by long-poll: the one follower of the agent and the
injector. An error keeps what was last known (fail static) and retries with back-off
(tenacity: 0.5 s, doubling up to 10 s), until ``stopping`` is set."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

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


class Follower:
    def __init__(
        self,
        api: AgentApi,
        stopping: threading.Event,
        *,
        wait: float = WAIT_SECONDS,
        backoff: tuple[float, float] = (0.5, 10.0),
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.api, self.stopping, self.wait = api, stopping, wait
        self.revision: int | None = None  # the fabric's revision of the last answer
        def nap(seconds: float) -> None:  # a stop ends the back-off at once
            stopping.wait(seconds)

        self._retrying = Retrying(
            sleep=nap,
            stop=stop_when_event_set(stopping),
            wait=wait_exponential(multiplier=backoff[0], min=backoff[0], max=backoff[1]),
            before_sleep=self._failed,
        )
        self._on_error = on_error

    def _failed(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None and self._on_error is not None:
            self._on_error(exc)

    def states(self) -> Iterator[dict[str, Any]]:
        """Each answer of the long-poll (a change, or the wait elapsed), until stopped."""
        while not self.stopping.is_set():
            try:
                state = self._retrying(self.api.advertisements, self.revision, self.wait)
            except RetryError:  # stopped while the API was away
                return
            self.revision = int(state["revision"])
            yield state
