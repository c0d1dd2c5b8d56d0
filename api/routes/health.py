from __future__ import annotations

from fastapi import APIRouter

from api.deps import HubDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answers without touching the database."""
    return {"status": "ok"}


@router.get("/v1/revision")
async def get_revision(hub: HubDep) -> dict[str, int]:
    """The newest fabric revision this replica has seen."""
    return {"revision": hub.revision, "waiters": hub.waiters}
