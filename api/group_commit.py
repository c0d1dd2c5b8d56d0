"""Group commit: allocations (and releases) that queue while a write runs share the next
transaction.

Writes are serialized (``write_gate``), so under concurrent load allocations wait
their turn anyway; each then paid for a whole transaction of its own (SQLite's
``BEGIN IMMEDIATE``, the revision lock and bump, ``COMMIT``, a thread-pool hop),
and the writer's thread shared the GIL with the event loop parsing the next
requests. Profiled at 16 clients: the server's event loop was busy only half the
time, the rest was the queue behind the one writer. Now the first allocation to
arrive runs at once, alone; whatever queued meanwhile runs next, together, in one
transaction (at most ``MAX_BATCH``), one revision, one wake-up of the long-polls.

Requests that can be served together say so (``Together``: a handler and the request's
part): in a batch, one call of the handler serves all of them (the common allocation:
one statement of each kind for the whole batch, ``fabric.store.ipam_fast``); those it declines
run their own work after it, in the same transaction. A batch of one kind may first be
offered whole to its ``at_once``, which serves it without a transaction of ours or declines
(on PostgreSQL, the common allocation: one statement in autocommit, one round trip; a release
by handle: a read, then one statement).

Each request still gets exactly its own outcome: if any allocation of a batch
fails (a 409, a 400), the batch is rolled back whole and each of its allocations
runs again alone, in its own transaction, as if it had never been batched. A
request whose client went away before its batch started is dropped, not run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.metrics import ApiMetrics
from api.revisions import RevisionHub
from fabric import audit
from fabric.store import speed_layers
from fabric.store.database import Database

MAX_BATCH = 64
# How long the writer keeps the gate while requests keep queuing, before other writers' turn.
HOLD_SECONDS = 0.05


@dataclass(frozen=True)
class Together:
    """``handler(session, payloads)`` serves the batch's requests of this handler at once:
    for each payload its result, or None (that request then runs its own work).
    ``at_once(db, payloads)``, tried first when the whole batch is of this handler: every
    result and the revision committed (None: nothing to write), or None, having written
    nothing."""

    handler: Callable[[Session, list[Any]], list[Any | None]]
    payload: Any
    at_once: Callable[[Database, list[Any]], tuple[list[Any], int | None] | None] | None = None


@dataclass
class _Item:
    work: Callable[[Session], Any]
    principal: Any
    label: str
    together: Together | None = None
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Outcome = tuple[Any, Exception | None]  # the work's result, or the error it raised


class GroupCommit:
    def __init__(
        self, db: Database, gate: asyncio.Lock, hub: RevisionHub, metrics: ApiMetrics | None = None
    ) -> None:
        self.db, self.gate, self.hub, self.metrics = db, gate, hub, metrics
        self._queue: list[_Item] = []
        self._lock = threading.Lock()  # the queue: appended on the loop, taken in the writer
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions, for the tests
        self.largest = 0
        self.served_together = 0  # requests a ``Together`` handler served (for the tests)

    async def run(
        self,
        work: Callable[[Session], Any],
        principal: Any,
        label: str,
        together: Together | None = None,
    ) -> Any:
        """``work(session)`` in a write transaction, perhaps shared; its result or its error.

        ``principal`` and ``label`` go to the audit log (``fabric.audit``) of what it writes;
        ``together``: how to serve it with others of its kind in a batch."""
        item = _Item(work, principal, label, together)
        with self._lock:
            self._queue.append(item)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await item.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            try:
                async with self.gate:
                    # Shielded: once begun, a transaction is finished and its answers handed out.
                    with anyio.CancelScope(shield=True):
                        await run_in_threadpool(self._write_while_queued, loop)
            except BaseException as exc:  # not the requests' errors (those are outcomes): ours
                failure = exc if isinstance(exc, Exception) else RuntimeError("write cancelled")
                self._fail(self._take(len(self._queue)), failure)
                raise

    def _take(self, most: int) -> list[_Item]:
        """The first ``most`` queued items, less those whose client went away (from either
        thread: the writer's takes, the event loop's appends)."""
        with self._lock:
            taken, self._queue[:most] = self._queue[:most], []
        return [i for i in taken if not i.future.done()]

    def _write_while_queued(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the writer's thread, with the gate held: batch after batch while requests are
        queued, each batch's answers handed to the event loop as it commits.

        Why not one thread-pool hop per batch: a batch then held the gate nearly twice as long
        as it ran, waiting for the busy event loop to notice it was done and start the next
        one (bench/README.md: measured choices)."""
        until = time.monotonic() + HOLD_SECONDS
        while self._queue:
            batch = self._take(MAX_BATCH if speed_layers.on("group_commit") else 1)
            if not batch:
                continue
            try:
                outcomes, changed = self._run(batch)
            except BaseException as exc:
                failure = exc if isinstance(exc, Exception) else RuntimeError("write cancelled")
                loop.call_soon_threadsafe(self._fail, batch, failure)
                raise
            loop.call_soon_threadsafe(self._deliver, batch, outcomes, changed)
            if time.monotonic() > until:
                return  # the other writers waiting on the gate get their turn

    def _deliver(self, batch: list[_Item], outcomes: list[Outcome], changed: int | None) -> None:
        self.batches += 1
        self.largest = max(self.largest, len(batch))
        for item, (result, refused) in zip(batch, outcomes, strict=True):
            if item.future.done():  # its client went away meanwhile
                continue
            if refused is not None:
                item.future.set_exception(refused)
            else:
                item.future.set_result(result)
        if changed is not None:
            self.hub.committed(changed)

    @staticmethod
    def _fail(items: list[_Item], failure: Exception) -> None:
        for item in items:
            if not item.future.done():
                item.future.set_exception(failure)

    def _one(self, session: Session, item: _Item) -> Any:
        audit.acting_for(session, item.principal, item.label)
        result = item.work(session)
        session.flush()  # the ORM's audit entries are written now, under this item's name
        return result

    def _together(self, session: Session, batch: list[_Item]) -> list[Any]:
        """Each item's result: those served together first, then the others one by one."""
        groups: dict[Callable[..., list[Any]], list[tuple[int, Any]]] = {}
        for n, item in enumerate(batch):
            if item.together is not None and speed_layers.on("together"):
                groups.setdefault(item.together.handler, []).append((n, item.together.payload))
        served: dict[int, Any] = {}
        for handler, mine in groups.items():
            results = handler(session, [payload for _, payload in mine])
            served.update((n, r) for (n, _), r in zip(mine, results, strict=True) if r is not None)
        self.served_together += len(served)
        return [served[n] if n in served else self._one(session, i) for n, i in enumerate(batch)]

    def _at_once(self, batch: list[_Item]) -> tuple[list[Outcome], int | None] | None:
        """The batch served by its kind's ``at_once``, if it has one and serves it."""
        first = batch[0].together
        if first is None or first.at_once is None:
            return None
        if any(i.together is None or i.together.handler is not first.handler for i in batch):
            return None
        try:
            got = first.at_once(self.db, [i.together.payload for i in batch if i.together])
        except DBAPIError:  # one statement, so nothing written: the transaction's path says
            return None
        if got is None:
            return None
        results, revision = got
        self.served_together += len(batch)
        return [(r, None) for r in results], revision

    def _served(self, how: str, requests: int) -> None:
        if self.metrics is not None:
            self.metrics.batch_served(how, requests)

    def _run(self, batch: list[_Item]) -> tuple[list[Outcome], int | None]:
        """The outcomes, and the newest revision committed (None: nothing changed)."""
        at_once = self._at_once(batch)
        if at_once is not None:
            self._served("at_once", len(batch))
            return at_once
        if len(batch) > 1:
            try:
                with self.db.write() as session:
                    results = self._together(session, batch)
                self._served("together", len(batch))
                return [(r, None) for r in results], session.info.get("revision")
            except Exception:  # one of them failed: each again on its own, below
                pass
        outcomes: list[Outcome] = []
        changed: int | None = None
        for item in batch:
            self._served("alone", 1)
            try:
                with self.db.write() as session:
                    outcomes.append((self._one(session, item), None))
                changed = session.info.get("revision", changed)
            except Exception as exc:
                outcomes.append((None, exc))
        return outcomes, changed
