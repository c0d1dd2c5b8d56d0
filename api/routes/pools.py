from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import ReadSession, WriteSession
from api.schemas.pools import PoolCreate, PoolPublic, PoolUpdate, PoolUsagePublic
from fabric import pools

router = APIRouter(prefix="/v1/pools", tags=["pools"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_pool(body: PoolCreate, session: WriteSession) -> PoolPublic:
    return PoolPublic.model_validate(pools.create_pool(session, **body.model_dump()))


@router.get("")
def list_pools(session: ReadSession) -> list[PoolUsagePublic]:
    """Every pool with its usage."""
    return [
        PoolUsagePublic.model_validate(pools.pool_usage(session, p))
        for p in pools.list_pools(session)
    ]


@router.get("/{name}")
def get_pool(name: str, session: ReadSession) -> PoolUsagePublic:
    """One pool with its usage: total, allocated, free, blocks by host."""
    return PoolUsagePublic.model_validate(pools.pool_usage(session, pools.get_pool(session, name)))


@router.patch("/{name}")
def update_pool(name: str, body: PoolUpdate, session: WriteSession) -> PoolPublic:
    """Disable (no new blocks), change strict affinity or the host selector."""
    return PoolPublic.model_validate(
        pools.update_pool(session, name, **body.model_dump(exclude_unset=True))
    )


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_pool(name: str, session: WriteSession) -> None:
    """Refused (409 ``pool_in_use``) while the pool has allocations."""
    pools.delete_pool(session, name)
