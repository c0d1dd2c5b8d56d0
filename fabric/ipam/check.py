"""Consistency check and garbage collection of IPAM.

The check only reads. GC releases a host's allocations whose handles the
orchestrator no longer knows, and only those older than a grace period:
orchestrators list workloads with a lag, and a just-started workload must
never lose its address to a GC run that raced its creation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fabric.hosts import get_host
from fabric.ipam.release import release_rows
from fabric.models import Allocation, Block, Host, utcnow


@dataclass
class CheckReport:
    allocations_without_host: list[dict[str, Any]] = field(default_factory=list)
    blocks_of_missing_hosts: list[dict[str, Any]] = field(default_factory=list)
    handles_with_several_addresses: list[dict[str, Any]] = field(default_factory=list)
    counter_mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(
            (
                self.allocations_without_host,
                self.blocks_of_missing_hosts,
                self.handles_with_several_addresses,
                self.counter_mismatches,
            )
        )


def check(session: Session) -> CheckReport:
    out = CheckReport()
    for address, handle, host_id in session.execute(
        select(Allocation.address, Allocation.handle, Allocation.host_id)
        .outerjoin(Host, Host.id == Allocation.host_id)
        .where(Host.id.is_(None))
    ):
        out.allocations_without_host.append(
            {"address": address, "handle": handle, "host_id": host_id}
        )
    for cidr, host_id in session.execute(
        select(Block.cidr, Block.host_id)
        .outerjoin(Host, Host.id == Block.host_id)
        .where(Block.host_id.is_not(None), Host.id.is_(None))
    ):
        out.blocks_of_missing_hosts.append({"block": cidr, "host_id": host_id})
    for handle, family, _count in session.execute(
        select(Allocation.handle, Allocation.family, func.count())
        .group_by(Allocation.handle, Allocation.family)
        .having(func.count() > 1)
    ):
        addrs = session.scalars(
            select(Allocation.address).where(
                Allocation.handle == handle, Allocation.family == family
            )
        )
        out.handles_with_several_addresses.append(
            {"handle": handle, "family": family, "addresses": sorted(addrs)}
        )
    counts = (
        select(Allocation.block_id, func.count().label("n"))
        .group_by(Allocation.block_id)
        .subquery()
    )
    for cidr, counter, rows in session.execute(
        select(Block.cidr, Block.allocated, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.block_id == Block.id)
        .where(Block.allocated != func.coalesce(counts.c.n, 0))
    ):
        out.counter_mismatches.append({"block": cidr, "counter": counter, "rows": rows})
    return out


def gc(
    session: Session,
    *,
    host: str,
    keep_handles: set[str],
    grace: dt.timedelta,
    dry_run: bool = False,
    handle_prefix: str | None = None,
) -> list[Allocation]:
    """Release the host's allocations whose handle is not kept and that are older than grace;
    with ``handle_prefix``, only among the handles that start with it."""
    target = get_host(session, host)
    cutoff = utcnow() - grace
    rows = [
        row
        for row in session.scalars(select(Allocation).where(Allocation.host_id == target.id))
        if row.handle not in keep_handles
        and row.created_at <= cutoff
        and row.handle.startswith(handle_prefix or "")
    ]
    return rows if dry_run else release_rows(session, rows)
