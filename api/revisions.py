"""Wakes the long-polls of ``/advertisements`` when a host's desired state changes.

One refresher task per API process reads which hosts changed since the last
revision it saw (one indexed query per change, whatever the number of
waiters), reads the desired state of those with a long-poll waiting, all in a
few queries, serializes their answers in the same thread-pool call and hands
them over: a change that touches every host (a global peer) wakes a thousand
waiters with one read, not a thousand. It runs when
this process commits a change, when PostgreSQL NOTIFYs a change made by
another replica (a listener thread with its own connection), and every
``revision_poll_seconds`` as a safety net (the only cross-process signal on
SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from api.schemas.hosts import DesiredStatePublic
from fabric.desired import DesiredState, desired_states
from fabric.models import Host
from fabric.revisions import NOTIFY_CHANNEL, current_revision
from fabric.store.database import Database

log = logging.getLogger(__name__)


def answer_body(state: DesiredState) -> bytes:
    """The ``/advertisements`` answer, as JSON."""
    return DesiredStatePublic.model_validate(state).model_dump_json().encode()


ANY = "*"  # the waiters for any change at all: no host is named so


class RevisionHub:
    def __init__(self, db: Database, poll_seconds: float) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.revision = 0
        # Per host, one future shared by its waiters: their answer, serialized, or None
        # (read it yourself: the hub could not, or is stopping).
        self._waiting: dict[str, asyncio.Future[bytes | None]] = {}
        self.seen_at = 0.0  # when the newest refresh that woke anyone began (time.monotonic)
        self.waiting = 0  # long-polls held right now
        self._dirty = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    @property
    def waiters(self) -> int:
        return len(self._waiting)

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
        for future in self._waiting.values():
            if not future.done():
                future.set_result(None)
        if self._listener is not None:
            await run_in_threadpool(self._listener.join, 5)

    def kick_threadsafe(self) -> None:
        """Ask for a refresh, from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._dirty.set)

    def committed(self, revision: int) -> None:
        """This process committed ``revision`` (on the event loop). With nobody waiting there
        is nothing to read: the revision is noted without the refresh's thread-pool read
        (bench/README.md: measured choices)."""
        if self._waiting:
            self._dirty.set()
        else:
            self.revision = max(self.revision, revision)

    def interest_any(self) -> asyncio.Future[bytes | None]:
        """Interest in the next change of anything (a router's configuration follows many
        hosts): resolved with None, the waiter reads for itself."""
        return self.interest(ANY)

    def interest(self, host: str) -> asyncio.Future[bytes | None]:
        """Register interest in a host before reading its state, so no change slips between."""
        future = self._waiting.get(host)
        if future is None or future.done():
            future = self._waiting[host] = asyncio.get_running_loop().create_future()
        return future

    async def wait(
        self, future: asyncio.Future[bytes | None], timeout: float
    ) -> tuple[bool, bytes | None]:
        """(woken, the answer the hub made for this host or None); (False, None) on timeout."""
        self.waiting += 1
        try:
            # Shielded: the future is shared by the host's waiters; one timing out must
            # not cancel it for the others.
            return True, await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return False, None
        finally:
            self.waiting -= 1

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.poll_seconds)
            self._dirty.clear()
            if self._stop.is_set():
                break
            waiting, seen_at = set(self._waiting), time.monotonic()
            try:
                revision, changed, answers = await run_in_threadpool(
                    self._changed_since, self.revision, waiting
                )
            except Exception:  # the loop must outlive a database hiccup
                log.exception("revision refresh failed; retrying")
                continue
            if changed is None:  # nobody was waiting: the hosts were not looked at
                if self._waiting:  # someone arrived meanwhile: look again, properly
                    self._dirty.set()
                    continue
                self.revision = max(self.revision, revision)
                continue
            moved = revision > self.revision
            self.revision = max(self.revision, revision)
            self.seen_at = seen_at
            if moved:
                changed = [*changed, ANY]
            for name in changed:
                future = self._waiting.pop(name, None)
                if future is not None and not future.done():
                    # A waiter that arrived during the read gets None and reads for itself.
                    future.set_result(answers.get(name))

    def _read_revision(self) -> int:
        with self.db.read() as session:
            return current_revision(session)

    def _changed_since(
        self, revision: int, waiting: set[str]
    ) -> tuple[int, list[str] | None, dict[str, bytes]]:
        """The revision now, the hosts changed since ``revision`` (None: not looked at, as
        nobody waits: a burst of allocations with no agent listening costs one tiny query
        each), and the answers (``answer_body``) of those of them in ``waiting``."""
        with self.db.read() as session:
            current = current_revision(session)
            if current == revision:
                return current, [], {}
            if not waiting:
                return current, None, {}
            changed = list(session.scalars(select(Host).where(Host.revision > revision)))
            states = desired_states(session, [h for h in changed if h.name in waiting])
            # Serialized here, in this one thread-pool call: a thousand woken requests then
            # only send bytes, instead of each serializing on the event loop in turn.
            answers = {name: answer_body(state) for name, state in states.items()}
            return current, [h.name for h in changed], answers

    def _is_news(self, payload: str) -> bool:
        """Whether a NOTIFY's revision is newer than what this hub has seen. This replica's own
        commits are NOTIFYed too, mostly after ``committed`` has noted them: each one woke the
        refresher for a thread-pool hop and a read of the revision, per batch of allocations.
        Revisions only grow, and a hub that moved past one without reading (nobody waiting)
        leaves later long-polls to read for themselves: an older one has nothing to tell."""
        try:
            return int(payload) > self.revision
        except ValueError:
            return True

    def _listen(self) -> None:
        url = make_url(self.db.url).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.kick_threadsafe()  # catch up on what happened while not listening
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=0.25):
                            if self._is_news(notify.payload):
                                self.kick_threadsafe()
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc.__class__.__name__)
                self._stop.wait(1.0)
