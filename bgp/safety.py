"""The last check before a prefix reaches ExaBGP: the host announces only what it owns.

A prefix passes when it is one of the host's blocks, or a host route (/32,
/128) the controller lists for it; and, when the operator configured local
limits (``--allow``), when it lies inside one of them. Everything else is
refused and reported, never announced, and so is a prefix of a family the host has no
address of (an IPv6 prefix with no IPv6 next hop would go out IPv4-mapped).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bgp import exabgp_api


@dataclass
class Verdict:
    allowed: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)  # prefix -> why


def _versions_with_next_hop(state: dict[str, Any]) -> set[int]:
    """The families the host has a next hop for: its fabric address's, and IPv6 when it has an
    IPv6 address. A state without a next hop (older API) is taken as IPv4 only."""
    versions: set[int] = set()
    for key in ("next_hop", "next_hop6"):
        try:
            versions.add(ipaddress.ip_address(state.get(key) or "").version)
        except ValueError:
            continue
    return versions or {4}


def check(state: dict[str, Any], allow: Sequence[str] = ()) -> Verdict:
    limits = [ipaddress.ip_network(a) for a in allow]
    blocks = set(state.get("blocks", []))
    versions = _versions_with_next_hop(state)
    verdict = Verdict()
    for advert in state.get("advertisements", []):
        prefix, kind = advert["prefix"], advert["kind"]
        try:
            if not isinstance(prefix, str):
                raise TypeError(prefix)
            text = exabgp_api.canonical(prefix)
        except (ValueError, TypeError):
            verdict.refused[str(prefix)[:64]] = "not a prefix"
            continue
        if kind == "block" and text not in blocks:
            verdict.refused[text] = "block not affine to this host"
        elif kind != "block" and not exabgp_api.is_host_route(text):
            verdict.refused[text] = "a workload route must be a host route"
        elif exabgp_api.version_of(text) not in versions:
            verdict.refused[text] = (
                f"no IPv{exabgp_api.version_of(text)} next hop: the host has no address of "
                "that family"
            )
        elif limits and not any(_inside(ipaddress.ip_network(text), lim) for lim in limits):
            verdict.refused[text] = "outside the locally allowed ranges"
        else:
            verdict.allowed.add(text)
    return verdict


def _inside(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
    limit: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    return net.version == limit.version and net.subnet_of(limit)  # type: ignore[arg-type]


def workload_routes(prefixes: Iterable[str]) -> set[str]:
    return {p for p in prefixes if ipaddress.ip_network(p).prefixlen in (32, 128)}
