"""Kernel routes against a fake netlink that keeps a route table as the kernel would: only routes
of our protocol are ever touched, and a workload's route counts only when it is not ours."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from bgp.kernel import RTPROT_FABRIC, RouteTable


class Msg(dict[str, Any]):
    def get_attr(self, name: str) -> Any:
        return self.get("attrs", {}).get(name)


class FakeNetlink:
    """Routes as (family, dst, dst_len, proto, type); ``dump`` filters as pyroute2 does."""

    def __init__(self, routes: list[tuple[str, int, str]]) -> None:
        self.routes = {(prefix, proto): kind for prefix, proto, kind in routes}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def route(self, command: str, **kw: Any) -> Any:
        self.calls.append((command, kw))
        if command == "dump":
            return [self._msg(p, proto) for (p, proto) in self.routes if self._match(p, proto, kw)]
        key = (str(ipaddress.ip_network(kw["dst"])), kw["proto"])
        if command == "replace":
            self.routes[key] = kw["type"]
        elif command == "del":
            del self.routes[key]
        return None

    @staticmethod
    def _match(prefix: str, proto: int, kw: dict[str, Any]) -> bool:
        net = ipaddress.ip_network(prefix)
        family = socket.AF_INET6 if net.version == 6 else socket.AF_INET
        if kw.get("family") != family or ("proto" in kw and kw["proto"] != proto):
            return False
        return "dst" not in kw or str(net.network_address) == kw["dst"]

    @staticmethod
    def _msg(prefix: str, proto: int) -> Msg:
        net = ipaddress.ip_network(prefix)
        attrs = {"RTA_DST": str(net.network_address)} if net.prefixlen else {}
        return Msg(dst_len=net.prefixlen, proto=proto, attrs=attrs)


CNI = 78  # the CNI plugin's routes to its containers
BIRD = 12


def test_reconcile_adds_and_removes_only_our_blackholes() -> None:
    nl = FakeNetlink([
        ("10.100.0.0/26", RTPROT_FABRIC, "blackhole"),  # still ours
        ("10.100.9.0/26", RTPROT_FABRIC, "blackhole"),  # a block the host gave back
        ("10.100.9.0/26", BIRD, "unicast"),  # somebody else's, same prefix: never touched
        ("10.100.0.5/32", CNI, "unicast"),
    ])  # fmt: skip
    table = RouteTable(nl)
    assert table.reconcile({"10.100.0.0/26", "fd00:100::/122"}) == (1, 1)
    assert nl.routes == {
        ("10.100.0.0/26", RTPROT_FABRIC): "blackhole",
        ("fd00:100::/122", RTPROT_FABRIC): "blackhole",
        ("10.100.9.0/26", BIRD): "unicast",
        ("10.100.0.5/32", CNI): "unicast",
    }
    added = [kw for cmd, kw in nl.calls if cmd == "replace"]
    assert added == [{"dst": "fd00:100::/122", "type": "blackhole", "proto": RTPROT_FABRIC,
                      "family": socket.AF_INET6}]  # fmt: skip
    assert table.reconcile({"10.100.0.0/26", "fd00:100::/122"}) == (0, 0)


def test_a_workload_route_counts_only_when_it_is_not_ours() -> None:
    nl = FakeNetlink([
        ("10.100.0.5/32", CNI, "unicast"),
        ("10.100.0.6/32", RTPROT_FABRIC, "blackhole"),
        ("10.100.0.0/26", RTPROT_FABRIC, "blackhole"),
    ])  # fmt: skip
    table = RouteTable(nl)
    assert table.host_route_exists("10.100.0.5/32")
    assert not table.host_route_exists("10.100.0.6/32")  # our own does not prove a container
    assert not table.host_route_exists("10.100.0.7/32")


def test_ours_reads_both_families_and_the_default_route() -> None:
    nl = FakeNetlink([("0.0.0.0/0", RTPROT_FABRIC, "blackhole"), ("fd00::/48", RTPROT_FABRIC, "blackhole")])
    assert RouteTable(nl).ours() == {"0.0.0.0/0", "fd00::/48"}
