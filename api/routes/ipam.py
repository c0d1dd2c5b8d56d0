from __future__ import annotations

import dataclasses
import datetime as dt

from fastapi import APIRouter

from api.deps import ReadSession, SettingsDep, WriteSession
from api.routes.allocations import public
from api.schemas.ipam import CheckPublic, GcRequest, GcResult
from fabric.ipam import check

router = APIRouter(prefix="/v1/ipam", tags=["ipam"])


@router.get("/check")
def check_ipam(session: ReadSession) -> CheckPublic:
    """Inconsistencies: orphaned allocations and blocks, duplicate handles, wrong counters."""
    report = check.check(session)
    return CheckPublic(ok=report.ok, **dataclasses.asdict(report))


@router.post("/gc")
def gc_ipam(body: GcRequest, session: WriteSession, settings: SettingsDep) -> GcResult:
    """Release the host's allocations whose handles are not listed, once past the grace period.

    The grace period is never shorter than the server's ``gc_min_grace_seconds``.
    """
    grace = body.grace_seconds
    if grace is None:
        grace = settings.gc_default_grace_seconds
    grace = max(grace, settings.gc_min_grace_seconds)
    rows = check.gc(
        session,
        host=body.host,
        keep_handles=set(body.handles),
        grace=dt.timedelta(seconds=grace),
        dry_run=body.dry_run,
        handle_prefix=body.handle_prefix,
    )
    return GcResult(grace_seconds=grace, dry_run=body.dry_run, released=public(rows))
