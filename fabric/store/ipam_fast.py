"""The allocator's common case in a handful of Core statements, for many requests at once: what
a plan (``fabric.ipam.plan``) needs read, then applied by the backend's one writer
(``ipam_core`` on SQLite, ``ipam_pg``'s one statement on PostgreSQL).

Profiled (bench/ipam.py, cProfile), the ORM path spent nearly all of an allocation's time
building statements and tracking objects, not in the database. Most allocations are the same
case: a new handle, one family, no address asked for, and a host whose own blocks have room.
This module reads what a plan needs, has it planned and written; it answers ``None``
for everything else (a handle already held, a requested address, dual stack, an unknown host,
no room: claim, borrow, exhaustion), which the ORM path in ``allocator`` then handles.

Requests that queued together (``api.group_commit``) are served together: one statement of
each kind for the whole batch instead of seven per allocation (bench/README.md: measured
choices), with the same result and invariants as the ORM path one after another (the unique
address constraint, ``Block.allocated``, the host's revision, an audit entry per allocation in
the same transaction, under the name of whoever asked for it).

While the fabric is at the revision of this process's last fast write, what that write left is
known (``_KNOWN``) and a batch reads none of it again: on SQLite it then reads only the handles
held, on PostgreSQL it reads nothing and its one statement checks the handles itself; the
group commit first offers the batch to ``allocate_at_once``, that statement in autocommit (one
round trip instead of four). Releases by handle are served the same way (``release_many``,
``release_at_once``). What each of these earns: bench/README.md, "IPAM speed layers".
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    event,
    func,
    literal_column,
    null,
    select,
    union_all,
)  # fmt: skip
from sqlalchemy.orm import Session, sessionmaker

from fabric import audit
from fabric.ipam import plan as planned
from fabric.ipam.blocks import address_numbers
from fabric.ipam.plan import Release, Request
from fabric.models import Allocation, Block, FabricState, Host, Pool, utcnow
from fabric.revisions import BASE_REVISION, touches
from fabric.store import core_statements as core
from fabric.store import ipam_core, ipam_pg, speed_layers

_hosts, _pools, _blocks = core.table(Host), core.table(Pool), core.table(Block)
_allocs = core.table(Allocation)


# Built once: SQLAlchemy then reuses their compiled form instead of rebuilding them per call.
# What a batch reads before it places anything, in one statement (on PostgreSQL one round trip
# instead of two (bench/README.md: measured choices)): the hosts' blocks, by name,
# then the handles already held. A host without a row is not the common case.
_BLOCKS_AND_HELD = core.one_or_many(
    lambda match: union_all(
        select(
            literal_column("'block'").label("kind"), _hosts.c.name, _pools.c.family,
            _hosts.c.id, _blocks.c.id.label("block_id"), _blocks.c.cidr, _blocks.c.allocated,
            _pools.c.name, _pools.c.reserved,
        )
        .join(_blocks, _blocks.c.host_id == _hosts.c.id)
        .join(_pools, _pools.c.id == _blocks.c.pool_id)
        .where(match(_hosts.c.name, "name")),
        select(
            literal_column("'held'"), _allocs.c.handle, _allocs.c.family,
            *(null() for _ in range(6)),
        ).where(match(_allocs.c.handle, "h")),
    ).order_by("kind", "block_id")
)  # fmt: skip
# The handles already held, alone: what a batch reads when it knows its hosts' blocks already.
_HELD = core.one_or_many(
    lambda match: select(_allocs.c.handle, _allocs.c.family).where(match(_allocs.c.handle, "h"))
)
# A block's addresses as one row joined by spaces (group_concat / string_agg), not a row per
# address (bench/README.md: measured choices).
_TAKEN = core.one_or_many(
    lambda match: (
        select(_allocs.c.block_id, func.aggregate_strings(_allocs.c.address, " "))
        .where(match(_allocs.c.block_id, "block"))
        .group_by(_allocs.c.block_id)
    )
)


def _one_statement(conn: Connection) -> bool:
    """Whether a plan is written as ``ipam_pg``'s one statement: on PostgreSQL."""
    return conn.dialect.name == "postgresql" and speed_layers.on("pg_statement")


class Writer(Protocol):
    """What applies a plan, one per backend: ``ipam_core`` (SQLite) and ``ipam_pg``."""

    def write_allocations(self, session: Session, plan: planned.AllocationPlan) -> int | None:
        ...

    def write_releases(self, session: Session, plan: planned.ReleasePlan) -> None:
        ...


def _writer(conn: Connection) -> Writer:
    return ipam_pg if _one_statement(conn) else ipam_core


def _at_once(engine: Engine) -> bool:
    """Whether a batch may be written in autocommit: PostgreSQL's one statement."""
    return (engine.dialect.name == "postgresql" and speed_layers.on("pg_statement")
            and speed_layers.on("at_once"))  # fmt: skip


def _taken(conn: Connection | Session, block_ids: list[int]) -> dict[int, str]:
    return {b: joined for b, joined in core.execute(conn, _TAKEN, "block", block_ids)}


