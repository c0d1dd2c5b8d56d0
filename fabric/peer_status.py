"""Peer status as each host's speaker reports it: BGP state, counters, last error.

A report is the full picture of one host's sessions: peers it no longer
reports are forgotten. Reports do not change the revision (they are not
desired state).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fabric.errors import InvalidInput
from fabric.hosts import get_host
from fabric.models import Host, PeerStatus, utcnow
from fabric.validation import parse_address, reject_control_characters

STATES = (
    "idle",
    "connect",
    "active",
    "opensent",
    "openconfirm",
    "connected",
    "established",
    "down",
)


@dataclass(frozen=True)
class SessionReport:
    peer_address: str
    state: str
    peer_asn: int | None = None
    since: dt.datetime | None = None
    last_error: str | None = None
    prefixes_sent: int = 0
    prefixes_received: int = 0
    updates_sent: int = 0
    updates_received: int = 0


def report(session: Session, host_name: str, reports: list[SessionReport]) -> int:
    """Replace the host's session status with this report. Raises: NotFound, InvalidInput."""
    host = get_host(session, host_name)
    now = utcnow()
    session.execute(delete(PeerStatus).where(PeerStatus.host_id == host.id))
    seen: set[str] = set()
    for r in reports:
        address = parse_address(r.peer_address, what="peer address").compressed
        if address in seen:
            raise InvalidInput(f"Peer {address} is reported twice.", code="duplicate_peer")
        seen.add(address)
        if r.state not in STATES:
            raise InvalidInput(
                f"State {r.state!r} is not one of {', '.join(STATES)}.", code="invalid_state"
            )
        error = (
            reject_control_characters("last_error", r.last_error)[:255] if r.last_error else None
        )
        session.add(
            PeerStatus(
                host_id=host.id,
                peer_address=address,
                peer_asn=r.peer_asn,
                state=r.state,
                since=r.since,
                last_error=error,
                prefixes_sent=r.prefixes_sent,
                prefixes_received=r.prefixes_received,
                updates_sent=r.updates_sent,
                updates_received=r.updates_received,
                reported_at=now,
            )
        )
    session.flush()
    return len(reports)


def list_status(session: Session, host_name: str | None = None) -> list[tuple[Host, PeerStatus]]:
    stmt = select(Host, PeerStatus).join(PeerStatus, PeerStatus.host_id == Host.id)
    if host_name is not None:
        stmt = stmt.where(Host.id == get_host(session, host_name).id)
    rows = session.execute(stmt.order_by(Host.name, PeerStatus.peer_address)).all()
    return [(h, s) for h, s in rows]


def as_dict(host: Host, status: PeerStatus, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    return {
        "host": host.name,
        "rack": host.labels.get("rack"),
        "peer_address": status.peer_address,
        "peer_asn": status.peer_asn,
        "state": status.state,
        "since": status.since,
        "last_error": status.last_error,
        "prefixes_sent": status.prefixes_sent,
        "prefixes_received": status.prefixes_received,
        "updates_sent": status.updates_sent,
        "updates_received": status.updates_received,
        "reported_at": status.reported_at,
        "report_age_seconds": round((now - status.reported_at).total_seconds(), 1),
    }
