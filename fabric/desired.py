"""Desired state of one host: the prefixes its speaker must announce.

- ``aggregate``: every block affine to the host, plus a /32 (/128) for each
  address it borrowed from another host's block;
- ``host-routes``: one /32 (/128) per address the host holds.

The queries use the hosts' own indexes, so the cost follows their prefixes,
not the size of the fabric; many hosts are read together in a few queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric.hosts import get_host, next_hops
from fabric.ipam.blocks import host_prefix
from fabric.models import Allocation, Block, Host
from fabric.revisions import current_revision


@dataclass(frozen=True)
class Advertisement:
    prefix: str
    kind: str  # "block" | "borrowed" | "workload"


@dataclass
class DesiredState:
    host: str
    next_hop: str  # the host's fabric address (IPv4 unless the host is IPv6 only)
    next_hop6: str | None
    asn: int
    mode: str
    revision: int
    host_revision: int
    advertisements: list[Advertisement] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)


# Hosts per IN (...) list: well under SQLite's bound on query parameters.
_CHUNK = 500


def desired_state(session: Session, host_name: str) -> DesiredState:
    """Raises: NotFound (host)."""
    return desired_states(session, [get_host(session, host_name)])[host_name]


def desired_states(session: Session, hosts: Sequence[Host]) -> dict[str, DesiredState]:
    """Desired state of many hosts in a few queries (the long-poll hub wakes hundreds at once)."""
    revision = current_revision(session)
    blocks: dict[int, list[tuple[int, str]]] = defaultdict(list)
    addresses: dict[int, list[tuple[str, int]]] = defaultdict(list)
    # Plain rows on the session's connection: at 50,000 addresses the ORM's row
    # loading and attribute access cost more than the query.
    conn = session.connection()
    for i in range(0, len(hosts), _CHUNK):
        ids = [h.id for h in hosts[i : i + _CHUNK]]
        own = select(Block.host_id, Block.id, Block.cidr).where(Block.host_id.in_(ids))
        for host_id, block_id, cidr in conn.execute(own.order_by(Block.id)):
            blocks[host_id].append((block_id, cidr))
        held = select(Allocation.host_id, Allocation.address, Allocation.block_id).where(
            Allocation.host_id.in_(ids)
        )
        for host_id, address, block_id in conn.execute(held.order_by(Allocation.id)):
            addresses[host_id].append((address, block_id))
    return {h.name: _state(h, revision, blocks[h.id], addresses[h.id]) for h in hosts}


def _state(
    host: Host, revision: int, blocks: list[tuple[int, str]], addresses: list[tuple[str, int]]
) -> DesiredState:
    own_block_ids = {block_id for block_id, _ in blocks}
    adverts: list[Advertisement] = []
    if host.advertise_mode == "aggregate":
        adverts += [Advertisement(cidr, "block") for _, cidr in blocks]
        adverts += [
            Advertisement(host_prefix(address), "borrowed")
            for address, block_id in addresses
            if block_id not in own_block_ids
        ]
    else:
        adverts += [Advertisement(host_prefix(address), "workload") for address, _ in addresses]
    return DesiredState(
        host=host.name,
        next_hop=host.address,
        next_hop6=next_hops(host)[1],
        asn=host.asn,
        mode=host.advertise_mode,
        revision=revision,
        host_revision=host.revision,
        advertisements=adverts,
        blocks=[cidr for _, cidr in blocks],
    )
