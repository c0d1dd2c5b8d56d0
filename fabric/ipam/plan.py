"""What a batch of allocations or releases does, decided in memory: the pure half of the
backends' writers (``fabric.store.ipam_fast`` applies a plan on SQLite and PostgreSQL).

A batch is planned as one request after another would be served: each allocation the lowest
free address of its host's first block with room, each release what ``release.release``
would take away (a handle released twice in a batch releases nothing the second time). The
rows are typed: the writers read ``row.allocated``, never ``row[5]``. Nothing here touches a
database: a block's taken addresses, when a plan needs ones it was not given, come through
the ``load`` function its writer passes in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from fabric import audit
from fabric.ipam.blocks import block_shape, first_free
from fabric.models import utcnow
from fabric.validation import IPNetwork


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


@dataclass(frozen=True)
class Release:
    """A release by handle (every family, or one); ``principal`` and ``label`` as in
    ``Request``."""

    handle: str
    family: int | None = None
    principal: Any = None
    label: str | None = None


class BlockRow(NamedTuple):
    """One block of a host, as a batch reads it (``ipam_fast``'s first statement)."""

    host: str
    family: int
    host_id: int
    block_id: int
    cidr: str
    allocated: int
    pool: str
    reserved: list[str] | None


class HeldRow(NamedTuple):
    """One allocation a release may take away, with what the API shows of it."""

    id: int
    address: str
    family: int
    block_id: int
    host_id: int
    handle: str
    attributes: dict[str, str]
    created_at: dt.datetime
    host: str
    block: str
    block_host_id: int  # the block's owner: another host's when the address is borrowed
    pool: str

    @property
    def columns(self) -> dict[str, Any]:
        """The allocation's own columns, as the audit records a row."""
        return {k: getattr(self, k) for k in ALLOCATION_COLUMNS}


ALLOCATION_COLUMNS = ("id", "address", "family", "block_id", "host_id", "handle", "attributes",
                      "created_at")  # fmt: skip


@dataclass
class Room:
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


Load = Callable[[list[Room]], None]  # fills ``taken`` of these rooms (the writer's reads)


def rooms_of(
    blocks: list[BlockRow], known: dict[int, set[int]], load: Load
) -> dict[tuple[str, int], list[Room]]:
    """Each (host, family)'s blocks, the taken addresses of the first one with room in hand:
    from ``known`` (copied: a rollback must not reach it), else loaded."""
    rooms: dict[tuple[str, int], list[Room]] = defaultdict(list)
    for row in blocks:
        shape = block_shape(row.cidr, tuple(row.reserved or ()))
        rooms[(row.host, row.family)].append(
            Room(row.host_id, row.block_id, row.cidr, row.allocated, row.pool, *shape)
        )
    first = [next((r for r in blocks if r.has_room), None) for blocks in rooms.values()]
    for room in first:
        if room is not None and room.block_id in known:
            room.taken = set(known[room.block_id])
    unknown = [r for r in first if r is not None and r.taken is None]
    if unknown:
        load(unknown)
    return rooms


def _place(blocks: list[Room], load: Load) -> tuple[Room, str] | None:
    """The lowest free address of the first of these blocks with room, taken in memory."""
    for room in blocks:
        if not room.has_room:
            continue
        if room.taken is None:
            load([room])
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


@dataclass
class Known:
    """Blocks' taken addresses, and hosts' blocks, as of a committed revision: what a writer
    need not read again while the fabric is still at that revision."""

    revision: int
    taken: dict[int, set[int]]
    hosts: dict[str, list[BlockRow]]

    def blocks_of(self, names: list[str]) -> list[BlockRow] | None:
        """These hosts' blocks, or None unless every one of them is known."""
        if not all(name in self.hosts for name in names):
            return None
        return [row for name in names for row in self.hosts[name]]

    @staticmethod
    def after(
        known: Known | None,
        blocks: list[BlockRow],
        rooms: dict[tuple[str, int], list[Room]],
        revision: int,
    ) -> Known:
        """What is known after a write: what was, and this batch's hosts and blocks as it left
        them. A full block is left out, its addresses and its row (it is searched no more; only
        a release makes room in it, and that moves the revision), so what is kept is about one
        block per host and family: planning stays as cheap when a host has filled many."""
        seen = {r.block_id: r for blocks in rooms.values() for r in blocks}
        before = known or Known(0, {}, {})
        taken = {**before.taken, **{b: r.taken for b, r in seen.items() if r.taken is not None}}
        for full in (b for b, r in seen.items() if not r.has_room):
            taken.pop(full, None)
        hosts: dict[str, list[BlockRow]] = {row.host: [] for row in blocks}
        for row in blocks:
            room = seen[row.block_id]
            if room.has_room:
                hosts[row.host].append(row._replace(allocated=room.allocated))
        return Known(revision, taken, {**before.hosts, **hosts})


@dataclass
class AllocationPlan:
    """What a batch writes: the rows in memory, placed as one after another would be."""

    rows: list[dict[str, Any]]  # the allocations' columns, as inserted
    entries: list[dict[str, Any]]  # their audit entries
    placed: list[tuple[int, Room]]  # (request's index, its block), row by row
    now: dt.datetime

    @classmethod
    def of(
        cls,
        requests: list[Request],
        rooms: dict[tuple[str, int], list[Room]],
        held: set[tuple[str, int]],
        load: Load,
    ) -> AllocationPlan:
        """``held``: the (handle, family) pairs held already; the planned ones join it."""
        rows: list[dict[str, Any]] = []
        placed: list[tuple[int, Room]] = []
        now = utcnow()
        for i, request in enumerate(requests):
            if (request.handle, request.family) in held:  # held, or asked twice in the batch
                continue
            found = _place(rooms.get((request.host, request.family), []), load)
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
    def filled(self) -> list[Room]:
        """The blocks the rows go to, each once."""
        return list({room.block_id: room for _, room in self.placed}.values())

    def pg_rows(self) -> list[dict[str, Any]]:
        """The rows as ``ipam_pg`` takes them: each with its audit entry's columns."""
        return [{**row, **entry} for row, entry in zip(self.rows, self.entries, strict=True)]

    def answers(self, requests: list[Request]) -> list[list[dict[str, Any]] | None]:
        """Each request's allocation described as ``queries.describe`` does; None: not
        served by this plan."""
        out: list[list[dict[str, Any]] | None] = [None] * len(requests)
        for (i, room), row in zip(self.placed, self.rows, strict=True):
            request = requests[i]
            out[i] = [{
                "address": row["address"], "family": request.family, "host": request.host,
                "handle": request.handle, "block": room.cidr, "pool": room.pool,
                "borrowed": False, "attributes": request.attrs, "created_at": self.now,
            }]  # fmt: skip
        return out


@dataclass
class ReleasePlan:
    """What a batch of releases takes away: for each release the allocations it releases,
    described as ``queries.describe`` does; the rows and their audit entries."""

    out: list[list[dict[str, Any]]]
    rows: list[HeldRow]
    entries: list[dict[str, Any]]

    @classmethod
    def of(cls, releases: list[Release], found: Iterable[HeldRow]) -> ReleasePlan:
        """Audited as the ORM's flush hook audits a delete."""
        held: dict[str, list[HeldRow]] = defaultdict(list)
        for row in found:
            held[row.handle].append(row)
        plan = cls([[] for _ in releases], [], [])
        gone: set[int] = set()
        for i, ask in enumerate(releases):
            for row in held[ask.handle]:
                if row.id in gone or (ask.family is not None and row.family != ask.family):
                    continue
                gone.add(row.id)
                plan.rows.append(row)
                plan.entries.append(
                    audit.entry_by(ask.principal, ask.label, "delete", "allocations",
                                   f"allocations/{row.address}",
                                   audit.row_values(row.columns), None)
                )  # fmt: skip
                plan.out[i].append({
                    "address": row.address, "family": row.family, "host": row.host,
                    "handle": row.handle, "block": row.block, "pool": row.pool,
                    "borrowed": row.block_host_id != row.host_id,
                    "attributes": row.attributes, "created_at": row.created_at,
                })  # fmt: skip
        return plan

    def emptied(self) -> dict[int, int]:
        """How many allocations leave each block."""
        removed: dict[int, int] = defaultdict(int)
        for row in self.rows:
            removed[row.block_id] += 1
        return dict(removed)

    def pg_rows(self) -> list[dict[str, Any]]:
        """``ipam_pg``'s rows of a delete: each entry with the row's ids."""
        ids = ("id", "block_id", "host_id")
        return [{**e, **{k: e["before"][k] for k in ids}} for e in self.entries]
