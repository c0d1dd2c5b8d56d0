"""BIRD 2 configuration for a fabric router, the same intent as the FRR renderer.

Interface addresses are not BIRD's job (the system sets them); everything else
matches ``fabric.render.frr``: eBGP/iBGP neighbours from addressing, connected
routes exported, ECMP into the kernel, and with ``filters`` an import filter per
host of exactly what IPAM says it owns plus an import limit of what it can own.
An IPv4 session carries an IPv6 channel too when ``fabric.routers`` says it carries both
families (a host's IPv6 address on the same link). Host neighbours are sent nothing
(``export none``), for the reasons given in ``fabric.render.frr``.
"""

from __future__ import annotations

import ipaddress
import re

from fabric.models import Router
from fabric.routers import Neighbor


def _ident(kind: str, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{kind}_{name}")


def _session_suffix(n: Neighbor) -> str:
    """IPv6 sessions get their own protocol name: a host may have one of each family."""
    return "_v6" if ipaddress.ip_address(n.address).version == 6 and n.kind == "host" else ""


def _prefix_set(n: Neighbor, version: int) -> list[str]:
    host_len = 32 if version == 4 else 128
    items = [
        f"{p}{{{ipaddress.ip_network(p).prefixlen},{host_len}}}"
        for p in n.owned_blocks
        if ipaddress.ip_network(p).version == version
    ]
    items += [p for p in n.borrowed if ipaddress.ip_network(p).version == version]
    return items


def _filter(n: Neighbor, version: int) -> tuple[str, list[str]]:
    name = f"{_ident('host', n.name)}_in_v{version}"
    allowed = _prefix_set(n, version)
    lent = [p for p in n.lent if ipaddress.ip_network(p).version == version]
    body = [f"filter {name} {{"]
    if lent:  # inside its blocks but held by another host: not its to announce
        body.append(f"  if net ~ [ {', '.join(lent)} ] then reject;")
    if allowed:
        body.append(f"  if net ~ [ {', '.join(allowed)} ] then accept;")
    body += ["  reject;", "}", ""]
    return name, body


def render(router: Router, neighbors: list[Neighbor], *, filters: bool = True) -> str:
    lines = [
        f"# {router.name}: rendered by routed-fabric "
        f"(fabricctl tor-config --tor {router.name} --format bird). Do not edit by hand.",
        f"router id {router.router_id};",
        "",
        "protocol device {}",
        "protocol direct { ipv4; ipv6; }",
        "protocol kernel kernel4 { ipv4 { export all; }; merge paths on; }",
        "protocol kernel kernel6 { ipv6 { export all; }; merge paths on; }",
        "",
    ]
    for n in neighbors:
        channels = []
        for version in n.versions:
            imports = ["import all;"]
            if filters and n.kind == "host":
                name, body = _filter(n, version)
                lines += body
                imports = [f"import filter {name};",
                           f"import limit {n.limit(version)} action disable;"]  # fmt: skip
            export = "export none;" if n.kind == "host" else "export all;"
            channels += [f"  ipv{version} {{", *(f"    {i}" for i in imports), f"    {export}",
                         "  };"]  # fmt: skip
        if n.note:
            lines.append(f"# {n.note}")
        lines += [
            f"protocol bgp {_ident(n.kind, n.name)}{_session_suffix(n)} {{",
            f'  description "{n.kind} {n.name}";',
            f"  local as {router.asn};",
            f"  neighbor {n.address} as {n.asn};",
            "  direct;",
            "  graceful restart on;",
        ]
        if n.hold_time is not None and n.keepalive is not None:
            lines += [f"  hold time {n.hold_time};", f"  keepalive time {n.keepalive};"]
        if n.password:
            lines.append(f'  password "{n.password}";')
        if n.ttl_security:
            lines.append("  ttl security on;")
        if n.bfd is not None:
            lines.append("  bfd on;")
        if n.kind == "host":
            # After an error (a hold timer, BFD down) BIRD refuses the peer for 60 s at first
            # by default: a host that hung and came back would wait that long for its routes.
            lines.append("  error wait time 2, 60;")
        lines += [*channels, "}", ""]
    return "\n".join([*lines, *_bfd(neighbors)])


def _bfd(neighbors: list[Neighbor]) -> list[str]:
    """BIRD's BFD protocol, one interface block per host neighbour with a profile."""
    with_bfd = [n for n in neighbors if n.bfd is not None]
    if not with_bfd:
        return []
    lines = ["protocol bfd {"]
    for n in with_bfd:
        assert n.bfd is not None
        mult, rx, tx = n.bfd
        lines += [f'  interface "{n.interface}" {{',
                  f"    min rx interval {rx} ms;", f"    min tx interval {tx} ms;",
                  f"    multiplier {mult};", "  };"]  # fmt: skip
    return [*lines, "}", ""]
