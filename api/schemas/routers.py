from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from api.schemas.common import ASN, Public, Strict


class InterfaceSpec(Strict):
    name: str = Field(max_length=15, description="Interface name on the router, e.g. eth1.")
    address: str = Field(max_length=64, description="Address with prefix length, 10.1.1.0/31.")


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


class RouterPublic(Public):
    name: str
    role: str
    asn: int
    router_id: str
    interfaces: list[InterfaceSpec]
    neighbors: list[NeighborPublic]
    created_at: dt.datetime
