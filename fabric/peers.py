"""BGP peers (the ToRs a host talks to) and which of them apply to which host.

Scope: ``global`` (every host), ``selector`` (hosts whose labels match), or
``host`` (one host). When several peers with the same address apply to one
host, the most specific scope wins (host, then selector, then global), so a
per-host override of a rack-wide peer is possible. The password is write-only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric.errors import AlreadyExists, InvalidInput
from fabric.hosts import get_host
from fabric.models import Host, Peer
from fabric.named import by_name
from fabric.render.exabgp import Speaker, SpeakerPeer
from fabric.revisions import touch_hosts
from fabric.validation import (
    BGP_PASSWORD,
    matches,
    parse_address,
    validate_asn,
    validate_labels,
    validate_name,
)

SCOPES = ("global", "selector", "host")
_SPECIFICITY = {"host": 0, "selector": 1, "global": 2}
# The timers' bounds, declared once (the API's schema takes its limits from here).
HOLD_TIME_MIN = 3  # or 0: no keepalives at all (RFC 4271 §4.2)
TIMER_MAX = 65535  # a 16-bit field
RESTART_TIME_MAX = 4095  # a 12-bit field (RFC 4724 §3)
TTL_MAX = 254  # GTSM: the hop count that keeps TTL 1 out (RFC 5082)
BFD_MULTIPLIER = (2, 255)  # FRR's bfdd and BIRD take these
BFD_INTERVAL_MS = (10, 60000)
BFD_DEFAULT = {"detect_multiplier": 3, "receive_ms": 300, "transmit_ms": 300}
DEFAULTS: dict[str, Any] = {
    "hold_time": 90,
    "keepalive": 30,
    "graceful_restart": 120,
    "ttl_security": 0,
    "max_prefix": None,
}


def get_peer(session: Session, name: str) -> Peer:
    """Raises: NotFound (code ``peer_not_found``)."""
    return by_name(session, Peer, name, "peer")


def list_peers(session: Session) -> list[Peer]:
    return list(session.scalars(select(Peer).order_by(Peer.name)))


def _check_timers(hold_time: int, keepalive: int, graceful_restart: int, ttl: int) -> None:
    if not (hold_time == 0 or HOLD_TIME_MIN <= hold_time <= TIMER_MAX):
        raise InvalidInput(
            f"Hold time must be 0 or {HOLD_TIME_MIN}-{TIMER_MAX} seconds.", code="invalid_timers"
        )
    if hold_time and not 1 <= keepalive <= hold_time // 3:
        raise InvalidInput(
            "Keepalive must be 1 second to a third of the hold time.", code="invalid_timers"
        )
    if not 0 <= graceful_restart <= RESTART_TIME_MAX:
        raise InvalidInput(
            f"Graceful-restart time must be 0 (off) to {RESTART_TIME_MAX} seconds.",
            code="invalid_timers",
        )
    if not 0 <= ttl <= TTL_MAX:
        raise InvalidInput(
            f"TTL security must be 0 (off) or the number of hops, 1-{TTL_MAX}.", code="invalid_ttl"
        )


def _check_password(password: str | None) -> str | None:
    if password is None or password == "":
        return None
    if not BGP_PASSWORD.match(password):
        # Never echo the password back, not even in an error.
        raise InvalidInput(
            "The password must be 1-80 printable ASCII characters without spaces, quotes, "
            "backslashes or semicolons.",
            code="invalid_password",
        )
    return password


def _resolve_scope(
    session: Session, scope: str, selector: dict[str, Any] | None, host: str | None
) -> tuple[dict[str, str], int | None]:
    if scope not in SCOPES:
        raise InvalidInput(
            f"Scope {scope!r} is not one of {', '.join(SCOPES)}.", code="invalid_scope"
        )
    if scope == "selector":
        sel = validate_labels(selector or {}, what="selector")
        if not sel:
            raise InvalidInput(
                "An empty selector would match every host: use scope 'global' for that.",
                code="invalid_selector",
            )
        return sel, None
    if selector:
        raise InvalidInput("A selector is only valid with scope 'selector'.", code="invalid_scope")
    if scope == "host":
        if not host:
            raise InvalidInput("Scope 'host' needs a host.", code="invalid_scope")
        return {}, get_host(session, host).id
    if host:
        raise InvalidInput("A host is only valid with scope 'host'.", code="invalid_scope")
    return {}, None


def create_peer(
    session: Session,
    *,
    name: str,
    address: str,
    asn: int,
    scope: str = "global",
    selector: dict[str, Any] | None = None,
    host: str | None = None,
    password: str | None = None,
    bfd: dict[str, int] | None = None,
    **options: Any,
) -> Peer:
    """Add a BGP neighbour (``bfd``: its BFD profile, None for none). Raises: InvalidInput,
    NotFound (host), AlreadyExists."""
    validate_name("Peer", name)
    if session.scalar(select(Peer.id).where(Peer.name == name)) is not None:
        raise AlreadyExists(f"Peer {name!r} already exists.", code="peer_exists")
    given = {k: v for k, v in options.items() if v is not None}
    values = {**DEFAULTS, **given, **_keepalive_following(given)}
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise InvalidInput(f"Unknown peer option(s): {', '.join(sorted(unknown))}.")
    _check_timers(
        values["hold_time"], values["keepalive"], values["graceful_restart"], values["ttl_security"]
    )
    if values["max_prefix"] is not None and values["max_prefix"] < 1:
        raise InvalidInput("max_prefix must be at least 1.", code="invalid_max_prefix")
    sel, host_id = _resolve_scope(session, scope, selector, host)
    peer = Peer(
        name=name,
        address=parse_address(address, what="peer address").compressed,
        asn=validate_asn(asn),
        scope=scope,
        selector=sel,
        host_id=host_id,
        password=_check_password(password),
        **values,
        **bfd_columns(bfd),
    )
    session.add(peer)
    touch_hosts(session, None)
    session.flush()
    return peer


def bfd_columns(bfd: dict[str, int] | None) -> dict[str, int | None]:
    """A BFD profile as the peer's columns (defaults 3 × 300 ms); None: all three None, off."""
    if bfd is None:
        return {"bfd_multiplier": None, "bfd_receive_ms": None, "bfd_transmit_ms": None}
    unknown = set(bfd) - set(BFD_DEFAULT)
    if unknown:
        raise InvalidInput(f"Unknown BFD option(s): {', '.join(sorted(unknown))}.",
                           code="invalid_bfd")  # fmt: skip
    profile = {**BFD_DEFAULT, **{k: v for k, v in bfd.items() if v is not None}}
    low, high = BFD_MULTIPLIER
    if not low <= profile["detect_multiplier"] <= high:
        raise InvalidInput(f"BFD detect multiplier must be {low}-{high}.", code="invalid_bfd")
    low, high = BFD_INTERVAL_MS
    for key in ("receive_ms", "transmit_ms"):
        if not low <= profile[key] <= high:
            raise InvalidInput(f"BFD {key} must be {low}-{high} ms.", code="invalid_bfd")
    return {
        "bfd_multiplier": profile["detect_multiplier"],
        "bfd_receive_ms": profile["receive_ms"],
        "bfd_transmit_ms": profile["transmit_ms"],
    }


