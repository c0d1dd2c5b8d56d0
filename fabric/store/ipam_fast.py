"""The allocator's common case in a handful of Core statements, for many requests at once.

Profiled (bench/ipam.py, cProfile), the ORM path spent nearly all of an allocation's time
building statements and tracking objects, not in the
database. Most allocations are the same case: a new handle, one family, no
address asked for, and a host whose own blocks have room. This module does
exactly that case with prebuilt statements on the session's connection and
answers ``None`` for everything else (a handle that already holds an address,
a requested address, dual stack, an unknown host, no room: claim, borrow,
exhaustion), which the ORM path in ``allocator`` then handles.

Requests that queued together (``api.group_commit``) are served together: one
statement of each kind for the whole batch instead of seven per allocation
(bench/README.md: measured choices).
They are served in their order, each the lowest free address of its host's
first block with room, exactly as one after another would be.

Same result as the ORM path, same invariants: the unique address constraint,
``Block.allocated``, the host's revision, an audit entry per allocation in the
same transaction, under the name of whoever asked for it.

While the fabric is at the revision of this process's last fast write, what that write left
is known (``_KNOWN``: the blocks' taken addresses, the hosts' blocks), and a batch reads
nothing of it again: on PostgreSQL a batch is then one statement that checks the handles
itself, and the group commit first tries it outside any transaction, in autocommit
(``allocate_at_once``: one round trip for the lock, the write and the commit, instead of
four, or five with the read (bench/README.md: measured choices)).

Releases by handle, the orchestrators' common release, are served the same way
(``release_many``): one statement of each kind for a batch, the same result as
``release.release`` one after another.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Result,
    Table,
    bindparam,
    delete,
    event,
    func,
    insert,
    literal_column,
    null,
    select,
    union_all,
    update,
)  # fmt: skip
from sqlalchemy.orm import Session

from fabric import audit
from fabric.ipam.blocks import address_numbers, block_shape, first_free
from fabric.models import Allocation, AuditEntry, Block, FabricState, Host, Pool, utcnow
from fabric.revisions import BASE_REVISION, touch_hosts, touches
from fabric.store import ipam_pg
from fabric.validation import IPNetwork

_hosts = cast(Table, Host.__table__)
_pools = cast(Table, Pool.__table__)
_blocks = cast(Table, Block.__table__)
_allocs = cast(Table, Allocation.__table__)
_audit = cast(Table, AuditEntry.__table__)

Match = Callable[[ColumnElement[Any], str], ColumnElement[bool]]


def _one_or_many(build: Callable[[Match], Executable]) -> tuple[Executable, Executable]:
    """A query built twice: ``column = :name`` for one value, ``column IN (:name…)`` for
    several (expanding an IN list costs more than the rest of a one-row query)."""
    return (
        build(lambda column, name: column == bindparam(name)),
        build(lambda column, name: column.in_(bindparam(name, expanding=True))),
    )


def _execute(
    conn: Connection | Session, pair: tuple[Executable, Executable], name: str, values: list[Any]
) -> Result[Any]:
    one = len(values) == 1
    return conn.execute(pair[0] if one else pair[1], {name: values[0] if one else values})


# Built once: SQLAlchemy then reuses their compiled form instead of rebuilding them per call.
# What a batch reads before it places anything, in one statement (on PostgreSQL one round trip
# instead of two (bench/README.md: measured choices)): the hosts' blocks, by name,
# then the handles already held. A host without a row is not the common case.
_BLOCKS_AND_HELD = _one_or_many(
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
_HELD = _one_or_many(
    lambda match: select(_allocs.c.handle, _allocs.c.family).where(match(_allocs.c.handle, "h"))
)
# A block's addresses as one row joined by spaces (group_concat / string_agg), not a row per
# address (bench/README.md: measured choices).
_TAKEN = _one_or_many(
    lambda match: (
        select(_allocs.c.block_id, func.aggregate_strings(_allocs.c.address, " "))
        .where(match(_allocs.c.block_id, "block"))
        .group_by(_allocs.c.block_id)
    )
)
# Ids back in the rows' order (SQLAlchemy's "insertmanyvalues": one statement per batch).
_INSERT = insert(_allocs).returning(_allocs.c.id, sort_by_parameter_order=True)
_FILL = (
    update(_blocks)
    .where(_blocks.c.id == bindparam("block_id"))
    .values(allocated=_blocks.c.allocated + bindparam("added"))
)
_AUDIT = insert(_audit)


def _rows(rows: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """One row alone (a plain execute) or several (an executemany)."""
    return rows[0] if len(rows) == 1 else rows


@dataclass(frozen=True)
class Request:
    """One allocation of the common case; the caller has validated ``handle`` and ``attrs``.
    ``principal`` and ``label`` name who asked, for the audit log (``fabric.audit``)."""

    host: str
    handle: str
    family: int
    attrs: dict[str, str]
    principal: Any = None
    label: str | None = None


@dataclass
class _Room:
    """A block of the host as this batch sees it: its fill and taken addresses as they grow."""

    host_id: int
    block_id: int
    cidr: str
    allocated: int
    pool: str
    network: IPNetwork
    reserved: list[IPNetwork]
    capacity: int
    taken: set[int] | None = None  # loaded when first needed
    added: int = 0

    @property
    def has_room(self) -> bool:
        return self.allocated < self.capacity


def _taken(conn: Connection | Session, block_ids: list[int]) -> dict[int, str]:
    return {b: joined for b, joined in _execute(conn, _TAKEN, "block", block_ids)}


# A host's blocks as a batch reads them: (name, family, host id, block id, cidr, allocated,
# pool, pool's reserved addresses), in the blocks' order.
BlockRow = tuple[Any, ...]
_ALLOCATED = 5  # the fill counter's place in a BlockRow


@dataclass
class _Known:
    """Blocks' taken addresses, and hosts' blocks, as of a committed revision."""

    revision: int
    taken: dict[int, set[int]]
    hosts: dict[str, list[BlockRow]]

    def blocks_of(self, names: list[str]) -> list[BlockRow] | None:
        """These hosts' blocks, or None unless every one of them is known."""
        if not all(name in self.hosts for name in names):
            return None
        return [row for name in names for row in self.hosts[name]]


