"""Routes each host announces vs what it should, and the trace of one address."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReadSession, WriteSession
from api.schemas.routes import IpTrace, RoutesReport, RoutesView
from fabric import announced

router = APIRouter(tags=["routes"])


@router.put("/v1/hosts/{name}/routes")
def report_routes(name: str, body: RoutesReport, session: WriteSession) -> dict[str, int]:
    """The host's agent: what its speaker holds now (replaces the previous report)."""
    announced.report(session, name, **body.model_dump())
    return {"prefixes": len(body.announced)}


@router.get("/v1/hosts/{name}/routes")
def get_routes(name: str, session: ReadSession) -> RoutesView:
    """What the host should announce, what it announced and since when, and the difference."""
    return RoutesView.model_validate(announced.routes(session, name))


@router.get("/v1/ips/{address}")
def trace_ip(address: str, session: ReadSession) -> IpTrace:
    """One address: pool, block, owner, handle, attributes; announced by whom, since when,
    and whether the owner's peers were sent it."""
    return IpTrace.model_validate(announced.trace(session, address))
