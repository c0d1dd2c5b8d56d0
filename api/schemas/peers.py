from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, SecretStr

from api.schemas.common import ASN, Labels, Public, Strict
from fabric.peers import (
    BFD_INTERVAL_MS,
    BFD_MULTIPLIER,
    HOLD_TIME_MIN,
    RESTART_TIME_MAX,
    TIMER_MAX,
    TTL_MAX,
)

Scope = Literal["global", "selector", "host"]


class BfdProfile(Strict):
    """BFD on this session: the host's bfdd and the ToR detect a dead peer in
    detect_multiplier × the slower of the intervals."""

    detect_multiplier: int = Field(default=3, ge=BFD_MULTIPLIER[0], le=BFD_MULTIPLIER[1])
    receive_ms: int = Field(default=300, ge=BFD_INTERVAL_MS[0], le=BFD_INTERVAL_MS[1])
    transmit_ms: int = Field(default=300, ge=BFD_INTERVAL_MS[0], le=BFD_INTERVAL_MS[1])
HOLD_DOC = f"Seconds: 0 (no keepalives) or {HOLD_TIME_MIN}-{TIMER_MAX}; default 90."
KEEPALIVE_DOC = "Seconds, at most a third of the hold time; default: a third of it."


class PeerCreate(Strict):
    name: str = Field(max_length=64)
    address: str = Field(max_length=64)
    asn: int = ASN
    scope: Scope = "global"
    selector: Labels = Field(default_factory=dict)
    host: str | None = Field(default=None, max_length=64)
    hold_time: int | None = Field(default=None, ge=0, le=TIMER_MAX, description=HOLD_DOC)
    keepalive: int | None = Field(default=None, ge=0, le=TIMER_MAX, description=KEEPALIVE_DOC)
    graceful_restart: int | None = Field(default=None, ge=0, le=RESTART_TIME_MAX)
    ttl_security: int | None = Field(default=None, ge=0, le=TTL_MAX)
    max_prefix: int | None = Field(default=None, ge=1)
    # SecretStr: never printed in logs or in validation errors.
    password: SecretStr | None = Field(default=None, description="Write-only TCP MD5 password.")
    bfd: BfdProfile | None = Field(default=None, description="BFD on the session; null: off.")


class PeerUpdate(Strict):
    asn: int | None = Field(default=None, ge=1, le=4294967295)
    hold_time: int | None = Field(default=None, ge=0, le=TIMER_MAX)
    keepalive: int | None = Field(default=None, ge=0, le=TIMER_MAX)
    graceful_restart: int | None = Field(default=None, ge=0, le=RESTART_TIME_MAX)
    ttl_security: int | None = Field(default=None, ge=0, le=TTL_MAX)
    max_prefix: int | None = Field(default=None, ge=1)
    password: SecretStr | None = Field(default=None, description='Write-only; "" clears it.')
    bfd: BfdProfile | None = Field(default=None, description="A profile turns BFD on; null off.")


class PeerPublic(Public):
    name: str
    address: str
    asn: int
    scope: str
    selector: Labels
    host: str | None
    hold_time: int
    keepalive: int
    graceful_restart: int
    ttl_security: int
    max_prefix: int | None
    password_set: bool
    bfd: BfdProfile | None
    created_at: dt.datetime


StateName = Literal[
    "idle", "connect", "active", "opensent", "openconfirm", "connected", "established", "down"
]


Family = Literal["ipv4", "ipv6"]


class FamilyCounts(Strict):
    sent: int = Field(default=0, ge=0)
    received: int = Field(default=0, ge=0)


class SessionReportIn(Strict):
    peer_address: str = Field(max_length=64)
    peer_asn: int | None = Field(default=None, ge=1, le=4294967295)
    state: StateName
    since: dt.datetime | None = None
    last_error: str | None = Field(default=None, max_length=1024)
    prefixes_sent: int = Field(default=0, ge=0)
    prefixes_received: int = Field(default=0, ge=0)
    updates_sent: int = Field(default=0, ge=0)
    updates_received: int = Field(default=0, ge=0)
    # bfdd's word for it (up, down, init, shutdown); free text, so a new word never costs a
    # host its whole report.
    bfd_state: str | None = Field(default=None, max_length=16, pattern=r"^[a-z-]+$")
    families: dict[Family, FamilyCounts] | None = Field(
        default=None, description="The unicast families the session negotiated, with counts."
    )


class StatusReport(Strict):
    sessions: list[SessionReportIn] = Field(max_length=1024)
    interval_seconds: float = Field(
        default=5.0, gt=0, le=3600,
        description="How often this agent reports: three intervals without one make it stale.",
    )  # fmt: skip


class PeerStatusPublic(Public):
    """One session: what the controller intends joined with what the host last reported."""

    host: str
    rack: str | None
    peer: str | None = Field(description="The configured peer's name; null if not configured.")
    configured: bool = Field(description="The controller says this host should have it.")
    peer_address: str
    peer_asn: int | None
    state: str = Field(description='The reported BGP state; "unknown" until first reported.')
    since: dt.datetime | None
    last_error: str | None
    prefixes_sent: int
    prefixes_received: int
    updates_sent: int
    updates_received: int
    bfd_state: str | None = Field(description="The BFD session's state; null: no BFD.")
    families: dict[str, FamilyCounts] = Field(
        description='What the session negotiated, each with its prefixes sent and received '
        '({"ipv4": {"sent": 3, "received": 0}, "ipv6": …}); empty until reported up.'
    )
    reported_at: dt.datetime | None
    report_age_seconds: float | None
    stale: bool = Field(description="The last report is older than three report intervals.")
    established: bool = Field(description="Reported established, and not stale.")