# Per database (engine): the taken addresses and the hosts' blocks this process's last fast
# write committed, true while the fabric is still at that write's revision (every change to an
# allocation, a block or a host bumps it, from any process: ``fabric.revisions.bump_revision``).
# A batch then reads no block's addresses again, nor its hosts' blocks
# (bench/README.md: measured choices).
_KNOWN: weakref.WeakKeyDictionary[Engine, _Known] = weakref.WeakKeyDictionary()
_PENDING = "fast.known"  # session.info: what this transaction would make known, at commit


@dataclass
class _Pending:
    engine: Engine
    known: _Known
    touches: int  # the transaction's changes when it was written: any later one voids it


def _known(session: Session, conn: Connection) -> _Known | None:
    """What is known of blocks and hosts, if still true for this transaction: one that has
    changed nothing yet, begun at the revision of the last fast write committed."""
    known = _KNOWN.get(conn.engine)
    fresh = "revision" not in session.info and session.info.get(BASE_REVISION) is not None
    if known is None or not fresh or known.revision != session.info[BASE_REVISION]:
        return None
    return known


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is not None and pending.touches == touches(session):
        _KNOWN[pending.engine] = pending.known


def _blocks_and_held(
    conn: Connection, names: list[str], handles: list[str]
) -> tuple[list[Any], set[tuple[str, int]]]:
    """The hosts' blocks (rows as ``_rooms`` takes them) and the (handle, family) pairs held."""
    one = len(names) == len(handles) == 1
    params = {"name": names[0], "h": handles[0]} if one else {"name": names, "h": handles}
    blocks, held = [], set()
    for kind, *row in conn.execute(_BLOCKS_AND_HELD[0 if one else 1], params):
        if kind == "held":
            held.add((row[0], row[1]))
        else:
            blocks.append(row)
    return blocks, held


def _held(conn: Connection, handles: list[str]) -> set[tuple[str, int]]:
    return {(handle, family) for handle, family in _execute(conn, _HELD, "h", handles)}


def _rooms(
    conn: Connection | None, blocks: list[Any], known: dict[int, set[int]]
) -> dict[tuple[str, int], list[_Room]]:
    """Each (host, family)'s blocks, the taken addresses of the first one with room loaded."""
    rooms: dict[tuple[str, int], list[_Room]] = defaultdict(list)
    for name, family, host_id, block_id, cidr, allocated, pool, reserved in blocks:
        shape = block_shape(cidr, tuple(reserved or ()))
        rooms[(name, family)].append(_Room(host_id, block_id, cidr, allocated, pool, *shape))
    first = [next((r for r in blocks if r.has_room), None) for blocks in rooms.values()]
    for room in first:
        if room is not None and room.block_id in known:
            room.taken = set(known[room.block_id])  # a copy: a rollback must not reach it
    _load([r for r in first if r is not None and r.taken is None], conn)
    return rooms


