"""Dependencies: one transaction per request, writes serialized (``fabric.store.database``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.group_commit import GroupCommit, Together
from api.revisions import RevisionHub
from fabric import audit
from fabric.settings import Settings
from fabric.store.database import Database

T = TypeVar("T")


# The trivial dependencies are ``async``: FastAPI runs a plain ``def`` dependency in the
# thread pool, a hop that cost more than the function on the allocation hot path.
async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_hub(request: Request) -> RevisionHub:
    hub: RevisionHub = request.app.state.hub
    return hub


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def write_session(request: Request) -> AsyncIterator[Session]:
    """A serialized write transaction; committed before the response is sent.

    Writers of this process queue on an asyncio lock first, on the event loop: on SQLite a
    second thread asking for the database's write lock sleeps in SQLite's busy handler
    (1, 2, 5 … 100 ms naps) (bench/README.md: measured choices); and a writer
    waiting here holds no thread-pool thread the lock's holder may need to finish."""
    db: Database = request.app.state.db
    async with request.app.state.write_gate:
        transaction = db.write()
        session = await run_in_threadpool(transaction.__enter__)
        _say_who(session, request)
        # The ends are shielded: a client going away must not leave a transaction open.
        try:
            yield session
        except BaseException as exc:  # rolled back; the error goes on to its handler
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(transaction.__exit__, type(exc), exc, exc.__traceback__)
            raise
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(transaction.__exit__, None, None, None)
    _kick_if_changed(session, request)


def _say_who(session: Session, request: Request) -> None:
    """Who and what, for the audit log (fabric/audit.py)."""
    audit.acting_for(session, principal_of(request), request_label(request))


def request_label(request: Request) -> str:
    # The scope's path, not request.url: building the URL object is dear
    # (bench/README.md: measured choices).
    return f"{request.method} {request.scope['path']}"[:255]


def _kick_if_changed(session: Session, request: Request) -> None:
    if "revision" in session.info:
        hub: RevisionHub = request.app.state.hub
        hub.committed(int(session.info["revision"]))


def principal_of(request: Request) -> Any:
    """Who made the request (``api.auth``), for the audit log."""
    return getattr(request.state, "principal", None)


async def in_write_transaction(
    request: Request, work: Callable[[Session], T], together: Together | None = None
) -> T:
    """``work`` in a write transaction, begun, run and committed in one thread-pool hop, and
    shared with the other allocations and releases that queued meanwhile (``api.group_commit``):
    for the hottest writes. ``together``: how to serve it with the others of its kind."""
    commit: GroupCommit = request.app.state.group_commit
    result: T = await commit.run(work, principal_of(request), request_label(request), together)
    return result


def read_session(request: Request) -> Iterator[Session]:
    db: Database = request.app.state.db
    with db.read() as session:
        yield session


WriteSession = Annotated[Session, Depends(write_session)]
ReadSession = Annotated[Session, Depends(read_session)]
HubDep = Annotated[RevisionHub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
