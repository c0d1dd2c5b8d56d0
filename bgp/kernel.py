"""Kernel routes of the host, through netlink (pyroute2).

Blackhole routes for the host's blocks, so traffic to an unused address of
our block dies here instead of looping back to the ToR. Every route we write
carries our own protocol number, and we only ever delete routes carrying it.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Protocol

# Our mark on kernel routes (``ip route show proto 77``); BIRD uses 12, FRR 186-196.
RTPROT_FABRIC = 77


class Netlink(Protocol):
    def route(self, command: str, **kwargs: Any) -> Any: ...


def _family(prefix: str) -> int:
    return socket.AF_INET6 if ":" in prefix else socket.AF_INET


class RouteTable:
    def __init__(self, netlink: Netlink) -> None:
        self.netlink = netlink

    def ours(self) -> set[str]:
        out: set[str] = set()
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in self.netlink.route("dump", family=family, proto=RTPROT_FABRIC):
                if msg.get("proto") != RTPROT_FABRIC:
                    continue
                dst = msg.get_attr("RTA_DST") or ("::" if family == socket.AF_INET6 else "0.0.0.0")
                out.add(str(ipaddress.ip_network(f"{dst}/{msg['dst_len']}")))
        return out

    def reconcile(self, blackholes: set[str]) -> tuple[int, int]:
        """Make our routes exactly these blackholes; returns (added, removed)."""
        have = self.ours()
        for prefix in sorted(blackholes - have):
            self.netlink.route(
                "replace", dst=prefix, type="blackhole", proto=RTPROT_FABRIC, family=_family(prefix)
            )
        for prefix in sorted(have - blackholes):
            self.netlink.route(
                "del", dst=prefix, type="blackhole", proto=RTPROT_FABRIC, family=_family(prefix)
            )
        return len(blackholes - have), len(have - blackholes)

    def host_route_exists(self, prefix: str) -> bool:
        """Whether a route towards this workload exists that is not ours (the CNI's)."""
        net = ipaddress.ip_network(prefix)
        for msg in self.netlink.route("dump", family=_family(prefix), dst=str(net.network_address)):
            if msg["dst_len"] == net.prefixlen and msg.get("proto") != RTPROT_FABRIC:
                if msg.get_attr("RTA_DST") == str(net.network_address):
                    return True
        return False