class _Unknown(Exception):
    """A block's taken addresses are needed, and not known (``allocate_at_once`` reads none)."""


def _load(rooms: list[_Room], conn: Connection | None) -> None:
    if not rooms:
        return
    if conn is None:
        raise _Unknown
    joined = _taken(conn, [r.block_id for r in rooms])
    for r in rooms:
        texts = joined.get(r.block_id)
        r.taken = address_numbers(texts.split(" "), r.network.version) if texts else set()


def _place(blocks: list[_Room], conn: Connection | None) -> tuple[_Room, str] | None:
    """The lowest free address of the first of these blocks with room, taken in memory."""
    for room in blocks:
        if not room.has_room:
            continue
        if room.taken is None:
            _load([room], conn)
        assert room.taken is not None
        free = first_free(room.network, room.taken, room.reserved)
        if free is None:  # counted short of full yet nothing free: the ORM path will see
            room.allocated = room.capacity
            continue
        room.taken.add(int(free))
        room.allocated += 1
        room.added += 1
        return room, free.compressed
    return None


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
    elif conn.dialect.name == "postgresql":
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
    known: _Known | None,
    blocks: list[BlockRow],
    held: set[tuple[str, int]],
) -> list[list[dict[str, Any]] | None] | None:
    """``allocate_many`` once the hosts' blocks and the handles held are known; None if the
    write found a handle held that ``held`` did not have (nothing written then)."""
    rooms = _rooms(conn, blocks, {} if known is None else known.taken)
    plan = _Plan.of(requests, rooms, held, conn)
    if not plan.rows:
        return [None] * len(requests)
    revision = _write_allocations(session, conn, plan)
    if revision is None:
        return None
    session.info[_PENDING] = _Pending(
        conn.engine, _known_after(known, blocks, rooms, revision), touches(session)
    )
    return plan.answers(requests)


@dataclass
class _Plan:
    """What a batch writes: the rows in memory, placed as one after another would be."""

    rows: list[dict[str, Any]]
    entries: list[dict[str, Any]]  # their audit entries
    placed: list[tuple[int, _Room]]  # (request's index, its block), row by row
    now: dt.datetime

    @classmethod
    def of(
        cls,
        requests: list[Request],
        rooms: dict[tuple[str, int], list[_Room]],
        held: set[tuple[str, int]],
        conn: Connection | None,
    ) -> _Plan:
        rows: list[dict[str, Any]] = []
        placed: list[tuple[int, _Room]] = []
        now = utcnow()
        for i, request in enumerate(requests):
            if (request.handle, request.family) in held:  # held, or asked twice in the batch
                continue
            found = _place(rooms.get((request.host, request.family), []), conn)
            if found is None:
                continue
            held.add((request.handle, request.family))
            room, address = found
            rows.append({
                "address": address, "family": request.family, "block_id": room.block_id,
                "host_id": room.host_id, "handle": request.handle,
                "attributes": request.attrs, "created_at": now,
            })  # fmt: skip
            placed.append((i, room))
        entries = [
            audit.entry_by(requests[i].principal, requests[i].label, "create", "allocations",
                           f"allocations/{row['address']}", None, audit.row_values(row))
            for (i, _), row in zip(placed, rows, strict=True)
        ]  # fmt: skip
        return cls(rows, entries, placed, now)

    @property
    def filled(self) -> list[_Room]:
        """The blocks the rows go to, each once."""
        return list({room.block_id: room for _, room in self.placed}.values())

    def pg_rows(self) -> list[dict[str, Any]]:
        """The rows as ``pg_batch`` takes them: each with its audit entry's columns."""
        return [{**row, **entry} for row, entry in zip(self.rows, self.entries, strict=True)]

    def answers(self, requests: list[Request]) -> list[list[dict[str, Any]] | None]:
        out: list[list[dict[str, Any]] | None] = [None] * len(requests)
        for (i, room), row in zip(self.placed, self.rows, strict=True):
            request = requests[i]
            out[i] = [{
                "address": row["address"], "family": request.family, "host": request.host,
                "handle": request.handle, "block": room.cidr, "pool": room.pool,
                "borrowed": False, "attributes": request.attrs, "created_at": self.now,
            }]  # fmt: skip
        return out


