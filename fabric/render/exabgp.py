"""``exabgp.conf`` of one host, from the host and the peers that apply to it.

The process named here (the route-injection process) is the single source of
routes: no ``static`` routes in the file (they cost seconds of parsing and
block reloads). ``manual-eor`` lets the process send End-of-RIB only after its
replay, so a graceful restart never makes the ToR flush valid routes; route refresh
lets a ToR whose filters changed ask for the host's routes again.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from fabric.errors import InvalidInput
from fabric.validation import BGP_PASSWORD

PROCESS_NAME = "fabric-injector"
_SAFE_ARG = re.compile(r"^[A-Za-z0-9_./:=@+-]+$")


@dataclass(frozen=True)
class SpeakerPeer:
    address: str
    asn: int
    hold_time: int
    graceful_restart: int
    ttl_security: int = 0
    password: str | None = None
    # BFD (bfdd beside ExaBGP, bgp/bfd.py); None: off.
    bfd_multiplier: int | None = None
    bfd_receive_ms: int | None = None
    bfd_transmit_ms: int | None = None


@dataclass(frozen=True)
class Speaker:
    host: str
    address: str
    asn: int
    peers: Sequence[SpeakerPeer]
    address6: str | None = None  # beside an IPv4 ``address``: the source of IPv6 sessions

    def local_address(self, peer: SpeakerPeer) -> str | None:
        """The host's address of the peer's family; None when it has none."""
        if ipaddress.ip_address(peer.address).version == ipaddress.ip_address(self.address).version:
            return self.address
        return self.address6 if ipaddress.ip_address(peer.address).version == 6 else None


def session_versions(peer_address: str) -> tuple[int, ...]:
    """The families (4, 6) a session offers. An IPv4 session carries both (MP-BGP: the IPv6
    prefixes with the host's global IPv6 next hop), the default, one session per ToR; an
    IPv6 session carries IPv6 only (IPv4 prefixes need an IPv4 next hop, RFC 8950 is not
    used). A ToR that does not activate IPv6 on a session simply never negotiates it."""
    return (4, 6) if ipaddress.ip_address(peer_address).version == 4 else (6,)


def session_families(peer_address: str) -> tuple[str, ...]:
    """``session_versions`` as the configuration names them."""
    return tuple(f"ipv{v} unicast" for v in session_versions(peer_address))


def _process_line(argv: Sequence[str]) -> str:
    # ExaBGP splits the run line on commas and takes ';' as the end: arguments
    # are restricted to a set that needs no quoting at all.
    for arg in argv:
        if not _SAFE_ARG.match(arg):
            raise InvalidInput(f"Argument {arg!r} cannot go on an ExaBGP run line.")
    return " ".join(argv)


def _neighbor(speaker: Speaker, peer: SpeakerPeer, local: str) -> list[str]:
    main = ipaddress.ip_address(speaker.address)
    remote = ipaddress.ip_address(peer.address)
    lines = [
        f"neighbor {remote} {{",
        f"    router-id {main if main.version == 4 else '0.0.0.1'};",
        f"    local-address {local};",
        f"    local-as {speaker.asn};",
        f"    peer-as {peer.asn};",
        f"    hold-time {peer.hold_time};",
        "    adj-rib-out true;",
        "    manual-eor true;",
    ]
    if peer.password:
        if not BGP_PASSWORD.match(peer.password):
            raise InvalidInput("A peer password has characters ExaBGP cannot take.")
        lines.append(f"    md5-password {peer.password};")
    if peer.ttl_security:
        # GTSM (RFC 5082): send with TTL 255, accept only 255 - hops + 1 and above.
        lines.append("    outgoing-ttl 255;")
        lines.append(f"    incoming-ttl {256 - peer.ttl_security};")
    lines.append("    family {")
    lines += [f"        {fam};" for fam in session_families(peer.address)]
    lines.append("    }")
    # Route refresh: a ToR whose inbound filter changes (a re-rendered prefix-list once the
    # host claims a new block) asks for the host's routes again and ExaBGP resends its
    # adj-rib-out. Without it, a route the old filter dropped stays dropped until the
    # session resets: FRR keeps no copy of what it filtered and cannot ask for one.
    capability = "route-refresh enable;"
    if peer.graceful_restart:
        capability += f" graceful-restart {peer.graceful_restart};"
    lines.append(f"    capability {{ {capability} }}")
    lines += [
        "    api {",
        f"        processes [ {PROCESS_NAME} ];",
        "        neighbor-changes;",
        # The families the ToR agreed to, so the counts and the adj-rib-out check are per
        # family as negotiated, not as offered.
        "        negotiated;",
        "        receive { parsed; update; }",
        "    }",
        "}",
    ]
    return lines


def _address_order(peer: SpeakerPeer) -> tuple[int, bytes]:
    # Addresses of different families do not compare: IPv4 first, then by bytes.
    addr = ipaddress.ip_address(peer.address)
    return addr.version, addr.packed


def render(speaker: Speaker, process_argv: Sequence[str]) -> str:
    out = [
        f"# exabgp.conf of host {speaker.host}, rendered by routed-fabric; do not edit.",
        f"process {PROCESS_NAME} {{",
        f"    run {_process_line(process_argv)};",
        "    encoder json;",
        "}",
        "",
    ]
    for peer in sorted(speaker.peers, key=_address_order):
        local = speaker.local_address(peer)
        if local is None:  # visible in the file, rather than a speaker that will not start
            out += [f"# peer {peer.address} left out: host {speaker.host} has no address of "
                    "its family", ""]  # fmt: skip
            continue
        out += _neighbor(speaker, peer, local)
        out.append("")
    return "\n".join(out)
