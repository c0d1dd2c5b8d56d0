from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from api.schemas.common import Public, Strict


class AllocationCreate(Strict):
    host: str = Field(max_length=64)
    handle: str = Field(max_length=255, description="The orchestrator's id of the workload.")
    family: Literal["4", "6", "dual"] = "4"
    address: str | None = Field(default=None, max_length=64, description="A specific address.")
    attributes: dict[str, str] = Field(default_factory=dict)
    pools: list[str] | None = Field(
        default=None,
        max_length=16,
        description="Take a new address only from these pools (by name); default: any that "
        "matches the host.",
    )


class ReleaseRequest(Strict):
    handle: str | None = Field(default=None, max_length=255)
    address: str | None = Field(default=None, max_length=64)
    family: Literal[4, 6] | None = None


class AllocationPublic(Public):
    address: str
    family: int
    host: str
    handle: str
    block: str
    pool: str
    borrowed: bool
    attributes: dict[str, str]
    created_at: dt.datetime


class AllocationResult(Public):
    host: str
    handle: str
    created: bool
    allocations: list[AllocationPublic]


class ReleaseResult(Public):
    released: list[AllocationPublic]
