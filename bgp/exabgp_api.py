"""ExaBGP's process API as a wire contract: the lines we write, the events we read.

Every line is built from typed values here and nowhere else; prefixes are
re-parsed by ``ipaddress`` so nothing but a canonical prefix reaches a line.
ExaBGP answers each line with exactly one ``done`` or ``error``.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# 50 prefixes per line, at most ``ack_window.WINDOW`` lines waiting for their ack: what fed
# ExaBGP fastest (docs/design/exabgp.md).
PREFIXES_PER_LINE = 50


@functools.lru_cache(maxsize=1 << 17)
def canonical(prefix: str) -> str:
    """The prefix as ``ipaddress`` writes it; ValueError unless it is a network with no host
    bits set (and no IPv6 zone). Remembered: the injector checks its whole desired set again
    on every change (bench/README.md: measured choices)."""
    address, slash, length = prefix.partition("/")
    if length == "32" and _is_dotted_quad(address):
        return prefix
    if slash and length in ("32", "128"):
        # Host routes, nearly all of them: an address parses in half the time of a network.
        addr = ipaddress.ip_address(address)
        if addr.max_prefixlen == int(length) and not getattr(addr, "scope_id", None):
            return f"{addr.compressed}/{length}"
    net = ipaddress.ip_network(prefix, strict=True)
    if getattr(net.network_address, "scope_id", None):
        raise ValueError(f"{prefix!r} carries an IPv6 zone")
    return str(net)


def _is_dotted_quad(address: str) -> bool:
    """Whether ``address`` is an IPv4 address exactly as ``ipaddress`` writes it, by a round
    trip in C (bench/README.md: measured choices); anything else goes the long way."""
    try:
        return socket.inet_ntoa(socket.inet_pton(socket.AF_INET, address)) == address
    except (OSError, ValueError):  # ValueError: a NUL or a character outside ASCII
        return False


def version_of(canonical_prefix: str) -> int:
    """4 or 6, of a prefix ``canonical`` has written (no parsing: IPv6 text holds a colon)."""
    return 6 if ":" in canonical_prefix else 4


def is_host_route(canonical_prefix: str) -> bool:
    return canonical_prefix.endswith("/128" if ":" in canonical_prefix else "/32")


@functools.lru_cache(maxsize=1 << 17)
def wire_order(canonical_prefix: str) -> tuple[int, int, bytes]:
    """ExaBGP's own order of routes (family, prefix length, address bytes: its NLRI index).

    ExaBGP sorts the routes of every UPDATE it builds by that index, one Python comparison
    at a time; lines already in that order make each sort a single pass
    (bench/README.md: measured choices)."""
    address, _, length = canonical_prefix.partition("/")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return (family == socket.AF_INET6, int(length), socket.inet_pton(family, address))


def _batches(prefixes: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """Lines' worth of prefixes, one family per line, with the family (4 or 6)."""
    ordered = sorted({canonical(p) for p in prefixes}, key=wire_order)
    for version in (4, 6):
        same = [p for p in ordered if (":" in p) is (version == 6)]
        for i in range(0, len(same), PREFIXES_PER_LINE):
            yield version, same[i : i + PREFIXES_PER_LINE]


def _lines(verb: str, prefixes: Iterable[str], next_hop6: str | None) -> list[str]:
    # IPv4 prefixes: ``self`` is the session's local address, the host's IPv4 address (an
    # IPv6 session does not carry IPv4). IPv6 prefixes over an IPv4 session need the host's
    # global IPv6 address written out: ``self`` there would be the IPv4 address as an
    # IPv4-mapped IPv6 next hop, which routers cannot resolve.
    hops = {4: "self", 6: str(ipaddress.IPv6Address(next_hop6)) if next_hop6 else "self"}
    return [
        f"{verb} attributes next-hop {hops[version]} nlri {' '.join(batch)}"
        for version, batch in _batches(prefixes)
    ]


def announce_lines(prefixes: Iterable[str], next_hop6: str | None = None) -> list[str]:
    return _lines("announce", prefixes, next_hop6)


def withdraw_lines(prefixes: Iterable[str], next_hop6: str | None = None) -> list[str]:
    return _lines("withdraw", prefixes, next_hop6)


