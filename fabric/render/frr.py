"""FRR configuration (``frr.conf``, integrated) for a fabric router, rendered from IPAM data.

eBGP between leaves and spines with ECMP (``maximum-paths``), the hosts behind
a leaf as neighbours with their own ASN (iBGP when a rack shares one AS, as in
Calico's AS-per-rack design: the leaf then reflects nothing, it only carries
the hosts' routes to the spines), connected subnets redistributed so link and
host addresses are reachable. The output is deterministic: committed copies
are compared with a fresh render (golden files).

With ``filters`` (the default), each host neighbour gets an inbound prefix-list
of exactly what IPAM says it owns (its blocks and anything inside them, the
addresses it holds in other blocks) ending in an explicit deny, and a
maximum-prefix of what it can own: a compromised host cannot hijack another
host's address. Ownership changes with allocations, so such a config is
re-rendered and pushed when it does: with ``frr-reload.py`` (``vtysh -b`` only adds
lines, and a stale permit would outlive the ownership), followed by ``clear bgp *
soft in``: FRR keeps no copy of the routes its old filter dropped (a block announced
before the push) and asks the hosts for them again (their ExaBGP offers route refresh).

Both families: an IPv4 session with a host (or another router) is activated in IPv6 unicast
too when the host has an IPv6 address on the same link (``fabric.routers``): one session per
host carries both, each family with its own prefix-list and maximum-prefix.

Host neighbours are sent nothing (``route-map to-hosts out``, one deny clause):
their speaker installs no route (hosts reach the fabric through their default
route to the ToR), yet ExaBGP would parse, store and report every route of the
fabric it is sent, its own reflected back included, on every change anywhere:
CPU of every host speaker (bench/README.md: measured choices), and a copy of the whole
fabric's table on every host at scale.
"""

from __future__ import annotations

import ipaddress

from fabric.models import Router
from fabric.routers import Neighbor, interface_addresses

ECMP_PATHS = 8
TO_HOSTS = "to-hosts"  # the outbound route-map of host neighbours: denies everything


def prefix_list(n: Neighbor, version: int) -> tuple[str, list[str]]:
    """The inbound prefix-list of a host neighbour: its name and its lines."""
    name = f"host-{n.name}-in{'' if version == 4 else '-v6'}"
    keyword = "ip" if version == 4 else "ipv6"
    lines, seq = [], 10
    for prefix in n.lent:  # inside its blocks but held by another host: not its to announce
        if ipaddress.ip_network(prefix).version == version:
            lines.append(f"{keyword} prefix-list {name} seq {seq} deny {prefix}")
            seq += 10
    for prefix in n.owned_blocks:
        if ipaddress.ip_network(prefix).version == version:
            host_len = 32 if version == 4 else 128
            lines.append(f"{keyword} prefix-list {name} seq {seq} permit {prefix} le {host_len}")
            seq += 10
    for prefix in n.borrowed:
        if ipaddress.ip_network(prefix).version == version:
            lines.append(f"{keyword} prefix-list {name} seq {seq} permit {prefix}")
            seq += 10
    # Explicit, so the list exists and says so even when the host owns nothing yet (a
    # list that is named but not defined denies everything in FRR 8.4: explicit rather
    # than relying on that).
    lines.append(f"{keyword} prefix-list {name} seq 4294967295 deny any")
    return name, lines


def _interfaces(router: Router, neighbors: list[Neighbor]) -> list[str]:
    lines = [
        f"! {router.name}: rendered by routed-fabric "
        f"(fabricctl tor-config --tor {router.name} --format frr). Do not edit by hand.",
        "frr defaults datacenter",
        f"hostname {router.name}",
        "service integrated-vtysh-config",
        # Containers and namespaces may start with forwarding off; a router must forward.
        "ip forwarding",
        "ipv6 forwarding",
        "!",
    ]
    peers_on = {n.interface: n for n in neighbors}
    for item in router.interfaces:
        lines.append(f"interface {item['name']}")
        if item["name"] in peers_on:
            n = peers_on[item["name"]]
            lines.append(f" description {n.kind} {n.name}")
        lines += [f" {'ip' if iface.version == 4 else 'ipv6'} address {iface}"
                  for iface in interface_addresses(item)]  # fmt: skip
        lines += ["exit", "!"]
    return lines


