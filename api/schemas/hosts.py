from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from api.schemas.common import ASN, Labels, Public, Strict

AdvertiseMode = Literal["aggregate", "host-routes"]


class HostCreate(Strict):
    name: str = Field(max_length=64)
    address: str = Field(max_length=64, description="Fabric address: next hop and router id.")
    address6: str | None = Field(
        default=None,
        max_length=64,
        description="IPv6 fabric address beside an IPv4 one: the global next hop of the "
        "host's IPv6 prefixes (carried over its IPv4 sessions) and the source of IPv6 sessions.",
    )
    asn: int = ASN
    labels: Labels = Field(default_factory=dict)
    advertise_mode: AdvertiseMode = "aggregate"


class HostUpdate(Strict):
    address: str | None = Field(default=None, max_length=64)
    address6: str | None = Field(
        default=None, max_length=64, description="null removes the IPv6 address."
    )
    asn: int | None = Field(default=None, ge=1, le=4294967295)
    labels: Labels | None = None
    advertise_mode: AdvertiseMode | None = None


class HostPublic(Public):
    name: str
    address: str
    address6: str | None = None
    asn: int
    labels: Labels
    advertise_mode: str
    revision: int
    created_at: dt.datetime


class AdvertisementPublic(Public):
    prefix: str
    kind: str


class DesiredStatePublic(Public):
    host: str
    next_hop: str
    next_hop6: str | None = Field(
        default=None, description="Global IPv6 next hop of the IPv6 prefixes (None: none)."
    )
    asn: int
    mode: str
    revision: int = Field(description="The fabric's revision this answer reflects.")
    host_revision: int = Field(description="Revision of this host's last change.")
    advertisements: list[AdvertisementPublic]
    blocks: list[str]


class SpeakerPeerPublic(Public):
    address: str
    asn: int
    hold_time: int
    graceful_restart: int
    ttl_security: int
    password: str | None
    bfd_multiplier: int | None = None
    bfd_receive_ms: int | None = None
    bfd_transmit_ms: int | None = None


class SpeakerPublic(Public):
    """The host's speaker configuration, for its agent only (it carries the passwords)."""

    host: str
    address: str
    address6: str | None = None
    asn: int
    peers: list[SpeakerPeerPublic]
