from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.allocations import AllocationPublic
from api.schemas.common import Public, Strict


class CheckPublic(Public):
    ok: bool
    allocations_without_host: list[dict[str, Any]]
    blocks_of_missing_hosts: list[dict[str, Any]]
    handles_with_several_addresses: list[dict[str, Any]]
    counter_mismatches: list[dict[str, Any]]


class GcRequest(Strict):
    host: str = Field(max_length=64)
    handles: list[str] = Field(
        max_length=100_000, description="Every handle the orchestrator still knows on this host."
    )
    grace_seconds: float | None = Field(
        default=None,
        ge=0,
        le=10 * 365 * 86400,  # ten years: beyond that a timestamp cannot be computed
        description="Only allocations older than this are released.",
    )
    dry_run: bool = False
    handle_prefix: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Only handles that start with this are considered (a CNI network's "
        "``<name>/``): allocations made by others on the host are left alone.",
    )


class GcResult(Public):
    grace_seconds: float
    dry_run: bool
    released: list[AllocationPublic]
