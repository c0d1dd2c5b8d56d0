"""A daemon thread that does one job every few seconds until stopped: the database upkeep of a
long-lived process (``fabric.store.wal``, ``fabric.store.pg_stats``)."""

from __future__ import annotations

import threading
from typing import Self


class Periodic:
    """``_run`` in a daemon thread named ``name``; it waits on ``_stop`` between rounds."""

    def __init__(self, name: str, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Returns once the thread has finished its last round."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        raise NotImplementedError