def allocate_at_once(
    engine: Engine, requests: list[Request]
) -> tuple[list[list[dict[str, Any]]], int] | None:
    """PostgreSQL: the whole batch as one statement on a connection of its own, in autocommit
    (``ipam_pg.write_at_once``): one round trip instead of four (``BEGIN``, the write lock,
    the write, ``COMMIT``), from what the last fast write left known (``_KNOWN``). Each
    request's allocation, and the revision committed; None, with nothing written, unless all
    of them could be served so: what is known no longer true, a handle held already, a host or
    a block not known, a host without room. The caller then serves them in a transaction."""
    known = _KNOWN.get(engine)
    if engine.dialect.name != "postgresql" or known is None or not requests:
        return None
    blocks = known.blocks_of(sorted({r.host for r in requests}))
    if blocks is None:
        return None
    try:
        rooms = _rooms(None, blocks, known.taken)
        plan = _Plan.of(requests, rooms, set(), None)
    except _Unknown:
        return None
    if len(plan.rows) != len(requests):  # one asked twice, or no room: the transaction's work
        return None
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        revision = ipam_pg.write_at_once(
            conn, "create", plan.pg_rows(), plan.now.isoformat(), known.revision
        )
    if revision is None:
        return None
    _KNOWN[engine] = _known_after(known, blocks, rooms, revision)
    answers = plan.answers(requests)
    return [a for a in answers if a is not None], revision


def _known_after(
    known: _Known | None,
    blocks: list[BlockRow],
    rooms: dict[tuple[str, int], list[_Room]],
    revision: int,
) -> _Known:
    """What is known after this write: what was, and this batch's hosts and blocks as it left
    them. A full block is left out, its addresses and its row (it is searched no more; only a
    release makes room in it, and that moves the revision), so what is kept is about one block
    per host and family: planning a batch stays as cheap when a host has filled many."""
    seen = {r.block_id: r for blocks in rooms.values() for r in blocks}
    before = known or _Known(0, {}, {})
    taken = {**before.taken, **{b: r.taken for b, r in seen.items() if r.taken is not None}}
    for full in (b for b, r in seen.items() if not r.has_room):
        taken.pop(full, None)
    hosts: dict[str, list[BlockRow]] = {row[0]: [] for row in blocks}
    for row in blocks:
        room = seen[row[3]]
        if room.has_room:
            hosts[row[0]].append((*row[:_ALLOCATED], room.allocated, *row[_ALLOCATED + 1 :]))
    return _Known(revision, taken, {**before.hosts, **hosts})


def _write_allocations(session: Session, conn: Connection, plan: _Plan) -> int | None:
    """Insert the rows, count them in their blocks, touch their hosts, log them; the revision.
    On PostgreSQL one statement does it all (``pg_batch``), or nothing (None) if one of the
    handles is held already."""
    if conn.dialect.name == "postgresql":
        return ipam_pg.write(session, "create", plan.pg_rows(), plan.now.isoformat())
    rows, entries = plan.rows, plan.entries
    ids = conn.execute(_INSERT, _rows(rows)).scalars().all()
    filled = [{"block_id": r.block_id, "added": r.added} for r in plan.filled]
    conn.execute(_FILL, _rows(filled))
    revision = touch_hosts(session, {row["host_id"] for row in rows})
    for entry, row_id in zip(entries, ids, strict=True):
        entry["after"]["id"] = row_id
    conn.execute(_AUDIT, _rows(entries))
    return revision


def allocate(
    session: Session, *, host: str, handle: str, family: int, attrs: dict[str, str]
) -> list[dict[str, Any]] | None:
    """``allocate_many`` of one request, audited under the session's caller."""
    who = session.info.get("principal"), session.info.get("request")
    return allocate_many(session, [Request(host, handle, family, attrs, *who)])[0]


# A handle's allocations with what the API shows of them, IPv4 first as ``release.release``.
_REVISION_NOW = select(FabricState.revision).where(FabricState.id == 1).scalar_subquery()