# With ``exabgp.api.show-routes-format=v2`` ExaBGP prints one JSON line per
# route (v1 re-prints the whole growing list per route: quadratic), then ``done``.
SHOW_ADJ_RIB_OUT = "show adj-rib out json"


def eor_lines(peer: str) -> list[str]:
    addr = ipaddress.ip_address(peer)
    return [f"neighbor {addr} announce eor {fam} unicast" for fam in ("ipv4", "ipv6")]


@dataclass(frozen=True)
class Ack:
    ok: bool


@dataclass(frozen=True)
class StateEvent:
    peer: str
    peer_asn: int | None
    state: str  # connected | up | down
    reason: str | None


@dataclass(frozen=True)
class NegotiatedEvent:
    """What a session's OPEN exchange agreed (``api { negotiated; }``): the unicast families
    it carries, 4 and/or 6. A family we offer that the ToR did not activate is not there."""

    peer: str
    versions: frozenset[int]


@dataclass(frozen=True)
class UpdateEvent:
    peer: str
    announced: int
    withdrawn: int
    eor: bool
    net6: int = 0  # of announced - withdrawn, the IPv6 part (the rest is IPv4)


@dataclass(frozen=True)
class RibRoute:
    """One route ExaBGP holds in a peer's adj-rib-out (an answer to SHOW_ADJ_RIB_OUT)."""

    peer: str
    prefix: str


@dataclass(frozen=True)
class Shutdown:
    pass


Event = Ack | StateEvent | NegotiatedEvent | UpdateEvent | RibRoute | Shutdown | None


def _peer_address(neighbor: dict[str, Any]) -> str:
    address = neighbor.get("address")
    if isinstance(address, dict):
        return str(address.get("peer", ""))
    return str(address or "")


def _peer_asn(neighbor: dict[str, Any]) -> int | None:
    asn = neighbor.get("asn")
    if isinstance(asn, dict):
        asn = asn.get("peer")
    return int(asn) if asn is not None else None


def _count_nlri(section: dict[str, Any]) -> tuple[int, int]:
    """How many NLRI an announce or withdraw section holds: (all, of them IPv6)."""
    total = six = 0
    for name, family in section.items():
        if isinstance(family, dict):  # announce: {family: {nexthop: [nlri…]}}
            count = sum(len(v) for v in family.values() if isinstance(v, list))
        elif isinstance(family, list):  # withdraw: {family: [nlri…]}
            count = len(family)
        else:
            continue
        total += count
        six += count if str(name).startswith("ipv6") else 0
    return total, six


def _unicast_versions(families: Any) -> frozenset[int]:
    """``["ipv4 unicast", "ipv6 unicast", …]`` as {4, 6}; other families are not ours."""
    names = families if isinstance(families, list) else []
    return frozenset(v for v in (4, 6) if f"ipv{v} unicast" in names)


def parse(line: str) -> Event:
    """One line from ExaBGP: an ack, a known event, or None for what we ignore."""
    text = line.strip()
    if text in ("done", "error"):
        return Ack(ok=text == "done")
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    if not isinstance(msg, dict):
        return None
    if "route" in msg and "peer" in msg:
        prefix = ((msg.get("route") or {}).get("nlri") or {}).get("prefix")
        return RibRoute(peer=_peer_address(msg["peer"]), prefix=str(prefix)) if prefix else None
    kind = msg.get("type")
    if kind == "notification" and msg.get("notification") == "shutdown":
        return Shutdown()
    neighbor = msg.get("neighbor") or {}
    if kind == "state":
        return StateEvent(
            peer=_peer_address(neighbor),
            peer_asn=_peer_asn(neighbor),
            state=str(neighbor.get("state", "")),
            reason=neighbor.get("reason"),
        )
    if kind == "negotiated":
        agreed = neighbor.get("negotiated") or {}
        return NegotiatedEvent(_peer_address(neighbor), _unicast_versions(agreed.get("families")))
    if kind == "update":
        update = (neighbor.get("message") or {}).get("update") or {}
        announced, announced6 = _count_nlri(update.get("announce") or {})
        withdrawn, withdrawn6 = _count_nlri(update.get("withdraw") or {})
        return UpdateEvent(
            peer=_peer_address(neighbor),
            announced=announced,
            withdrawn=withdrawn,
            eor="eor" in (neighbor.get("message") or {}) or "eor" in update,
            net6=announced6 - withdrawn6,
        )
    return None
