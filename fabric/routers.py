"""Fabric routers (leaves/ToRs and spines) and the BGP neighbours that follow from addressing.

Nothing about a router's neighbours is stored: a host whose fabric address lies
in one of the router's interface subnets, and which has a peer at that
interface's address, is a host neighbour (timers and password from that peer);
another router with an interface in the same subnet is a fabric neighbour. So a
host registered with its peer shows up in its ToR's rendered configuration
without a second record to keep in step.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric.errors import AlreadyExists, InvalidInput
from fabric.hosts import list_hosts
from fabric.models import Allocation, Block, Host, Peer, Router, RouterApplied, utcnow
from fabric.named import by_name
from fabric.peers import peers_for_host
from fabric.validation import parse_address, validate_asn, validate_name

ROLES = ("leaf", "spine")
# Linux interface names: at most 15 bytes, no slash, no whitespace.
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
MAX_INTERFACES = 256


@dataclass(frozen=True)
class Neighbor:
    address: str
    asn: int
    kind: str  # host | router
    name: str
    interface: str
    hold_time: int | None = None
    keepalive: int | None = None
    password: str | None = None
    ttl_security: int = 0
    # Hosts only: what the host owns (blocks, and addresses it holds in others' blocks),
    # so the router accepts exactly that; and how many prefixes that can ever be.
    owned_blocks: tuple[str, ...] = ()
    borrowed: tuple[str, ...] = ()
    lent: tuple[str, ...] = ()  # addresses in its blocks that other hosts hold
    max_prefix: int | None = None
    # BFD with the host, from its peer's profile: (detect multiplier, rx ms, tx ms) or None.
    bfd: tuple[int, int, int] | None = None


def get_router(session: Session, name: str) -> Router:
    """Raises: NotFound (code ``router_not_found``)."""
    return by_name(session, Router, name, "router")


def list_routers(session: Session) -> list[Router]:
    return list(session.scalars(select(Router).order_by(Router.name)))


def _interfaces(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    if len(items) > MAX_INTERFACES:
        raise InvalidInput(f"At most {MAX_INTERFACES} interfaces.", code="invalid_interfaces")
    seen: set[str] = set()
    out = []
    for item in items:
        name, address = str(item.get("name", "")), str(item.get("address", ""))
        if not _IFNAME.match(name):
            raise InvalidInput(
                "Interface names are 1-15 letters, digits, '.', '_' or '-'.",
                code="invalid_interfaces",
            )
        if name in seen:
            raise InvalidInput(f"Interface {name!r} is listed twice.", code="invalid_interfaces")
        seen.add(name)
        try:
            if "/" not in address:  # a bare address would silently become a /32
                raise ValueError(address)
            iface = ipaddress.ip_interface(address)
        except ValueError:
            raise InvalidInput(
                f"Interface {name}: {address!r} is not an address with a prefix length "
                "(like 10.1.1.0/31).",
                code="invalid_interfaces",
            ) from None
        out.append({"name": name, "address": iface.with_prefixlen})
    return out


def create_router(
    session: Session,
    *,
    name: str,
    role: str,
    asn: int,
    router_id: str,
    interfaces: list[dict[str, Any]] | None = None,
) -> Router:
    """Add a fabric router. Raises: InvalidInput, AlreadyExists."""
    validate_name("Router", name)
    if role not in ROLES:
        raise InvalidInput(f"Role {role!r} is not one of {', '.join(ROLES)}.", code="invalid_role")
    if session.scalar(select(Router.id).where(Router.name == name)) is not None:
        raise AlreadyExists(f"Router {name!r} already exists.", code="router_exists")
    rid = parse_address(router_id, what="router id")
    if rid.version != 4:
        raise InvalidInput("A BGP router id is an IPv4 address.", code="invalid_router_id")
    router = Router(
        name=name,
        role=role,
        asn=validate_asn(asn),
        router_id=rid.compressed,
        interfaces=_interfaces(interfaces or []),
    )
    session.add(router)
    session.flush()
    return router


def config_digest(text: str) -> str:
    """What tor-sync and the API compare: the rendered configuration's SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()


def report_applied(
    session: Session,
    name: str,
    *,
    format: str,
    filters: bool,
    digest: str,
    revision: int,
    error: str | None = None,
    accepted: dict[str, list[str]] | None = None,
) -> RouterApplied:
    """A router's tor-sync says what it applied (``error`` None) or refused to, and what the
    router accepted from each neighbour. A refusal keeps the last applied configuration on
    record: the router still has it."""
    router = get_router(session, name)
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InvalidInput("The digest must be a SHA-256 in hex.", code="invalid_digest")
    row = session.scalar(select(RouterApplied).where(RouterApplied.router_id == router.id))
    if row is None:
        row = RouterApplied(router_id=router.id, format=format, filters=filters)
        session.add(row)
    now = utcnow()
    if error is None:
        row.format, row.filters, row.digest, row.revision = format, filters, digest, revision
        row.applied_at, row.error, row.error_at = now, None, None
    else:
        row.error, row.error_at = error[:255], now
    if accepted is not None:
        row.accepted = {
            parse_address(peer, what="neighbour address").compressed: sorted(set(prefixes))
            for peer, prefixes in accepted.items()
        }
        row.accepted_at = now
    session.flush()
    return row


