"""Releasing addresses: by handle, by address, or rows chosen by GC and host deletion.

Release is idempotent: releasing what is not allocated is not an error and
changes nothing (no revision bump).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric.errors import Conflict, InvalidInput
from fabric.models import Allocation, Block
from fabric.revisions import touch_hosts
from fabric.validation import parse_address


def release_rows(session: Session, rows: Sequence[Allocation]) -> list[Allocation]:
    """Delete the allocations, keep the block counters true, mark their hosts changed."""
    if not rows:
        return []
    blocks = {
        b.id: b
        for b in session.scalars(select(Block).where(Block.id.in_({r.block_id for r in rows})))
    }
    for row in rows:
        blocks[row.block_id].allocated -= 1
        session.delete(row)
    touch_hosts(session, {r.host_id for r in rows})
    session.flush()
    return list(rows)


def release(
    session: Session,
    *,
    handle: str | None = None,
    address: str | None = None,
    family: int | None = None,
) -> list[Allocation]:
    """Release by handle (every family, or one) or by address.

    With both, the address is released only if that handle still owns it: an
    orchestrator's late release never frees an address that was given to a new
    workload in between.

    Raises: InvalidInput when neither is given; Conflict (``handle_mismatch``).
    """
    if handle is None and address is None:
        raise InvalidInput("Give a handle or an address to release.", code="release_target_missing")
    stmt = select(Allocation)
    if address is not None:
        stmt = stmt.where(Allocation.address == parse_address(address).compressed)
        rows = list(session.scalars(stmt))
        if handle is not None and rows and rows[0].handle != handle:
            raise Conflict(
                f"Address {rows[0].address} belongs to another handle now; not released.",
                code="handle_mismatch",
            )
    else:
        # IPv4 before IPv6, as a dual-stack allocation answers (and ``fast.release_many``).
        stmt = stmt.where(Allocation.handle == handle).order_by(Allocation.family)
        if family is not None:
            stmt = stmt.where(Allocation.family == family)
        rows = list(session.scalars(stmt))
    return release_rows(session, rows)
