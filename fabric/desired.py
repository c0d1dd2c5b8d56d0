"""Desired state of one host: the prefixes its speaker must announce.

- ``aggregate``: every block affine to the host, plus a /32 (/128) for each
  address it borrowed from another host's block;
- ``host-routes``: one /32 (/128) per address the host holds.

Both queries use the host's own indexes, so the cost follows the host's
prefixes, not the size of the fabric.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric.db import current_revision
from fabric.hosts import get_host
from fabric.ipam.blocks import host_prefix
from fabric.models import Allocation, Block


@dataclass(frozen=True)
class Advertisement:
    prefix: str
    kind: str  # "block" | "borrowed" | "workload"


@dataclass
class DesiredState:
    host: str
    next_hop: str
    asn: int
    mode: str
    revision: int
    host_revision: int
    advertisements: list[Advertisement] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)


def desired_state(session: Session, host_name: str) -> DesiredState:
    """Raises: NotFound (host)."""
    host = get_host(session, host_name)
    blocks = list(
        session.execute(
            select(Block.id, Block.cidr).where(Block.host_id == host.id).order_by(Block.id)
        )
    )
    own_block_ids = {b.id for b in blocks}
    addresses = session.execute(
        select(Allocation.address, Allocation.block_id)
        .where(Allocation.host_id == host.id)
        .order_by(Allocation.id)
    ).all()
    adverts: list[Advertisement] = []
    if host.advertise_mode == "aggregate":
        adverts += [Advertisement(b.cidr, "block") for b in blocks]
        adverts += [
            Advertisement(host_prefix(a.address), "borrowed")
            for a in addresses
            if a.block_id not in own_block_ids
        ]
    else:
        adverts += [Advertisement(host_prefix(a.address), "workload") for a in addresses]
    return DesiredState(
        host=host.name,
        next_hop=host.address,
        asn=host.asn,
        mode=host.advertise_mode,
        revision=current_revision(session),
        host_revision=host.revision,
        advertisements=adverts,
        blocks=[b.cidr for b in blocks],
    )
