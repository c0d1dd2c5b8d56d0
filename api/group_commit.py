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

Each request still gets exactly its own outcome: if any allocation of a batch
fails (a 409, a 400), the batch is rolled back whole and each of its allocations
runs again alone, in its own transaction, as if it had never been batched. A
request whose client went away before its batch started is dropped, not run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.revisions import RevisionHub
from fabric.db import Database

MAX_BATCH = 64


@dataclass
class _Item:
    work: Callable[[Session], Any]
    principal: Any
    label: str
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Outcome = tuple[Any, Exception | None]  # the work's result, or the error it raised


class GroupCommit:
    def __init__(self, db: Database, gate: asyncio.Lock, hub: RevisionHub) -> None:
        self.db, self.gate, self.hub = db, gate, hub
        self._queue: list[_Item] = []
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions, for the tests
        self.largest = 0

    async def run(self, work: Callable[[Session], Any], principal: Any, label: str) -> Any:
        """``work(session)`` in a write transaction, perhaps shared; its result or its error.

        ``principal`` and ``label`` go to the audit log (``fabric.audit``) of what it writes."""
        item = _Item(work, principal, label)
        self._queue.append(item)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await item.future

    async def _drain(self) -> None:
        while self._queue:
            batch: list[_Item] = []
            try:
                async with self.gate:
                    # Taken once the gate is ours: everything that queued meanwhile comes along.
                    batch = [i for i in self._queue[:MAX_BATCH] if not i.future.done()]
                    del self._queue[:MAX_BATCH]
                    if not batch:
                        continue
                    # Shielded: once begun, a transaction is finished and its answers handed out.
                    with anyio.CancelScope(shield=True):
                        outcomes, changed = await run_in_threadpool(self._run, batch)
            except BaseException as exc:  # not the requests' errors (those are outcomes): ours
                failure = exc if isinstance(exc, Exception) else RuntimeError("write cancelled")
                for item in batch + self._queue:
                    if not item.future.done():
                        item.future.set_exception(failure)
                self._queue.clear()
                raise
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

    def _one(self, session: Session, item: _Item) -> Any:
        session.info["principal"], session.info["request"] = item.principal, item.label
        result = item.work(session)
        session.flush()  # the ORM's audit entries are written now, under this item's name
        return result

    def _run(self, batch: list[_Item]) -> tuple[list[Outcome], int | None]:
        """The outcomes, and the newest revision committed (None: nothing changed)."""
        if len(batch) > 1:
            try:
                with self.db.write() as session:
                    results = [self._one(session, item) for item in batch]
                return [(r, None) for r in results], session.info.get("revision")
            except Exception:  # noqa: S110 - one of them failed: each again on its own, below
                pass
        outcomes: list[Outcome] = []
        changed: int | None = None
        for item in batch:
            try:
                with self.db.write() as session:
                    outcomes.append((self._one(session, item), None))
                changed = session.info.get("revision", changed)
            except Exception as exc:
                outcomes.append((None, exc))
        return outcomes, changed
