"""Fabric routers and the configuration the controller renders for them."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from api.deps import ReadSession, WriteSession
from api.errors import ERROR_RESPONSES
from api.schemas.routers import NeighborPublic, RouterCreate, RouterPublic
from fabric import routers
from fabric.models import Router
from fabric.render import bird, frr

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
                )  # fmt: skip
                for n in routers.neighbors(session, r)
            ],
            "created_at": r.created_at,
        }
    )


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


@router.get(
    "/{name}/config",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **{
            code: {**spec, "content": {"application/json": {}}}
            for code, spec in ERROR_RESPONSES.items()
        },
    },
)
def router_config(
    name: str,
    session: ReadSession,
    format: Literal["frr", "bird"] = Query("frr"),
    filters: bool = Query(True, description="Inbound prefix filters from IPAM ownership."),
) -> PlainTextResponse:
    """The router's configuration rendered from IPAM and peer data (holds BGP passwords)."""
    r = routers.get_router(session, name)
    renderer = frr.render if format == "frr" else bird.render
    return PlainTextResponse(renderer(r, routers.neighbors(session, r), filters=filters))
