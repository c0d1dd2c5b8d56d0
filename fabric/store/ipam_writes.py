"""Where an allocation is written: the common case through the Core fast path
(``fabric.store.ipam_fast``), everything it declines through the ORM allocator
(``fabric.ipam.allocator``), in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fabric.ipam import allocator, queries
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

