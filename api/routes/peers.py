from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import ReadSession, WriteSession
from api.schemas.peers import BfdProfile, PeerCreate, PeerPublic, PeerStatusPublic, PeerUpdate
from fabric import peer_status, peers
from fabric.models import Peer

router = APIRouter(prefix="/v1/peers", tags=["peers"])


def peer_public(peer: Peer) -> PeerPublic:
    return PeerPublic(
        name=peer.name,
        address=peer.address,
        asn=peer.asn,
        scope=peer.scope,
        selector=peer.selector,
        host=peer.host.name if peer.host else None,
        hold_time=peer.hold_time,
        keepalive=peer.keepalive,
        graceful_restart=peer.graceful_restart,
        ttl_security=peer.ttl_security,
        max_prefix=peer.max_prefix,
        password_set=peer.password is not None,
        bfd=BfdProfile.model_validate(profile) if (profile := peers.bfd_profile(peer)) else None,
        created_at=peer.created_at,
    )


def _unsecret(values: dict[str, object]) -> dict[str, object]:
    secret = values.get("password")
    if secret is not None:
        values["password"] = secret.get_secret_value()  # type: ignore[attr-defined]
    return values


@router.post("", status_code=status.HTTP_201_CREATED)
def create_peer(body: PeerCreate, session: WriteSession) -> PeerPublic:
    """Add a BGP neighbour. The password is stored and never returned."""
    values = _unsecret(body.model_dump())
    return peer_public(peers.create_peer(session, **values))  # type: ignore[arg-type]


@router.get("")
def list_peers(session: ReadSession) -> list[PeerPublic]:
    return [peer_public(p) for p in peers.list_peers(session)]


@router.get("/status")
def list_peer_status(session: ReadSession, host: str | None = None) -> list[PeerStatusPublic]:
    """Every (host, peer) session the controller intends or a host reports: ``unknown``
    until reported, ``stale`` once the host's reports stop."""
    return [PeerStatusPublic.model_validate(s) for s in peer_status.sessions(session, host)]


@router.get("/{name}")
def get_peer(name: str, session: ReadSession) -> PeerPublic:
    return peer_public(peers.get_peer(session, name))


@router.patch("/{name}")
def update_peer(name: str, body: PeerUpdate, session: WriteSession) -> PeerPublic:
    values = _unsecret(body.model_dump(exclude_unset=True))
    return peer_public(peers.update_peer(session, name, **values))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_peer(name: str, session: WriteSession) -> None:
    peers.delete_peer(session, name)
