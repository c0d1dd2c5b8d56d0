"""Pools: the CIDRs the fabric hands addresses out of, carved into per-host blocks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fabric.errors import AlreadyExists, InUse, PoolOverlap
from fabric.ipam.blocks import (
    check_block_prefix,
    default_block_prefix,
    parse_reserved,
    reserved_networks,
    usable_in,
)
from fabric.models import Allocation, Block, Host, Pool
from fabric.named import by_name
from fabric.revisions import bump_revision, touch_hosts
from fabric.validation import parse_network, validate_labels, validate_name


def get_pool(session: Session, name: str) -> Pool:
    """Raises: NotFound (code ``pool_not_found``)."""
    return by_name(session, Pool, name, "pool")


def list_pools(session: Session) -> list[Pool]:
    return list(session.scalars(select(Pool).order_by(Pool.name)))


def create_pool(
    session: Session,
    *,
    name: str,
    cidr: str,
    block_size: int | None = None,
    selector: dict[str, Any] | None = None,
    reserved: list[str] | None = None,
    strict_affinity: bool = False,
    disabled: bool = False,
) -> Pool:
    """Create a pool. Raises: InvalidInput, AlreadyExists, PoolOverlap."""
    validate_name("Pool", name)
    net = parse_network(cidr, what="Pool CIDR")
    prefix = check_block_prefix(net, block_size or default_block_prefix(net.version))
    if session.scalar(select(Pool.id).where(Pool.name == name)) is not None:
        raise AlreadyExists(f"Pool {name!r} already exists.", code="pool_exists")
    for other in session.scalars(select(Pool).where(Pool.family == net.version)):
        if net.overlaps(ipaddress.ip_network(other.cidr)):
            raise PoolOverlap(
                f"Pool {cidr} overlaps pool {other.name!r} ({other.cidr}).", pool=other.name
            )
    pool = Pool(
        name=name,
        cidr=str(net),
        family=net.version,
        block_prefix=prefix,
        selector=validate_labels(selector or {}, what="selector"),
        reserved=parse_reserved(net, reserved or []),
        strict_affinity=strict_affinity,
        disabled=disabled,
    )
    session.add(pool)
    bump_revision(session)
    session.flush()
    return pool


def update_pool(
    session: Session,
    name: str,
    *,
    disabled: bool | None = None,
    strict_affinity: bool | None = None,
    selector: dict[str, Any] | None = None,
) -> Pool:
    """Change what decides new claims; existing blocks and addresses stay where they are."""
    pool = get_pool(session, name)
    if disabled is not None:
        pool.disabled = disabled
    if strict_affinity is not None:
        pool.strict_affinity = strict_affinity
    if selector is not None:
        pool.selector = validate_labels(selector, what="selector")
    bump_revision(session)
    session.flush()
    return pool


def delete_pool(session: Session, name: str) -> None:
    """Delete a pool and its (empty) blocks. Raises: NotFound; InUse while it has allocations."""
    pool = get_pool(session, name)
    used = session.scalar(
        select(func.count()).select_from(Allocation).join(Block).where(Block.pool_id == pool.id)
    )
    if used:
        raise InUse(
            f"Pool {name!r} still has {used} allocation(s); release them first.",
            code="pool_in_use",
            allocations=used,
        )
    affine = set(session.scalars(select(Block.host_id).where(Block.pool_id == pool.id)))
    for block in session.scalars(select(Block).where(Block.pool_id == pool.id)):
        session.delete(block)
    touch_hosts(session, {h for h in affine if h is not None})
    session.flush()
    session.delete(pool)
    session.flush()


@dataclass
class HostUsage:
    host: str | None
    blocks: int = 0
    allocated: int = 0


@dataclass
class PoolUsage:
    pool: Pool
    total: int
    allocated: int
    blocks_claimed: int
    borrowed: int
    by_host: list[HostUsage] = field(default_factory=list)

    @property
    def free(self) -> int:
        return self.total - self.allocated


def pool_usage(session: Session, pool: Pool) -> PoolUsage:
    """Usage from the block counters (what ``ipam check`` verifies against the rows)."""
    net = ipaddress.ip_network(pool.cidr)
    rows = session.execute(
        select(Host.name, func.count(Block.id), func.coalesce(func.sum(Block.allocated), 0))
        .select_from(Block)
        .outerjoin(Host, Host.id == Block.host_id)
        .where(Block.pool_id == pool.id)
        .group_by(Host.name)
        .order_by(Host.name)
    ).all()
    by_host = [HostUsage(host=name, blocks=int(n), allocated=int(a)) for name, n, a in rows]
    borrowed = session.scalar(
        select(func.count())
        .select_from(Allocation)
        .join(Block, Block.id == Allocation.block_id)
        .where(Block.pool_id == pool.id, Block.host_id.is_distinct_from(Allocation.host_id))
    )
    return PoolUsage(
        pool=pool,
        total=usable_in(net, reserved_networks(pool.reserved)),
        allocated=sum(h.allocated for h in by_host),
        blocks_claimed=sum(h.blocks for h in by_host),
        borrowed=int(borrowed or 0),
        by_host=by_host,
    )
