"""Peer status as each host's speaker reports it, joined with what the controller intends.

A report is the full picture of one host's sessions: peers it no longer reports are
forgotten. Reports do not change the revision (they are not desired state).

``sessions`` never lies by omission: every peer the controller says a host should have is
there, ``unknown`` until the host reports it; a session the host reports but the controller
no longer intends is there too (``configured`` false); and a report older than three of the
agent's own report intervals is ``stale``: its last state is shown, but it is not counted as
established.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fabric.errors import InvalidInput
from fabric.hosts import get_host, list_hosts
from fabric.models import AgentReport, Host, Peer, PeerStatus, utcnow
from fabric.peers import chosen_for, list_peers
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
STALE_AFTER_REPORTS = 3  # a report older than this many of its agent's intervals is stale
DEFAULT_INTERVAL_SECONDS = 5.0  # agents that do not say (bgp/injector.py reports this often)


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
    bfd_state: str | None = None
    families: dict[str, dict[str, int]] | None = None  # "ipv4"/"ipv6" -> sent, received


def report(
    session: Session,
    host_name: str,
    reports: list[SessionReport],
    interval: float = DEFAULT_INTERVAL_SECONDS,
) -> int:
    """Replace the host's session status with this report, from an agent that reports every
    ``interval`` seconds. Raises: NotFound, InvalidInput."""
    host = get_host(session, host_name)
    now = utcnow()
    session.execute(delete(PeerStatus).where(PeerStatus.host_id == host.id))
    _heard_from(session, host, now, interval)
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
                bfd_state=r.bfd_state,
                families=r.families,
                reported_at=now,
                report_interval=interval,
            )
        )
    session.flush()
    return len(reports)


def _heard_from(session: Session, host: Host, now: dt.datetime, interval: float) -> None:
    row = session.get(AgentReport, host.id)
    if row is None:
        row = AgentReport(host_id=host.id)
        session.add(row)
    row.reported_at, row.report_interval = now, interval


def report_ages(session: Session, now: dt.datetime | None = None) -> dict[str, float]:
    """Seconds since each host's agent last reported, by host name; a host whose agent never
    reported is absent. An empty report counts: the agent is alive even if it peers with none."""
    now = now or utcnow()
    rows = session.execute(
        select(Host.name, AgentReport.reported_at).join(AgentReport, AgentReport.host_id == Host.id)
    ).all()
    return {name: round((now - at).total_seconds(), 1) for name, at in rows}


def list_status(session: Session, host_name: str | None = None) -> list[tuple[Host, PeerStatus]]:
    stmt = select(Host, PeerStatus).join(PeerStatus, PeerStatus.host_id == Host.id)
    if host_name is not None:
        stmt = stmt.where(Host.id == get_host(session, host_name).id)
    rows = session.execute(stmt.order_by(Host.name, PeerStatus.peer_address)).all()
    return [(h, s) for h, s in rows]


def is_stale(status: PeerStatus, now: dt.datetime | None = None) -> bool:
    """The report is older than three of its agent's intervals: its state is not the truth."""
    age = ((now or utcnow()) - status.reported_at).total_seconds()
    return age > STALE_AFTER_REPORTS * status.report_interval


def is_established(status: PeerStatus, now: dt.datetime | None = None) -> bool:
    return status.state == "established" and not is_stale(status, now)


def as_dict(host: Host, status: PeerStatus, now: dt.datetime | None = None) -> dict[str, Any]:
    """One reported session as the API shows it, configured or not (``sessions`` says)."""
    now = now or utcnow()
    age = (now - status.reported_at).total_seconds()
    stale = is_stale(status, now)
    return {
        **_session_of(host, status.peer_address, None),
        "peer_asn": status.peer_asn,
        "state": status.state,
        "since": status.since,
        "last_error": status.last_error,
        "prefixes_sent": status.prefixes_sent,
        "prefixes_received": status.prefixes_received,
        "updates_sent": status.updates_sent,
        "updates_received": status.updates_received,
        "bfd_state": status.bfd_state,
        "families": status.families or {},
        "reported_at": status.reported_at,
        "report_age_seconds": round(age, 1),
        "stale": stale,
        "established": is_established(status, now),
    }


def _session_of(host: Host, address: str, peer: Peer | None) -> dict[str, Any]:
    """A session as nobody has reported it yet: what the controller knows of it."""
    return {
        "host": host.name,
        "rack": host.labels.get("rack"),
        "peer": peer.name if peer is not None else None,
        "configured": peer is not None,
        "peer_address": address,
        "peer_asn": peer.asn if peer is not None else None,
        "state": "unknown",
        "since": None,
        "last_error": None,
        "prefixes_sent": 0,
        "prefixes_received": 0,
        "updates_sent": 0,
        "updates_received": 0,
        "bfd_state": None,
        "families": {},
        "reported_at": None,
        "report_age_seconds": None,
        "stale": False,
        "established": False,
    }


def sessions(
    session: Session, host_name: str | None = None, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Every session of every host (or of one), intended or reported, by host and address."""
    hosts = [get_host(session, host_name)] if host_name else list_hosts(session)
    peers = list_peers(session)
    reported: dict[int, dict[str, PeerStatus]] = {}
    for host, status in list_status(session, host_name):
        reported.setdefault(host.id, {})[status.peer_address] = status
    out = []
    for host in sorted(hosts, key=lambda h: h.name):
        intended = {p.address: p for p in chosen_for(host, peers)}
        rows = reported.get(host.id, {})
        for address in sorted(set(intended) | set(rows)):
            peer = intended.get(address)
            if address in rows:
                shown = as_dict(host, rows[address], now)
                shown.update(peer=peer.name if peer else None, configured=peer is not None)
            else:
                shown = _session_of(host, address, peer)
            out.append(shown)
    return out
