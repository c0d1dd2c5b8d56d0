from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session

from api.deps import ReadSession, in_write_transaction, principal_of, request_label
from api.group_commit import Together
from api.lean_route import LeanRoutes
from api.metrics import timed
from api.schemas.allocations import (
    AllocationCreate,
    AllocationPublic,
    AllocationResult,
    ReleaseRequest,
    ReleaseResult,
)
from fabric.ipam import plan, queries, release
from fabric.models import Allocation
from fabric.revisions import touches
from fabric.store import ipam_fast, ipam_writes, speed_layers
from fabric.store.database import Database
from fabric.validation import check_handle, validate_attributes

router = APIRouter(prefix="/v1/allocations", tags=["allocations"])
# The orchestrators' hottest calls (allocate; release by handle): api/lean_route.py.
lean = LeanRoutes(prefix="/v1/allocations", tags=["allocations"])


def public(rows: list[Allocation]) -> list[AllocationPublic]:
    return [AllocationPublic.model_validate(queries.describe(r)) for r in rows]


Outcome = tuple[list[dict[str, Any]], bool]  # the allocations described, and whether new


def _allocate_together(session: Session, requests: list[plan.Request]) -> list[Outcome | None]:
    described = ipam_fast.allocate_many(session, requests)
    return [None if rows is None else (rows, True) for rows in described]


def _allocate_at_once(
    db: Database, requests: list[plan.Request]
) -> tuple[list[Outcome], int] | None:
    got = ipam_fast.allocate_at_once(db.write_engine, requests)
    return None if got is None else ([(rows, True) for rows in got[0]], got[1])


def _together(body: AllocationCreate, request: Request) -> Together | None:
    """The common case (one family, no address asked for), served with the others queued
    with it (``api.group_commit``); validated here, as the allocator would."""
    if body.address is not None or body.pools or body.family not in ("4", "6"):
        return None
    if not speed_layers.on("core"):  # measuring: the ORM path for all (speed_layers)
        return None
    check_handle(body.handle)
    attrs = validate_attributes(body.attributes)
    ask = plan.Request(body.host, body.handle, int(body.family), attrs,
                            principal_of(request), request_label(request))  # fmt: skip
    return Together(_allocate_together, ask, _allocate_at_once)


@lean.post("", status_code=status.HTTP_201_CREATED, response_model=AllocationResult)
async def allocate(body: AllocationCreate, request: Request) -> Response:
    """Allocate an address (or one per family) for a handle on a host.

    Idempotent per handle: asking again returns the same address with 200.
    409 ``pool_exhausted`` when the host can get no address.
    """

    def work(session: Session) -> Outcome:
        before = touches(session)  # the transaction may be shared with other allocations
        rows = ipam_writes.allocate_described(session, **body.model_dump())
        return rows, touches(session) > before

    with timed(request, "allocation"):
        rows, created = await in_write_transaction(request, work, _together(body, request))
    result = AllocationResult(
        host=body.host, handle=body.handle, created=created,
        allocations=[AllocationPublic.model_validate(r) for r in rows],
    )  # fmt: skip
    # The answer serialized here, once: FastAPI would check the model again, then serialize
    # it, then copy a status code over from a Response of its own.
    return Response(
        result.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.get("")
def list_allocations(
    session: ReadSession,
    host: str | None = None,
    pool: str | None = None,
    handle: str | None = None,
    limit: int = Query(default=1000, ge=1, le=10000),
    offset: int = Query(default=0, ge=0, le=2**31 - 1),  # SQLite integers are 64-bit
) -> list[AllocationPublic]:
    return public(
        queries.list_allocations(
            session, host=host, pool=pool, handle=handle, limit=limit, offset=offset
        )
    )


@router.get("/{address}")
def get_allocation(address: str, session: ReadSession) -> AllocationPublic:
    """The owner of an address: host, handle, block, pool, attributes."""
    return public([queries.owner_of(session, address)])[0]


def _released(described: list[list[dict[str, Any]]]) -> list[list[AllocationPublic]]:
    return [[AllocationPublic.model_validate(d) for d in each] for each in described]


def _release_together(
    session: Session, asks: list[plan.Release]
) -> list[list[AllocationPublic] | None]:
    return list(_released(ipam_fast.release_many(session, asks)))


def _release_at_once(
    db: Database, asks: list[plan.Release]
) -> tuple[list[list[AllocationPublic]], int | None] | None:
    got = ipam_fast.release_at_once(db.write_engine, asks)
    return None if got is None else (_released(got[0]), got[1])


@lean.post("/release", response_model=ReleaseResult)
async def release_allocations(body: ReleaseRequest, request: Request) -> ReleaseResult:
    """Release by handle (all families or one) or by address; idempotent."""

    def work(session: Session) -> list[AllocationPublic]:
        return public(release.release(session, **body.model_dump()))

    together = None
    if body.handle is not None and body.address is None and speed_layers.on("core"):
        # the common case: served together
        principal = principal_of(request)
        ask = plan.Release(body.handle, body.family, principal, request_label(request))
        together = Together(_release_together, ask, _release_at_once)
    with timed(request, "release"):
        return ReleaseResult(released=await in_write_transaction(request, work, together))


@router.delete("/{address}")
async def release_address(
    address: str,
    request: Request,
    handle: str | None = None,
) -> ReleaseResult:
    """Release one address; with ``handle``, only if that handle still owns it."""

    def work(session: Session) -> list[AllocationPublic]:
        return public(release.release(session, address=address, handle=handle))

    with timed(request, "release"):
        return ReleaseResult(released=await in_write_transaction(request, work))
