"""Where an allocation is written: the common case through the Core fast path
(``fabric.store.ipam_fast``), everything it declines through the ORM allocator
(``fabric.ipam.allocator``), in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fabric import audit
from fabric.ipam import allocator, plan, queries
from fabric.store import ipam_fast, speed_layers
from fabric.validation import check_handle, validate_attributes


def allocate_described(session: Session, **request: Any) -> list[dict[str, Any]]:
    """``allocator.allocate``, each row described as the API shows it (``queries.describe``);
    the common case (one family, no address or pool asked for) tries the fast path first."""
    family = str(request.get("family", "4"))
    common = request.get("address") is None and not request.get("pools") and family in ("4", "6")
    if common and speed_layers.on("core"):
        handle = request["handle"]
        check_handle(handle)
        attrs = validate_attributes(request.get("attributes") or {})
        described = ipam_fast.allocate(
            session, host=request["host"], handle=handle, family=int(family), attrs=attrs
        )
        if described is not None:
            return described
    return [queries.describe(row) for row in allocator.allocate(session, **request)]


def allocate_batch(
    session: Session, requests: list[plan.Request]
) -> list[list[dict[str, Any]]]:
    """Common-case requests in one transaction, as the API's group commit serves the requests
    that queued together: all through ``ipam_fast.allocate_many``, the ones it declines (a
    claim, a borrow) one by one after, each under its own caller's name. The in-process form
    the IPAM benchmark and tests drive. The first refusal raises."""
    served = ipam_fast.allocate_many(session, requests)
    out = []
    for r, got in zip(requests, served, strict=True):
        if got is None:
            audit.acting_for(session, r.principal, r.label)
            got = allocate_described(
                session, host=r.host, handle=r.handle, family=str(r.family), attributes=r.attrs
            )
        out.append(got)
    return out