def _bfd_profile_name(n: Neighbor) -> str:
    return f"host-{n.name}"


def _bfd_profiles(neighbors: list[Neighbor]) -> list[str]:
    """The BFD profiles of the host neighbours that have one (bfdd must run on the router)."""
    with_bfd = [n for n in neighbors if n.bfd is not None]
    if not with_bfd:
        return []
    lines = ["bfd"]
    for n in with_bfd:
        assert n.bfd is not None
        mult, rx, tx = n.bfd
        lines += [f" profile {_bfd_profile_name(n)}", f"  detect-multiplier {mult}",
                  f"  receive-interval {rx}", f"  transmit-interval {tx}", " exit"]  # fmt: skip
    return [*lines, "exit", "!"]


def _neighbor_lines(n: Neighbor) -> list[str]:
    lines = [f" ! {n.note}"] if n.note else []
    lines += [
        f" neighbor {n.address} remote-as {n.asn}",
        f" neighbor {n.address} description {n.kind} {n.name}",
    ]
    if n.hold_time is not None and n.keepalive is not None:
        lines.append(f" neighbor {n.address} timers {n.keepalive} {n.hold_time}")
    if n.password:
        lines.append(f" neighbor {n.address} password {n.password}")
    if n.ttl_security:
        lines.append(f" neighbor {n.address} ttl-security hops {n.ttl_security}")
    if n.bfd is not None:
        lines.append(f" neighbor {n.address} bfd profile {_bfd_profile_name(n)}")
    return lines


def _address_family(
    router: Router, neighbors: list[Neighbor], version: int, filters: bool
) -> tuple[list[str], list[str]]:
    """One address family's block of ``router bgp``, and the prefix-lists it refers to."""
    members = [n for n in neighbors if version in n.versions]
    has_iface = any(a.version == version for i in router.interfaces for a in interface_addresses(i))
    if not members and not has_iface:
        return [], []
    afi = "ipv4" if version == 4 else "ipv6"
    lines = [" !", f" address-family {afi} unicast", "  redistribute connected"]
    lines += [f"  maximum-paths {ECMP_PATHS}", f"  maximum-paths ibgp {ECMP_PATHS}"]
    lists: list[str] = []
    for n in members:
        lines.append(f"  neighbor {n.address} activate")
        if n.kind != "host":
            continue
        lines.append(f"  neighbor {n.address} route-map {TO_HOSTS} out")
        if filters:
            name, entries = prefix_list(n, version)
            lists += entries
            lines.append(f"  neighbor {n.address} prefix-list {name} in")
            lines.append(f"  neighbor {n.address} maximum-prefix {n.limit(version)}")
    lines.append(" exit-address-family")
    return lines, lists


def render(router: Router, neighbors: list[Neighbor], *, filters: bool = True) -> str:
    bgp = [
        f"router bgp {router.asn}",
        f" bgp router-id {router.router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        " bgp bestpath as-path multipath-relax",
        " bgp graceful-restart",
    ]
    for n in neighbors:
        bgp += _neighbor_lines(n)
    lists: list[str] = []
    for version in (4, 6):
        family, entries = _address_family(router, neighbors, version, filters)
        bgp += family
        lists += entries
    bgp += ["exit", "!"]
    # The prefix-lists before the neighbours that use them: FRR denies every route through a
    # list that is named but not yet defined (FRR 8.4), so while a config is loaded line by
    # line (vtysh -b) a route arriving in between would be dropped.
    lines = [*_interfaces(router, neighbors), *lists, *(["!"] if lists else []),
             *_bfd_profiles(neighbors), *bgp]  # fmt: skip
    if any(n.kind == "host" for n in neighbors):
        lines += [f"route-map {TO_HOSTS} deny 10", "exit", "!"]
    lines.append("end")
    return "\n".join(lines) + "\n"
