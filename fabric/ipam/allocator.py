"""Allocation of addresses to (host, handle), Calico-style block affinity.

Order of search for one family:
1. the handle already holds an address of that family: return it (idempotent);
2. a free address in a block affine to the host;
3. a block nobody holds (left over by a deleted host, or never claimed) in an
   enabled pool whose selector matches the host: claim it, take its first address;
4. unless the pool has strict affinity, borrow one address from another host's
   block (announced as a /32 or /128 by the borrower);
5. otherwise PoolExhausted.

Invariants (tested by a property test): an address is never allocated twice
(also a unique constraint), never lost, and ``Block.allocated`` equals the
number of allocation rows of the block. Callers hold the write lock
(``Database.write``), which serializes this whole search fabric-wide.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric.errors import AddressInUse, Conflict, InvalidInput, PoolExhausted
from fabric.hosts import get_host
from fabric.ipam import queries
from fabric.ipam.blocks import (
    block_of,
    block_shape,
    first_free,
    is_reserved,
    reserved_networks,
    unclaimed_blocks,
)
from fabric.models import Allocation, Block, Host, Pool
from fabric.revisions import touch_hosts
from fabric.validation import (
    IPAddress,
    check_handle,
    matches,
    parse_address,
    validate_attributes,
)

FAMILIES = {"4": (4,), "6": (6,), "dual": (4, 6)}


def allocate(
    session: Session,
    *,
    host: str,
    handle: str,
    family: str = "4",
    address: str | None = None,
    attributes: dict[str, Any] | None = None,
    pools: list[str] | None = None,
) -> list[Allocation]:
    """Allocate one address per family for the handle on the host.

    ``pools`` (names) restricts where a new address may come from (a CNI network's
    ``pools``); an address the handle already holds is returned wherever it is.

    Raises: NotFound (host); InvalidInput (``unknown_pool`` among others); AddressInUse;
    PoolExhausted; Conflict (``handle_in_use``: the handle holds an address on another host).
    """
    families = FAMILIES.get(str(family))
    if families is None:
        raise InvalidInput(f"Family {family!r} is not 4, 6 or dual.", code="invalid_family")
    check_handle(handle)
    attrs = validate_attributes(attributes or {})
    target = get_host(session, host)
    requested = parse_address(address, what="requested address") if address else None
    if requested is not None and requested.version not in families:
        raise InvalidInput(
            f"Requested address {requested} is not of family {family}.", code="invalid_family"
        )
    allowed = _allowed_pools(session, pools)
    out = []
    for fam in families:
        wanted = requested if requested is not None and requested.version == fam else None
        out.append(_allocate_family(session, target, handle, fam, wanted, attrs, allowed))
    return out


def _allowed_pools(session: Session, names: list[str] | None) -> set[int] | None:
    """The ids of the named pools (None: every pool).

    Raises: InvalidInput (``unknown_pool``) for a name no pool has.
    """
    if not names:
        return None
    found: dict[str, int] = {
        name: pool_id
        for name, pool_id in session.execute(select(Pool.name, Pool.id).where(Pool.name.in_(names)))
    }
    missing = sorted(set(names) - set(found))
    if missing:
        raise InvalidInput(f"No pool is named {', '.join(missing)}.", code="unknown_pool")
    return set(found.values())


def _allocate_family(
    session: Session,
    host: Host,
    handle: str,
    family: int,
    requested: IPAddress | None,
    attrs: dict[str, str],
    allowed: set[int] | None = None,
) -> Allocation:
    existing = session.scalar(
        select(Allocation).where(Allocation.handle == handle, Allocation.family == family)
    )
    if existing is not None:
        if existing.host_id != host.id:
            raise Conflict(
                f"Handle {handle!r} already holds {existing.address} on another host; "
                "release it there first.",
                code="handle_in_use",
            )
        if requested is not None and existing.address != requested.compressed:
            raise Conflict(
                f"Handle {handle!r} already holds {existing.address}, not {requested}.",
                code="handle_in_use",
            )
        return existing
    if requested is not None:
        block, addr = _requested(session, host, requested)
    else:
        block, addr = _search(session, host, family, allowed)
    row = Allocation(
        address=addr.compressed,
        family=family,
        block_id=block.id,
        host_id=host.id,
        handle=handle,
        attributes=attrs,
    )
    block.allocated += 1
    session.add(row)
    touch_hosts(session, {host.id})
    session.flush()
    return row


def _candidate_pools(
    session: Session, host: Host, family: int, allowed: set[int] | None = None
) -> list[Pool]:
    pools = session.scalars(
        select(Pool).where(Pool.family == family, Pool.disabled.is_(False)).order_by(Pool.id)
    )
    return [
        p
        for p in pools
        if matches(p.selector, host.labels) and (allowed is None or p.id in allowed)
    ]


def _free_in(session: Session, block: Block) -> IPAddress | None:
    net, reserved, capacity = block_shape(block.cidr, tuple(block.pool.reserved or ()))
    if block.allocated >= capacity:
        return None
    return first_free(net, queries.taken_in(session, block.id, net.version), reserved)


def _first_with_room(session: Session, blocks: Iterable[Block]) -> tuple[Block, IPAddress] | None:
    for block in blocks:
        addr = _free_in(session, block)
        if addr is not None:
            return block, addr
    return None


def _search(
    session: Session, host: Host, family: int, allowed: set[int] | None = None
) -> tuple[Block, IPAddress]:
    own_query = (
        select(Block)
        .join(Pool)
        .where(Block.host_id == host.id, Pool.family == family)
        .order_by(Block.id)
    )
    if allowed is not None:
        own_query = own_query.where(Block.pool_id.in_(allowed))
    found = _first_with_room(session, session.scalars(own_query))
    if found:
        return found
    pools = _candidate_pools(session, host, family, allowed)
    for pool in pools:
        found = _claim(session, host, pool)
        if found:
            return found
    for pool in (p for p in pools if not p.strict_affinity):
        others = session.scalars(
            select(Block)
            .where(Block.pool_id == pool.id, Block.host_id != host.id)
            .order_by(Block.allocated, Block.id)
        )
        found = _first_with_room(session, others)
        if found:
            return found
    raise PoolExhausted(
        f"No IPv{family} address left for host {host.name!r}: its blocks, the free blocks "
        "and the borrowable addresses of the pools that match it are exhausted.",
        host=host.name,
        family=family,
    )


def _claim(session: Session, host: Host, pool: Pool) -> tuple[Block, IPAddress] | None:
    """Give the host a block of the pool: an orphaned one with room, else a new one."""
    orphans = session.scalars(
        select(Block).where(Block.pool_id == pool.id, Block.host_id.is_(None)).order_by(Block.id)
    )
    found = _first_with_room(session, orphans)
    if found:
        found[0].host_id = host.id
        return found
    claimed = set(session.scalars(select(Block.cidr).where(Block.pool_id == pool.id)))
    reserved = reserved_networks(pool.reserved)
    net = ipaddress.ip_network(pool.cidr)
    for cidr in unclaimed_blocks(net, pool.block_prefix, claimed, reserved):
        block = Block(pool=pool, cidr=str(cidr), host_id=host.id, allocated=0)
        session.add(block)
        session.flush()
        addr = first_free(cidr, set(), reserved)
        assert addr is not None  # unclaimed_blocks yields only blocks with a usable address
        return block, addr
    return None


def _requested(session: Session, host: Host, addr: IPAddress) -> tuple[Block, IPAddress]:
    pool = next(
        (
            p
            for p in session.scalars(select(Pool).where(Pool.family == addr.version))
            if addr in ipaddress.ip_network(p.cidr)
        ),
        None,
    )
    if pool is None:
        raise InvalidInput(f"Address {addr} is in no pool.", code="address_not_in_pool")
    if is_reserved(addr, reserved_networks(pool.reserved)):
        raise InvalidInput(
            f"Address {addr} is reserved in pool {pool.name!r}.", code="address_reserved"
        )
    owner = session.scalar(select(Allocation).where(Allocation.address == addr.compressed))
    if owner is not None:
        raise AddressInUse(f"Address {addr} is already allocated.", address=addr.compressed)
    cidr = str(block_of(addr, pool.block_prefix))
    block = session.scalar(select(Block).where(Block.cidr == cidr))
    if block is not None and block.host_id == host.id:
        return block, addr
    eligible = not pool.disabled and matches(pool.selector, host.labels)
    if not eligible:
        raise InvalidInput(
            f"Address {addr} is out of reach of host {host.name!r}: pool {pool.name!r} is "
            "disabled or its selector does not match the host.",
            code="address_out_of_reach",
        )
    if block is None:
        block = Block(pool=pool, cidr=cidr, host_id=host.id, allocated=0)
        session.add(block)
        session.flush()
    elif block.host_id is None:
        block.host_id = host.id
    elif pool.strict_affinity:
        raise InvalidInput(
            f"Address {addr} is in a block of another host and pool {pool.name!r} has "
            "strict affinity.",
            code="address_out_of_reach",
        )
    return block, addr
