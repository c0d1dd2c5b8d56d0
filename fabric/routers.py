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

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

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
    max_prefix: int | None = None  # of the session's own family
    # BFD with the host, from its peer's profile: (detect multiplier, rx ms, tx ms) or None.
    bfd: tuple[int, int, int] | None = None
    # The families the session carries (4, 6); empty: its address's family only.
    families: tuple[int, ...] = ()
    max_prefix6: int | None = None  # IPv6 over an IPv4 session
    note: str | None = None  # why the session does not carry a family one might expect

    @property
    def versions(self) -> tuple[int, ...]:
        return self.families or (ipaddress.ip_address(self.address).version,)

    def limit(self, version: int) -> int | None:
        """The most prefixes of that family the neighbour may send (hosts only)."""
        if version == 6 and ipaddress.ip_address(self.address).version == 4:
            return self.max_prefix6
        return self.max_prefix


def get_router(session: Session, name: str) -> Router:
    """Raises: NotFound (code ``router_not_found``)."""
    return by_name(session, Router, name, "router")


def list_routers(session: Session) -> list[Router]:
    return list(session.scalars(select(Router).order_by(Router.name)))


def _interface_address(name: str, address: str, version: int | None = None) -> str:
    try:
        if "/" not in address:  # a bare address would silently become a /32
            raise ValueError(address)
        iface = ipaddress.ip_interface(address)
        if version is not None and iface.version != version:
            raise ValueError(address)
    except ValueError:
        example = "2001:db8:1::/127" if version == 6 else "10.1.1.0/31"
        raise InvalidInput(
            f"Interface {name}: {address!r} is not an {'IPv6 ' if version == 6 else ''}"
            f"address with a prefix length (like {example}).",
            code="invalid_interfaces",
        ) from None
    return iface.with_prefixlen


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
        entry = {"name": name, "address": _interface_address(name, address)}
        if item.get("address6") is not None:  # a dual-stack link: its IPv6 address beside
            if ":" in entry["address"]:
                raise InvalidInput(f"Interface {name}: address6 is for an interface whose "
                                   "address is IPv4.", code="invalid_interfaces")  # fmt: skip
            entry["address6"] = _interface_address(name, str(item["address6"]), 6)
        out.append(entry)
    return out


def interface_addresses(item: dict[str, str]) -> list[IPInterface]:
    """An interface's addresses: IPv4 first, then IPv6."""
    found = [ipaddress.ip_interface(item["address"])]
    if item.get("address6"):
        found.append(ipaddress.ip_interface(item["address6"]))
    return sorted(found, key=lambda i: i.version)


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
    max_prefix: int  # IPv4
    max_prefix6: int


def _host_prefixes(rows: Any) -> tuple[str, ...]:
    return tuple(sorted((f"{a}/{32 if fam == 4 else 128}" for a, fam in rows), key=_network_order))


def ownership(session: Session, host: Host) -> Ownership:
    """What IPAM says the host owns: its blocks, the addresses it holds in other blocks,
    the addresses other hosts hold in its blocks, and the most prefixes of each family it
    can legitimately announce (each block, every address in it, each borrowed one)."""
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
    most = {}
    for version in (4, 6):
        count = sum(1 + ipaddress.ip_network(b).num_addresses for b in blocks
                    if ipaddress.ip_network(b).version == version)  # fmt: skip
        count += sum(1 for p in borrowed if ipaddress.ip_network(p).version == version)
        most[version] = max(1, min(count, 2**32 - 1))
    return Ownership(tuple(blocks), borrowed, _host_prefixes(lent_rows), most[4], most[6])


def _router_neighbors(router: Router, others: list[Router]) -> list[Neighbor]:
    """Fabric routers on the router's links: one session per link, on the link's first
    family (IPv4 on a dual-stack link), carrying IPv6 too when both ends have an IPv6 address
    on it (FRR sends the interface's global IPv6 address as the next hop)."""
    found = []
    for item in router.interfaces:
        mine = interface_addresses(item)
        for other in others:
            for theirs in other.interfaces:
                their = interface_addresses(theirs)
                if their[0].network != mine[0].network or their[0].ip == mine[0].ip:
                    continue
                shared = tuple(
                    a.version for a in mine if any(b.network == a.network for b in their)
                )
                found.append(Neighbor(str(their[0].ip), other.asn, "router", other.name,
                                      item["name"], families=shared))  # fmt: skip
    return found


def _host_sessions(
    session: Session, router: Router, host: Host
) -> list[tuple[dict[str, str], Peer, ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """(interface, the host's peer at the interface's address, the host's address there) of
    each session the host has with the router: at most one per family."""
    peers = {p.address: p for p in peers_for_host(session, host.name)}
    out = []
    host_addresses = [ipaddress.ip_address(a) for a in (host.address, host.address6) if a]
    for item in router.interfaces:
        for iface in interface_addresses(item):
            peer = peers.get(str(iface.ip))
            for address in host_addresses:
                if peer is not None and address in iface.network:
                    out.append((item, peer, address))
    return out


def _host_neighbors(session: Session, router: Router, host: Host) -> list[Neighbor]:
    """The host's sessions with the router. An IPv4 session carries IPv6 as well (MP-BGP)
    when the host's IPv6 address is on the same link and it has no IPv6 session here."""
    sessions = _host_sessions(session, router, host)
    if not sessions:
        return []
    owns = ownership(session, host)
    has_v6_session = any(address.version == 6 for _, _, address in sessions)
    found = []
    for item, peer, address in sessions:
        families: tuple[int, ...] = (address.version,)
        note = None
        if address.version == 4 and not has_v6_session and host.address6:
            families, note = _ipv6_over(item, host.address6)
        found.append(
            Neighbor(
                str(address), host.asn, "host", host.name, item["name"],
                hold_time=peer.hold_time, keepalive=peer.keepalive,
                password=peer.password, ttl_security=peer.ttl_security,
                owned_blocks=owns.blocks, borrowed=owns.borrowed, lent=owns.lent,
                max_prefix=owns.max_prefix if address.version == 4 else owns.max_prefix6,
                bfd=_bfd(peer), families=families, max_prefix6=owns.max_prefix6, note=note,
            )
        )  # fmt: skip
    return found


def _ipv6_over(item: dict[str, str], address6: str) -> tuple[tuple[int, ...], str | None]:
    """Whether a host's IPv4 session on this interface carries IPv6 too: only with the host's
    IPv6 address on the link (the next hop must resolve there); else why not, for the file."""
    v6 = [i for i in interface_addresses(item) if i.version == 6]
    if v6 and ipaddress.ip_address(address6) in v6[0].network:
        return (4, 6), None
    where = f"not on {item['name']}'s {v6[0].network}" if v6 else f"{item['name']} has no address6"
    return (4,), f"IPv4 only: the host's IPv6 address {address6} is {where}"


def neighbors(session: Session, router: Router) -> list[Neighbor]:
    """Every BGP neighbour of ``router``: fabric routers first, then hosts, by address."""
    found = _router_neighbors(router, [r for r in list_routers(session) if r.id != router.id])
    for host in list_hosts(session):
        found += _host_neighbors(session, router, host)
    order = {"router": 0, "host": 1}
    return sorted(
        found,
        key=lambda n: (order[n.kind], ipaddress.ip_address(n.address).version,
                       ipaddress.ip_address(n.address).packed, n.name),
    )  # fmt: skip


def _bfd(peer: Peer) -> tuple[int, int, int] | None:
    if peer.bfd_multiplier is None:
        return None
    return peer.bfd_multiplier, peer.bfd_receive_ms or 300, peer.bfd_transmit_ms or 300