def bfd_profile(peer: Peer) -> dict[str, int] | None:
    """The peer's BFD profile as the API shows it, or None (off)."""
    if peer.bfd_multiplier is None:
        return None
    return {"detect_multiplier": peer.bfd_multiplier, "receive_ms": peer.bfd_receive_ms or 0,
            "transmit_ms": peer.bfd_transmit_ms or 0}  # fmt: skip


def _keepalive_following(given: dict[str, Any]) -> dict[str, Any]:
    """A hold time given without a keepalive brings its keepalive: a third of it, as FRR and
    BIRD derive theirs (``hold_time: 9`` alone is 9/3, not refused against the default 30)."""
    hold = given.get("hold_time")
    if hold is None or given.get("keepalive") is not None:
        return {}
    return {"keepalive": hold // 3}


def update_peer(session: Session, name: str, **changes: Any) -> Peer:
    """Change timers, options or the password (``""`` clears it); scope and address are fixed."""
    peer = get_peer(session, name)
    if "asn" in changes and changes["asn"] is not None:
        peer.asn = validate_asn(changes.pop("asn"))
    if "password" in changes:
        pw = changes.pop("password")
        if pw is not None:
            peer.password = _check_password(pw)
    if "bfd" in changes:  # None: BFD off
        for column, value in bfd_columns(changes.pop("bfd")).items():
            setattr(peer, column, value)
    changes |= _keepalive_following({k: v for k, v in changes.items() if v is not None})
    for key, value in changes.items():
        if key not in DEFAULTS:
            raise InvalidInput(f"Peer field {key!r} cannot be changed.", code="invalid_update")
        if value is not None or key == "max_prefix":
            setattr(peer, key, value)
    _check_timers(peer.hold_time, peer.keepalive, peer.graceful_restart, peer.ttl_security)
    if peer.max_prefix is not None and peer.max_prefix < 1:
        raise InvalidInput("max_prefix must be at least 1.", code="invalid_max_prefix")
    touch_hosts(session, None)
    session.flush()
    return peer


def delete_peer(session: Session, name: str) -> None:
    session.delete(get_peer(session, name))
    touch_hosts(session, None)
    session.flush()


def applies_to(peer: Peer, host: Host) -> bool:
    if peer.scope == "global":
        return True
    if peer.scope == "host":
        return peer.host_id == host.id
    return matches(peer.selector, host.labels)


def peers_for_host(session: Session, host_name: str) -> list[Peer]:
    """The peers a host's speaker must have, one per address, most specific scope first."""
    return chosen_for(get_host(session, host_name), list_peers(session))


def chosen_for(host: Host, peers: list[Peer]) -> list[Peer]:
    """Of these peers, the ones the host's speaker must have: one per address, the most
    specific scope winning."""
    chosen: dict[str, Peer] = {}
    candidates = [p for p in peers if applies_to(p, host)]
    for peer in sorted(candidates, key=lambda p: (_SPECIFICITY[p.scope], p.name)):
        chosen.setdefault(peer.address, peer)
    return sorted(chosen.values(), key=lambda p: p.name)


def speaker_for_host(session: Session, host_name: str) -> Speaker:
    """What the host's agent renders into ``exabgp.conf`` (passwords included)."""
    host = get_host(session, host_name)
    return Speaker(
        host=host.name,
        address=host.address,
        address6=host.address6,
        asn=host.asn,
        peers=[
            SpeakerPeer(
                address=p.address,
                asn=p.asn,
                hold_time=p.hold_time,
                graceful_restart=p.graceful_restart,
                ttl_security=p.ttl_security,
                password=p.password,
                bfd_multiplier=p.bfd_multiplier,
                bfd_receive_ms=p.bfd_receive_ms,
                bfd_transmit_ms=p.bfd_transmit_ms,
            )
            for p in peers_for_host(session, host_name)
        ],
    )
