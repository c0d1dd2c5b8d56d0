"""What hosts announce, against what they should: the routes view and the trace of one address.

Agents report the prefixes their speaker holds (with when each was first
announced) after every change; the controller compares that with the desired
state, so "missing" and "extra" are one look away.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric import peer_status, routers
from fabric.desired import desired_state
from fabric.errors import InvalidInput
from fabric.hosts import get_host
from fabric.ipam import queries
from fabric.models import Host, HostRoutes, PeerStatus, utcnow
from fabric.validation import parse_network, reject_control_characters

MAX_PREFIXES = 200_000


def report(
    session: Session,
    host_name: str,
    *,
    revision: int | None,
    announced: dict[str, str],
    refused: dict[str, str],
    acked: bool,
) -> None:
    """Replace the host's announced set. Raises: NotFound, InvalidInput."""
    host = get_host(session, host_name)
    if len(announced) > MAX_PREFIXES:
        raise InvalidInput(f"At most {MAX_PREFIXES} prefixes.", code="too_many_prefixes")
    clean = {
        str(parse_network(p, what="announced prefix")): _since(s) for p, s in announced.items()
    }
    why = {
        str(parse_network(p, what="refused prefix")): reject_control_characters("reason", r)[:200]
        for p, r in list(refused.items())[:1000]
    }
    row = session.scalar(select(HostRoutes).where(HostRoutes.host_id == host.id))
    if row is None:
        row = HostRoutes(host_id=host.id)
        session.add(row)
    row.revision, row.announced, row.refused, row.acked = revision, clean, why, acked
    row.reported_at = utcnow()
    session.flush()


def _order(prefix: str) -> tuple[int, bytes, int]:
    net = ipaddress.ip_network(prefix)
    return net.version, net.network_address.packed, net.prefixlen


def _since(text: str) -> str:
    try:
        return dt.datetime.fromisoformat(text).isoformat()
    except (TypeError, ValueError):
        raise InvalidInput("'since' must be an ISO 8601 timestamp.", code="invalid_since") from None


def routes(session: Session, host_name: str) -> dict[str, Any]:
    """Desired vs announced for one host, and the difference."""
    desired = desired_state(session, host_name)
    host = get_host(session, host_name)
    row = session.scalar(select(HostRoutes).where(HostRoutes.host_id == host.id))
    want = {a.prefix: a.kind for a in desired.advertisements}
    have = dict(row.announced) if row else {}
    prefixes = sorted(set(want) | set(have), key=_order)
    return {
        "host": host.name,
        "mode": desired.mode,
        "blocks": desired.blocks,
        "revision": desired.revision,
        "agent_revision": row.revision if row else None,
        "acked": row.acked if row else False,
        "reported_at": row.reported_at if row else None,
        "routes": [
            {
                "prefix": p,
                "kind": want.get(p),
                "desired": p in want,
                "announced": p in have,
                "since": have.get(p),
            }
            for p in prefixes
        ],  # fmt: skip
        "missing": [p for p in prefixes if p in want and p not in have],
        "extra": [p for p in prefixes if p in have and p not in want],
        "refused": dict(row.refused) if row else {},
    }


def trace(session: Session, address: str) -> dict[str, Any]:
    """Everything about one address: ownership, and who announces it to whom since when."""
    row = queries.owner_of(session, address)
    info = queries.describe(row)
    host: Host = row.host
    report_row = session.scalar(select(HostRoutes).where(HostRoutes.host_id == host.id))
    ip = ipaddress.ip_address(row.address)
    held: dict[str, str] = report_row.announced if report_row else {}
    covering = sorted(
        (p for p in held if ip in ipaddress.ip_network(p)),
        key=lambda p: -ipaddress.ip_network(p).prefixlen,
    )
    announced_as = covering[0] if covering else None
    peers = session.scalars(select(PeerStatus).where(PeerStatus.host_id == host.id)).all()
    accepted = routers.accepted_by(session, host.address, announced_as) if announced_as else []
    return {
        **info,
        "announced_by": host.name if announced_as else None,
        "announced_as": announced_as,
        "announced_since": held[announced_as] if announced_as else None,
        "peers": [
            {
                "peer_address": p.peer_address,
                "state": p.state,
                "sent": bool(announced_as) and peer_status.is_established(p)
                and p.prefixes_sent > 0,
            }
            for p in sorted(peers, key=lambda p: p.peer_address)
        ],
        "accepted_by": accepted,
    }
