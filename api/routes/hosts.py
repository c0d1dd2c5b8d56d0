from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep, HubDep, ReadSession, SettingsDep, WriteSession
from api.revisions import answer_body
from api.routes.peers import peer_public
from api.schemas.hosts import (
    DesiredStatePublic,
    HostCreate,
    HostPublic,
    HostUpdate,
    SpeakerPublic,
)
from api.schemas.peers import PeerPublic, StatusReport
from fabric import desired, hosts, peer_status, peers
from fabric.store.database import Database
from fabric.validation import parse_selector

router = APIRouter(prefix="/v1/hosts", tags=["hosts"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_host(body: HostCreate, session: WriteSession) -> HostPublic:
    return HostPublic.model_validate(hosts.create_host(session, **body.model_dump()))


@router.get("")
def list_hosts(
    session: ReadSession,
    selector: str | None = Query(default=None, description="e.g. rack=r1,zone=a"),
) -> list[HostPublic]:
    sel = parse_selector(selector) if selector else None
    return [HostPublic.model_validate(h) for h in hosts.list_hosts(session, sel)]


@router.get("/{name}")
def get_host(name: str, session: ReadSession) -> HostPublic:
    return HostPublic.model_validate(hosts.get_host(session, name))


@router.patch("/{name}")
def update_host(name: str, body: HostUpdate, session: WriteSession) -> HostPublic:
    return HostPublic.model_validate(
        hosts.update_host(session, name, **body.model_dump(exclude_unset=True))
    )


@router.delete("/{name}")
def delete_host(name: str, session: WriteSession, release: bool = False) -> dict[str, int]:
    """Refused (409 ``host_has_allocations``) while it holds addresses, unless ``release``."""
    return {"released": hosts.delete_host(session, name, release=release)}


@router.get("/{name}/peers")
def get_host_peers(name: str, session: ReadSession) -> list[PeerPublic]:
    """The peers that apply to this host (one per address, most specific scope wins)."""
    return [peer_public(p) for p in peers.peers_for_host(session, name)]


@router.get("/{name}/speaker")
def get_speaker(name: str, session: ReadSession) -> SpeakerPublic:
    """The speaker configuration of the host's agent, peer passwords included.

    The one place a password leaves the controller: it is meant for the
    host's own agent (role-scoped tokens restrict it to that agent).
    """
    return SpeakerPublic.model_validate(peers.speaker_for_host(session, name))


def _read_desired(db: Database, name: str) -> desired.DesiredState:
    with db.read() as session:
        return desired.desired_state(session, name)


def _answer(body: bytes) -> Response:
    # Serialized in one step (``answer_body``): FastAPI's own response handling (dump,
    # validate again, encode) doubled the cost of each of a thousand woken answers.
    return Response(content=body, media_type="application/json")


@router.get("/{name}/advertisements", response_model=DesiredStatePublic)
async def get_advertisements(
    name: str,
    request: Request,
    db: DbDep,
    hub: HubDep,
    settings: SettingsDep,
    since: int | None = Query(
        default=None, ge=0, le=2**63 - 1, description="Wait for a change after this."
    ),
    wait: float = Query(default=0, ge=0, description="Seconds to wait (capped by the server)."),
) -> Response:
    """What the host must announce, and the revision it reflects.

    With ``since`` and ``wait``, the answer is held until this host's desired
    state changes after revision ``since`` or ``wait`` seconds pass.
    """
    interest = hub.interest(name) if since is not None and wait > 0 else None
    state = await run_in_threadpool(_read_desired, db, name)
    if interest is None or state.host_revision > since or state.revision < since:  # type: ignore[operator]
        return _answer(answer_body(state))
    woken, body = await hub.wait(interest, min(wait, settings.longpoll_max_seconds))
    if body is None:  # timed out, or the hub could not read for us
        body = answer_body(await run_in_threadpool(_read_desired, db, name) if woken else state)
    answer = _answer(body)
    if woken:
        request.app.state.metrics.wake.observe(time.monotonic() - hub.seen_at)
    return answer


@router.put("/{name}/peers/status")
def report_peer_status(name: str, body: StatusReport, session: WriteSession) -> dict[str, int]:
    """The host's speaker reports every session it has (the full set replaces the last)."""
    reports = [peer_status.SessionReport(**s.model_dump()) for s in body.sessions]
    return {"sessions": peer_status.report(session, name, reports, body.interval_seconds)}
