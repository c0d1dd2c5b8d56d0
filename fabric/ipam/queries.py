"""Read side of IPAM: who owns an address, allocations by host, pool or handle."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from fabric.errors import NotFound
from fabric.hosts import get_host
from fabric.ipam.blocks import address_numbers
from fabric.models import Allocation, Block
from fabric.pools import get_pool
from fabric.validation import parse_address


def _with_context(stmt: Select[tuple[Allocation]]) -> Select[tuple[Allocation]]:
    return stmt.options(
        joinedload(Allocation.host), joinedload(Allocation.block).joinedload(Block.pool)
    )


def list_allocations(
    session: Session,
    *,
    host: str | None = None,
    pool: str | None = None,
    handle: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[Allocation]:
    stmt = select(Allocation)
    if host is not None:
        stmt = stmt.where(Allocation.host_id == get_host(session, host).id)
    if pool is not None:
        stmt = stmt.join(Block, Block.id == Allocation.block_id).where(
            Block.pool_id == get_pool(session, pool).id
        )
    if handle is not None:
        stmt = stmt.where(Allocation.handle == handle)
    stmt = _with_context(stmt.order_by(Allocation.id).limit(limit).offset(offset))
    return list(session.scalars(stmt).unique())


def owner_of(session: Session, address: str) -> Allocation:
    """Raises: InvalidInput (not an address); NotFound (``address_not_allocated``)."""
    canonical = parse_address(address).compressed
    row = session.scalar(_with_context(select(Allocation).where(Allocation.address == canonical)))
    if row is None:
        raise NotFound(f"Address {canonical} is not allocated.", code="address_not_allocated")
    return row


def describe(row: Allocation) -> dict[str, Any]:
    """An allocation with its context, as the API and CLI show it."""
    return {
        "address": row.address,
        "family": row.family,
        "host": row.host.name,
        "handle": row.handle,
        "block": row.block.cidr,
        "pool": row.block.pool.name,
        "borrowed": row.block.host_id != row.host_id,
        "attributes": row.attributes,
        "created_at": row.created_at,
    }


def taken_in(session: Session, block_id: int, version: int) -> set[int]:
    """The addresses allocated in a block, as integers; the session's pending allocations are
    flushed first, so the search sees what this transaction took already."""
    rows = session.scalars(select(Allocation.address).where(Allocation.block_id == block_id))
    return address_numbers(list(rows), version)
