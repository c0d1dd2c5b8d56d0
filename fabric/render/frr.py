"""FRR configuration (``frr.conf``, integrated) for a fabric router, rendered from IPAM data.

eBGP between leaves and spines with ECMP (``maximum-paths``), the hosts behind
a leaf as neighbours with their own ASN (iBGP when a rack shares one AS, as in
Calico's AS-per-rack design: the leaf then reflects nothing, it only carries
the hosts' routes to the spines), connected subnets redistributed so link and
host addresses are reachable. The output is deterministic: committed copies
are compared with a fresh render (golden files).
"""

from __future__ import annotations

import ipaddress

from fabric.models import Router
from fabric.routers import Neighbor

ECMP_PATHS = 8


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


def render(router: Router, neighbors: list[Neighbor]) -> str:
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
        iface = ipaddress.ip_interface(item["address"])
        lines.append(f"interface {item['name']}")
        if item["name"] in peers_on:
            n = peers_on[item["name"]]
            lines.append(f" description {n.kind} {n.name}")
        lines += [f" {'ip' if iface.version == 4 else 'ipv6'} address {iface}", "exit", "!"]
    lines += [
        f"router bgp {router.asn}",
        f" bgp router-id {router.router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        " bgp bestpath as-path multipath-relax",
        " bgp graceful-restart",
    ]
    for n in neighbors:
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
    for version, afi in ((4, "ipv4"), (6, "ipv6")):
        members = [n for n in neighbors if _family(n.address) == version]
        has_iface = any(
            ipaddress.ip_interface(i["address"]).version == version for i in router.interfaces
        )
        if not members and not has_iface:
            continue
        lines += [" !", f" address-family {afi} unicast", "  redistribute connected"]
        lines += [f"  maximum-paths {ECMP_PATHS}", f"  maximum-paths ibgp {ECMP_PATHS}"]
        lines += [f"  neighbor {n.address} activate" for n in members]
        lines.append(" exit-address-family")
    lines += ["exit", "!", "end"]
    return "\n".join(lines) + "\n"
