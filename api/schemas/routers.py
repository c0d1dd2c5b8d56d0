from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from api.schemas.common import ASN, Public, Strict


class InterfaceSpec(Strict):
    name: str = Field(max_length=15, description="Interface name on the router, e.g. eth1.")
    address: str = Field(max_length=64, description="Address with prefix length, 10.1.1.0/31.")
    address6: str | None = Field(
        default=None,
        max_length=64,
        description="IPv6 address with prefix length beside an IPv4 one (a dual-stack link), "
        "2001:db8:1::/127.",
    )


class RouterCreate(Strict):
    name: str = Field(max_length=64)
    role: Literal["leaf", "spine"]
    asn: int = ASN
    router_id: str = Field(max_length=64)
    interfaces: list[InterfaceSpec] = Field(default_factory=list, max_length=256)


class NeighborPublic(Public):
    address: str
    asn: int
    kind: str
    name: str
    interface: str
    password_set: bool
    families: list[int] = Field(description="The address families the session carries (4, 6).")


class AppliedReport(Strict):
    """What a router's tor-sync applied (``error`` null), or could not apply and why."""

    format: Literal["frr", "bird"]
    filters: bool
    digest: str = Field(min_length=64, max_length=64, description="SHA-256 of the text, in hex.")
    revision: int = Field(ge=0, le=2**63 - 1)
    error: str | None = Field(default=None, max_length=1024)
    accepted: dict[str, list[str]] | None = Field(
        default=None, max_length=4096,
        description="What the router accepted (its BGP table), by neighbour address.",
    )  # fmt: skip


class AppliedPublic(Public):
    """The configuration the router's tor-sync applied, against what it would get now."""

    format: str
    filters: bool
    applied_digest: str | None
    applied_revision: int | None
    applied_at: dt.datetime | None
    desired_digest: str
    in_sync: bool
    error: str | None = Field(description="Why the last configuration offered was not applied.")
    error_at: dt.datetime | None


class RouterPublic(Public):
    name: str
    role: str
    asn: int
    router_id: str
    interfaces: list[InterfaceSpec]
    neighbors: list[NeighborPublic]
    created_at: dt.datetime
    config: AppliedPublic | None = Field(
        default=None, description="What tor-sync applied; null when no tor-sync reported."
    )