def _held_rows(*revision: Any) -> tuple[Executable, Executable]:
    return _one_or_many(
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


_HELD_ROWS = _held_rows()
# The same, each row with the fabric's revision: read in one statement, so as of one snapshot.
_HELD_ROWS_AT = _held_rows(_REVISION_NOW)
_DELETE = delete(_allocs).where(_allocs.c.id.in_(bindparam("ids", expanding=True)))
_EMPTY = (
    update(_blocks)
    .where(_blocks.c.id == bindparam("block_id"))
    .values(allocated=_blocks.c.allocated - bindparam("removed"))
)
_COLUMNS = ("id", "address", "family", "block_id", "host_id", "handle", "attributes",
            "created_at")  # fmt: skip


@dataclass(frozen=True)
class Release:
    """A release by handle (every family, or one); ``principal`` and ``label`` as in
    ``Request``."""

    handle: str
    family: int | None = None
    principal: Any = None
    label: str | None = None


@dataclass
class _Releases:
    """What a batch of releases takes away: for each release the allocations it releases,
    described as ``queries.describe`` does; the rows (``_HELD_ROWS``) and their audit
    entries."""

    out: list[list[dict[str, Any]]]
    rows: list[Any]
    entries: list[dict[str, Any]]

    @classmethod
    def of(cls, releases: list[Release], found: Iterable[Any]) -> _Releases:
        """As ``release.release`` one after another would release them: a handle released
        twice in the batch releases nothing the second time; audited as the ORM's flush hook
        audits a delete."""
        held: dict[str, list[Any]] = defaultdict(list)
        for row in found:
            held[row[5]].append(row)
        plan = cls([[] for _ in releases], [], [])
        gone: set[int] = set()
        for i, ask in enumerate(releases):
            for row in held[ask.handle]:
                if row[0] in gone or (ask.family is not None and row[2] != ask.family):
                    continue
                gone.add(row[0])
                plan.rows.append(row)
                before = audit.row_values(dict(zip(_COLUMNS, row[:8], strict=True)))
                plan.entries.append(
                    audit.entry_by(ask.principal, ask.label, "delete", "allocations",
                                   f"allocations/{row[1]}", before, None)
                )  # fmt: skip
                plan.out[i].append({
                    "address": row[1], "family": row[2], "host": row[8], "handle": row[5],
                    "block": row[9], "pool": row[11], "borrowed": row[10] != row[4],
                    "attributes": row[6], "created_at": row[7],
                })  # fmt: skip
        return plan

    def pg_rows(self) -> list[dict[str, Any]]:
        """``pg_batch``'s rows of a delete: each entry with the row's ids."""
        ids = ("id", "block_id", "host_id")
        return [{**e, **{k: e["before"][k] for k in ids}} for e in self.entries]


def _handles(releases: list[Release]) -> list[str]:
    return sorted({r.handle for r in releases})


def release_many(session: Session, releases: list[Release]) -> list[list[dict[str, Any]]]:
    """For each release, the allocations it released (``_Releases``), in ``session``'s
    transaction."""
    if not releases:
        return []
    conn = session.connection()
    plan = _Releases.of(releases, _execute(conn, _HELD_ROWS, "h", _handles(releases)))
    if not plan.rows:
        return plan.out  # idempotent: nothing released, nothing bumped
    if conn.dialect.name == "postgresql":  # one statement (``pg_batch``)
        ipam_pg.write(session, "delete", plan.pg_rows(), utcnow().isoformat())
        return plan.out
    removed: dict[int, int] = defaultdict(int)
    for row in plan.rows:
        removed[row[3]] += 1
    conn.execute(_DELETE, {"ids": sorted(row[0] for row in plan.rows)})
    conn.execute(_EMPTY, _rows([{"block_id": b, "removed": n} for b, n in removed.items()]))
    touch_hosts(session, {row[4] for row in plan.rows})
    conn.execute(_AUDIT, _rows(plan.entries))
    return plan.out


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
    if engine.dialect.name != "postgresql" or not releases:
        return None
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        found = list(_execute(conn, _HELD_ROWS_AT, "h", _handles(releases)))
        plan = _Releases.of(releases, found)
        if not plan.rows:
            return plan.out, None
        at = utcnow().isoformat()
        read_at = found[0][-1]  # the revision, the last column of every row (one snapshot)
        revision = ipam_pg.write_at_once(conn, "delete", plan.pg_rows(), at, read_at)
    return None if revision is None else (plan.out, revision)
