"""Fabric routers and the configuration the controller renders for them."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep, HubDep, ReadSession, SettingsDep, WriteSession
from api.errors import ERROR_RESPONSES
from api.schemas.routers import (
    AppliedPublic,
    AppliedReport,
    NeighborPublic,
    RouterCreate,
    RouterPublic,
)
from fabric import routers
from fabric.client.router import DIGEST_HEADER, REVISION_HEADER
from fabric.models import Router
from fabric.render.router_config import desired_digest, render_config
from fabric.revisions import current_revision
from fabric.store.database import Database

router = APIRouter(prefix="/v1/routers", tags=["routers"])


def router_public(session: Session, r: Router) -> RouterPublic:
    return RouterPublic.model_validate(
        {
            "name": r.name,
            "role": r.role,
            "asn": r.asn,
            "router_id": r.router_id,
            "interfaces": r.interfaces,
            "neighbors": [
                NeighborPublic(
                    address=n.address,
                    asn=n.asn,
                    kind=n.kind,
                    name=n.name,
                    interface=n.interface,
                    password_set=bool(n.password),
                    families=list(n.versions),
                )  # fmt: skip
                for n in routers.neighbors(session, r)
            ],
            "created_at": r.created_at,
            "config": _applied(session, r),
        }
    )


def _applied(session: Session, r: Router) -> AppliedPublic | None:
    """What the router's tor-sync applied, against what it would be given now."""
    row = routers.applied_of(session, r)
    if row is None:
        return None
    desired = desired_digest(session, row)
    return AppliedPublic(
        format=row.format, filters=row.filters, applied_digest=row.digest,
        applied_revision=row.revision, applied_at=row.applied_at, desired_digest=desired,
        in_sync=row.digest == desired, error=row.error, error_at=row.error_at,
    )  # fmt: skip


@router.post("", status_code=status.HTTP_201_CREATED)
def create_router(body: RouterCreate, session: WriteSession) -> RouterPublic:
    """Add a leaf (ToR) or spine; its neighbours follow from its interface subnets."""
    return router_public(session, routers.create_router(session, **body.model_dump()))


@router.get("")
def list_routers(session: ReadSession) -> list[RouterPublic]:
    return [router_public(session, r) for r in routers.list_routers(session)]


@router.get("/{name}")
def get_router(name: str, session: ReadSession) -> RouterPublic:
    return router_public(session, routers.get_router(session, name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_router(name: str, session: WriteSession) -> None:
    routers.delete_router(session, name)


def _rendered(db: Database, name: str, format: str, filters: bool) -> tuple[str, int]:
    """The router's configuration now, and the fabric revision it reflects."""
    with db.read() as session:
        text = render_config(session, routers.get_router(session, name), format, filters)
        return text, current_revision(session)


@router.get(
    "/{name}/config",
    response_class=PlainTextResponse,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "headers": {
                DIGEST_HEADER: {"description": "SHA-256 of the text", "schema": {"type": "string"}},
                REVISION_HEADER: {"description": "The fabric revision it reflects",
                                  "schema": {"type": "integer"}},
            },
        },
        **{
            code: {**spec, "content": {"application/json": {}}}
            for code, spec in ERROR_RESPONSES.items()
        },
    },
)
async def router_config(
    name: str,
    db: DbDep,
    hub: HubDep,
    settings: SettingsDep,
    format: Literal["frr", "bird"] = Query("frr"),
    filters: bool = Query(True, description="Inbound prefix filters from IPAM ownership."),
    digest: str | None = Query(
        default=None, max_length=64, description="Wait until the rendering differs from this."
    ),
    wait: float = Query(default=0, ge=0, description="Seconds to wait (capped by the server)."),
) -> PlainTextResponse:
    """The router's configuration rendered from IPAM and peer data (holds BGP passwords).

    With ``digest`` and ``wait`` (``fabricctl tor-sync``), the answer is held until the
    rendering differs from the one with that digest, or ``wait`` seconds pass; its digest and
    revision are in the ``X-Fabric-Config-Digest`` and ``X-Fabric-Revision`` headers."""
    deadline = time.monotonic() + min(wait, settings.longpoll_max_seconds)
    while True:
        interest = hub.interest_any() if digest and wait > 0 else None
        text, revision = await run_in_threadpool(_rendered, db, name, format, filters)
        got = routers.config_digest(text)
        left = deadline - time.monotonic()
        if interest is None or got != digest or left <= 0:
            headers = {DIGEST_HEADER: got, REVISION_HEADER: str(revision), "ETag": f'"{got}"'}
            return PlainTextResponse(text, headers=headers)
        await hub.wait(interest, left)


@router.put("/{name}/applied")
def report_applied(name: str, body: AppliedReport, session: WriteSession) -> RouterPublic:
    """The router's tor-sync reports what it applied, or (``error``) what it could not."""
    routers.report_applied(session, name, **body.model_dump())
    return router_public(session, routers.get_router(session, name))
