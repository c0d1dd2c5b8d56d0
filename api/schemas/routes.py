from __future__ import annotations

import datetime as dt

from pydantic import Field

from api.schemas.allocations import AllocationPublic
from api.schemas.common import Public, Strict


class RoutesReport(Strict):
    revision: int | None = Field(default=None, ge=0)
    announced: dict[str, str] = Field(
        default_factory=dict, description="prefix -> ISO time it was first announced"
    )
    refused: dict[str, str] = Field(default_factory=dict, description="prefix -> why")
    acked: bool = Field(default=False, description="ExaBGP acknowledged every line sent")


class RouteLine(Public):
    prefix: str
    kind: str | None
    desired: bool
    announced: bool
    since: str | None


class RoutesView(Public):
    host: str
    mode: str
    blocks: list[str]
    revision: int
    agent_revision: int | None
    acked: bool
    reported_at: dt.datetime | None
    routes: list[RouteLine]
    missing: list[str]
    extra: list[str]
    refused: dict[str, str]


class PeerSent(Public):
    peer_address: str
    state: str
    sent: bool


class RouterAccepted(Public):
    router: str
    accepted: bool
    as_of: dt.datetime | None


class IpTrace(AllocationPublic):
    """An allocation, who announces it to whom since when, and whether the ToR took it (when
    its tor-sync reports what it accepted)."""

    announced_by: str | None
    announced_as: str | None
    announced_since: str | None
    peers: list[PeerSent]
    accepted_by: list[RouterAccepted] = Field(default_factory=list)
