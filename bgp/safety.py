"""The last check before a prefix reaches ExaBGP: the host announces only what it owns.

A prefix passes when it is one of the host's blocks, or a host route (/32,
/128) the controller lists for it; and, when the operator configured local
limits (``--allow``), when it lies inside one of them. Everything else is
refused and reported, never announced.
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


def check(state: dict[str, Any], allow: Sequence[str] = ()) -> Verdict:
    limits = [ipaddress.ip_network(a) for a in allow]
    blocks = set(state.get("blocks", []))
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