# Per database (engine): the taken addresses and the hosts' blocks this process's last fast
# write committed, true while the fabric is still at that write's revision (every change to an
# allocation, a block or a host bumps it, from any process: ``fabric.revisions.bump_revision``).
# A batch then reads no block's addresses again, nor its hosts' blocks
# (bench/README.md: measured choices).
_KNOWN: weakref.WeakKeyDictionary[Engine, planned.Known] = weakref.WeakKeyDictionary()
_PENDING = "fast.known"  # session.info: what this transaction would make known, at commit


@dataclass
class _Pending:
    engine: Engine
    known: planned.Known
    touches: int  # the transaction's changes when it was written: any later one voids it


def _known(session: Session, conn: Connection) -> planned.Known | None:
    """What is known of blocks and hosts, if still true for this transaction: one that has
    changed nothing yet, begun at the revision of the last fast write committed."""
    if not speed_layers.on("known"):
        return None
    known = _KNOWN.get(conn.engine)
    fresh = "revision" not in session.info and session.info.get(BASE_REVISION) is not None
    if known is None or not fresh or known.revision != session.info[BASE_REVISION]:
        return None
    return known


def _publish(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is not None and pending.touches == touches(session):
        _KNOWN[pending.engine] = pending.known


def remember_on_commit(factory: sessionmaker[Session]) -> None:
    """What a session of ``factory`` wrote here is known once it commits (``_KNOWN``)."""
    event.listen(factory, "after_commit", _publish)


def _blocks_and_held(
    conn: Connection, names: list[str], handles: list[str]
) -> tuple[list[planned.BlockRow], set[tuple[str, int]]]:
    """The hosts' blocks and the (handle, family) pairs held."""
    one = len(names) == len(handles) == 1
    params = {"name": names[0], "h": handles[0]} if one else {"name": names, "h": handles}
    blocks, held = [], set()
    for kind, *row in conn.execute(_BLOCKS_AND_HELD[0 if one else 1], params):
        if kind == "held":
            handle, family, *_ = row
            held.add((handle, family))
        else:
            blocks.append(planned.BlockRow(*row))
    return blocks, held


def _held(conn: Connection, handles: list[str]) -> set[tuple[str, int]]:
    return {(handle, family) for handle, family in core.execute(conn, _HELD, "h", handles)}


def _loader(conn: Connection) -> Callable[[list[planned.Room]], None]:
    """What a plan calls for blocks' taken addresses it was not given: one read of them all."""

    def load(rooms: list[planned.Room]) -> None:
        joined = _taken(conn, [r.block_id for r in rooms])
        for r in rooms:
            texts = joined.get(r.block_id)
            r.taken = address_numbers(texts.split(" "), r.network.version) if texts else set()

    return load


def allocate_many(session: Session, requests: list[Request]) -> list[list[dict[str, Any]] | None]:
    """For each request, its allocation described as ``queries.describe`` does, or None:
    not the common case (that request is left to the ORM path, after these)."""
    if not requests:
        return []
    conn = session.connection()
    known = _known(session, conn)
    names = sorted({r.host for r in requests})
    handles = [r.handle for r in requests]
    blocks = None if known is None else known.blocks_of(names)
    if blocks is None:
        blocks, held = _blocks_and_held(conn, names, handles)
    elif _one_statement(conn):
        # Nothing read at all (a round trip saved: bench/README.md, measured choices): the
        # batch's one statement writes nothing if a handle is held already (``pg_batch``).
        held = set()
    else:
        held = _held(conn, handles)
    served = _serve(session, conn, requests, known, blocks, held)
    if served is None:  # a handle asked again: what is held read, the batch served anew
        served = _serve(session, conn, requests, known, blocks, _held(conn, handles))
        if served is None:
            raise RuntimeError("a handle held, yet not found held under the write lock")
    return served


def _serve(
    session: Session,
    conn: Connection,
    requests: list[Request],
    known: planned.Known | None,
    blocks: list[planned.BlockRow],
    held: set[tuple[str, int]],
) -> list[list[dict[str, Any]] | None] | None:
    """``allocate_many`` once the hosts' blocks and the handles held are known; None if the
    write found a handle held that ``held`` did not have (nothing written then)."""
    load = _loader(conn)
    rooms = planned.rooms_of(blocks, {} if known is None else known.taken, load)
    plan = planned.AllocationPlan.of(requests, rooms, held, load)
    if not plan.rows:
        return [None] * len(requests)
    revision = _writer(conn).write_allocations(session, plan)
    if revision is None:
        return None
    session.info[_PENDING] = _Pending(
        conn.engine, planned.Known.after(known, blocks, rooms, revision), touches(session)
    )
    return plan.answers(requests)


def allocate(
    session: Session, *, host: str, handle: str, family: int, attrs: dict[str, str]
) -> list[dict[str, Any]] | None:
    """``allocate_many`` of one request, audited under the session's caller."""
    who = audit.caller_of(session)
    return allocate_many(session, [Request(host, handle, family, attrs, who.principal,
                                           who.request)])[0]


# A handle's allocations with what the API shows of them, IPv4 first as ``release.release``.
_REVISION_NOW = select(FabricState.revision).where(FabricState.id == 1).scalar_subquery()


def _held_query(*revision: Any) -> tuple[Executable, Executable]:
    return core.one_or_many(
        lambda match: select(
            _allocs.c.id, _allocs.c.address, _allocs.c.family, _allocs.c.block_id,
            _allocs.c.host_id, _allocs.c.handle, _allocs.c.attributes, _allocs.c.created_at,
            _hosts.c.name, _blocks.c.cidr, _blocks.c.host_id, _pools.c.name, *revision,
        )
        .join(_hosts, _hosts.c.id == _allocs.c.host_id)
        .join(_blocks, _blocks.c.id == _allocs.c.block_id)
        .join(_pools, _pools.c.id == _blocks.c.pool_id)
        .where(match(_allocs.c.handle, "h"))
        .order_by(_allocs.c.handle, _allocs.c.family)
    )  # fmt: skip


_HELD_ROWS = _held_query()
# The same, each row with the fabric's revision: read in one statement, so as of one snapshot.
_HELD_ROWS_AT = _held_query(_REVISION_NOW)


def _held_rows(found: Iterable[Any]) -> list[planned.HeldRow]:
    """``_HELD_ROWS`` answers as typed rows (``_HELD_ROWS_AT``'s revision column dropped)."""
    return [planned.HeldRow(*row[: len(planned.HeldRow._fields)]) for row in found]


def _handles(releases: list[Release]) -> list[str]:
    return sorted({r.handle for r in releases})


def release_many(session: Session, releases: list[Release]) -> list[list[dict[str, Any]]]:
    """For each release, the allocations it released, in ``session``'s transaction."""
    if not releases:
        return []
    conn = session.connection()
    found = _held_rows(core.execute(conn, _HELD_ROWS, "h", _handles(releases)))
    plan = planned.ReleasePlan.of(releases, found)
    if not plan.rows:
        return plan.out  # idempotent: nothing released, nothing bumped
    _writer(conn).write_releases(session, plan)
    return plan.out


class _Unknown(Exception):
    """A block's addresses not known: the batch needs a read, so a transaction of ours."""


def _unknown(rooms: list[planned.Room]) -> None:
    raise _Unknown


def allocate_at_once(
    engine: Engine, requests: list[Request]
) -> tuple[list[list[dict[str, Any]]], int] | None:
    """PostgreSQL: the whole batch as ``ipam_pg``'s one statement on an autocommit connection,
    planned from what the last fast write left known (``_KNOWN``): one round trip instead of
    four (``BEGIN``, the write lock, the write, ``COMMIT``). Each request's allocation and the
    revision committed; None, having written nothing, unless every request could be served
    so (all known, still true, every handle new, room in the host's blocks): the caller then
    serves the batch in a transaction."""
    known = _KNOWN.get(engine)
    if not _at_once(engine) or not speed_layers.on("known") or known is None or not requests:
        return None
    blocks = known.blocks_of(sorted({r.host for r in requests}))
    if blocks is None:
        return None
    try:
        rooms = planned.rooms_of(blocks, known.taken, _unknown)
        plan = planned.AllocationPlan.of(requests, rooms, set(), _unknown)
    except _Unknown:
        return None
    if len(plan.rows) != len(requests):  # one asked twice, or no room: the transaction's work
        return None
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        at = plan.now.isoformat()
        revision = ipam_pg.write_at_once(conn, "create", plan.pg_rows(), at, known.revision)
    if revision is None:
        return None
    _KNOWN[engine] = planned.Known.after(known, blocks, rooms, revision)
    return [a for a in plan.answers(requests) if a is not None], revision


def release_at_once(
    engine: Engine, releases: list[Release]
) -> tuple[list[list[dict[str, Any]]], int | None] | None:
    """PostgreSQL: ``release_many`` in two statements on an autocommit connection instead of a
    transaction of ours: the rows read with the revision they are at, then deleted with
    ``ipam_pg.write_at_once``, which writes nothing unless the fabric is still at that
    revision (no write committed in between, so the rows read are still the truth). Each
    release's allocations, and the revision committed (None: nothing held, nothing written);
    None, having written nothing, when the fabric moved: the caller serves them in a
    transaction."""
    if not _at_once(engine) or not releases:
        return None
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        found = list(core.execute(conn, _HELD_ROWS_AT, "h", _handles(releases)))
        plan = planned.ReleasePlan.of(releases, _held_rows(found))
        if not plan.rows:
            return plan.out, None
        at = utcnow().isoformat()
        read_at = found[0][-1]  # the revision, the last column of every row (one snapshot)
        revision = ipam_pg.write_at_once(conn, "delete", plan.pg_rows(), at, read_at)
    return None if revision is None else (plan.out, revision)