def accepted_by(session: Session, address: str, prefix: str) -> list[dict[str, Any]]:
    """Whether each router that reports what it accepts took ``prefix`` from the neighbour
    at ``address`` (a host): the ToR's own word, not only that the host sent it."""
    rows = session.scalars(select(RouterApplied).where(RouterApplied.accepted.is_not(None)))
    return [
        {"router": row.router.name, "accepted": prefix in (row.accepted or {}).get(address, []),
         "as_of": row.accepted_at}
        for row in rows
        if address in (row.accepted or {})
    ]  # fmt: skip


def applied_of(session: Session, router: Router) -> RouterApplied | None:
    return session.scalar(select(RouterApplied).where(RouterApplied.router_id == router.id))


def delete_router(session: Session, name: str) -> None:
    session.delete(get_router(session, name))
    session.flush()


def _network_order(cidr: str) -> tuple[int, bytes, int]:
    net = ipaddress.ip_network(cidr)
    return net.version, net.network_address.packed, net.prefixlen


@dataclass(frozen=True)
class Ownership:
    blocks: tuple[str, ...]
    borrowed: tuple[str, ...]
    lent: tuple[str, ...]
    max_prefix: int


def _host_prefixes(rows: Any) -> tuple[str, ...]:
    return tuple(sorted((f"{a}/{32 if fam == 4 else 128}" for a, fam in rows), key=_network_order))


def ownership(session: Session, host: Host) -> Ownership:
    """What IPAM says the host owns: its blocks, the addresses it holds in other blocks,
    the addresses other hosts hold in its blocks, and the most prefixes it can
    legitimately announce (each block, every address in it, each borrowed one)."""
    blocks = sorted(
        session.scalars(select(Block.cidr).where(Block.host_id == host.id)),
        key=_network_order,
    )
    borrowed_rows = session.execute(
        select(Allocation.address, Allocation.family)
        .join(Block, Block.id == Allocation.block_id)
        .where(Allocation.host_id == host.id)
        .where((Block.host_id != host.id) | Block.host_id.is_(None))
    ).all()
    lent_rows = session.execute(
        select(Allocation.address, Allocation.family)
        .join(Block, Block.id == Allocation.block_id)
        .where(Block.host_id == host.id)
        .where(Allocation.host_id != host.id)
    ).all()
    borrowed = _host_prefixes(borrowed_rows)
    most = sum(1 + ipaddress.ip_network(b).num_addresses for b in blocks) + len(borrowed)
    return Ownership(
        tuple(blocks), borrowed, _host_prefixes(lent_rows), max(1, min(most, 2**32 - 1))
    )


def neighbors(session: Session, router: Router) -> list[Neighbor]:
    """Every BGP neighbour of ``router``: fabric routers first, then hosts, by address."""
    found: list[Neighbor] = []
    others = [r for r in list_routers(session) if r.id != router.id]
    hosts = list_hosts(session)
    for item in router.interfaces:
        iface = ipaddress.ip_interface(item["address"])
        for other in others:
            for theirs in other.interfaces:
                addr = ipaddress.ip_interface(theirs["address"])
                if addr.network == iface.network and addr.ip != iface.ip:
                    found.append(
                        Neighbor(str(addr.ip), other.asn, "router", other.name, item["name"])
                    )
        for host in hosts:
            if ipaddress.ip_address(host.address) not in iface.network:
                continue
            peer = next(
                (p for p in peers_for_host(session, host.name) if p.address == str(iface.ip)),
                None,
            )
            if peer is None:  # the host does not peer with this router
                continue
            owns = ownership(session, host)
            found.append(
                Neighbor(
                    host.address, host.asn, "host", host.name, item["name"],
                    hold_time=peer.hold_time, keepalive=peer.keepalive,
                    password=peer.password, ttl_security=peer.ttl_security,
                    owned_blocks=owns.blocks, borrowed=owns.borrowed, lent=owns.lent,
                    max_prefix=owns.max_prefix, bfd=_bfd(peer),
                )
            )  # fmt: skip
    order = {"router": 0, "host": 1}
    return sorted(
        found, key=lambda n: (order[n.kind], ipaddress.ip_address(n.address).packed, n.name)
    )


def _bfd(peer: Peer) -> tuple[int, int, int] | None:
    if peer.bfd_multiplier is None:
        return None
    return peer.bfd_multiplier, peer.bfd_receive_ms or 300, peer.bfd_transmit_ms or 300
