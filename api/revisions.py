"""Wakes the long-polls of ``/advertisements`` when a host's desired state changes.

One refresher task per API process reads which hosts changed since the last
revision it saw (one indexed query per change, whatever the number of
waiters) and wakes only their waiters. It runs when this process commits a
change, when PostgreSQL NOTIFYs a change made by another replica (a listener
thread with its own connection), and every ``revision_poll_seconds`` as a
safety net (the only cross-process signal on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from fabric.db import NOTIFY_CHANNEL, Database, current_revision
from fabric.models import Host

log = logging.getLogger(__name__)


class RevisionHub:
    def __init__(self, db: Database, poll_seconds: float) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.revision = 0
        self._events: dict[str, asyncio.Event] = {}
        self.waiting = 0  # long-polls held right now
        self._dirty = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    @property
    def waiters(self) -> int:
        return len(self._events)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.revision = await run_in_threadpool(self._read_revision)
        self._task = asyncio.create_task(self._run(), name="revision-hub")
        if self.db.is_postgres:
            self._listener = threading.Thread(target=self._listen, name="pg-listen", daemon=True)
            self._listener.start()

    async def stop(self) -> None:
        # Stop by flag, not by cancel alone: a cancel that lands while the
        # refresh runs in the thread pool can be swallowed there, and awaiting
        # the task then hung the server's shutdown.
        self._stop.set()
        self._dirty.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            except TimeoutError:
                self._task.cancel()
        for event in self._events.values():
            event.set()
        if self._listener is not None:
            await run_in_threadpool(self._listener.join, 5)

    def kick_threadsafe(self) -> None:
        """Ask for a refresh, from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._dirty.set)

    def event_for(self, host: str) -> asyncio.Event:
        """Register interest in a host before reading its state, so no change slips between."""
        return self._events.setdefault(host, asyncio.Event())

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        self.waiting += 1
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        return True

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.poll_seconds)
            self._dirty.clear()
            if self._stop.is_set():
                break
            try:
                revision, changed = await run_in_threadpool(self._changed_since, self.revision)
            except Exception:  # the loop must outlive a database hiccup
                log.exception("revision refresh failed; retrying")
                continue
            self.revision = max(self.revision, revision)
            for name in changed:
                event = self._events.pop(name, None)
                if event is not None:
                    event.set()

    def _read_revision(self) -> int:
        with self.db.read() as session:
            return current_revision(session)

    def _changed_since(self, revision: int) -> tuple[int, list[str]]:
        with self.db.read() as session:
            current = current_revision(session)
            if current == revision:
                return current, []
            names = session.scalars(select(Host.name).where(Host.revision > revision))
            return current, list(names)

    def _listen(self) -> None:
        url = make_url(self.db.url).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.kick_threadsafe()  # catch up on what happened while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.25):
                            self.kick_threadsafe()
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc.__class__.__name__)
                self._stop.wait(1.0)
