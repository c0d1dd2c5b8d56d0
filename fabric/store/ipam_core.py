"""SQLite's IPAM writer: a plan (``fabric.ipam.plan``) applied in a few Core statements in the
session's transaction, one of each kind for the whole batch (bench/README.md: measured
choices). PostgreSQL's writer, ``ipam_pg``, applies the same plans in one statement; on
PostgreSQL this one serves only when that is switched off (``speed_layers``, to measure it).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.orm import Session

from fabric import audit
from fabric.ipam.plan import AllocationPlan, ReleasePlan
from fabric.models import Allocation, Block
from fabric.revisions import touch_hosts
from fabric.store import core_statements as core

_allocs, _blocks = core.table(Allocation), core.table(Block)
# Ids back in the rows' order (SQLAlchemy's "insertmanyvalues": one statement per batch).
_INSERT = insert(_allocs).returning(_allocs.c.id, sort_by_parameter_order=True)
_FILL = (
    update(_blocks)
    .where(_blocks.c.id == bindparam("block_id"))
    .values(allocated=_blocks.c.allocated + bindparam("added"))
)
_DELETE = delete(_allocs).where(_allocs.c.id.in_(bindparam("ids", expanding=True)))
_EMPTY = (
    update(_blocks)
    .where(_blocks.c.id == bindparam("block_id"))
    .values(allocated=_blocks.c.allocated - bindparam("removed"))
)


def write_allocations(session: Session, plan: AllocationPlan) -> int:
    """Insert the rows, count them in their blocks, touch their hosts, log them; the revision.
    (The handles were read under the write lock, so none is held already.)"""
    conn = session.connection()
    ids = conn.execute(_INSERT, core.rows(plan.rows)).scalars().all()
    filled = [{"block_id": r.block_id, "added": r.added} for r in plan.filled]
    conn.execute(_FILL, core.rows(filled))
    revision = touch_hosts(session, {row["host_id"] for row in plan.rows})
    for entry, row_id in zip(plan.entries, ids, strict=True):
        entry["after"]["id"] = row_id
    audit.log(conn, plan.entries)
    return revision


def write_releases(session: Session, plan: ReleasePlan) -> None:
    """Delete the rows, uncount them from their blocks, touch their hosts, log them."""
    conn = session.connection()
    conn.execute(_DELETE, {"ids": sorted(row.id for row in plan.rows)})
    emptied = [{"block_id": b, "removed": n} for b, n in plan.emptied().items()]
    conn.execute(_EMPTY, core.rows(emptied))
    touch_hosts(session, {row.host_id for row in plan.rows})
    audit.log(conn, plan.entries)
