from __future__ import annotations

import datetime as dt

from pydantic import Field

from api.schemas.common import Labels, Public, Strict


class PoolCreate(Strict):
    name: str = Field(max_length=64)
    cidr: str = Field(max_length=64, examples=["10.244.0.0/16"])
    block_size: int | None = Field(
        default=None, ge=0, le=128, description="Block prefix length (default /26 v4, /122 v6)."
    )
    selector: Labels = Field(default_factory=dict, description="Host labels a host must carry.")
    reserved: list[str] = Field(default_factory=list, max_length=256)
    strict_affinity: bool = False
    disabled: bool = False


class PoolUpdate(Strict):
    disabled: bool | None = None
    strict_affinity: bool | None = None
    selector: Labels | None = None


class PoolPublic(Public):
    name: str
    cidr: str
    family: int
    block_size: int = Field(validation_alias="block_prefix")
    selector: Labels
    reserved: list[str]
    strict_affinity: bool
    disabled: bool
    created_at: dt.datetime


class HostUsagePublic(Public):
    host: str | None
    blocks: int
    allocated: int


class PoolUsagePublic(Public):
    pool: PoolPublic
    total: int
    allocated: int
    free: int
    blocks_claimed: int
    borrowed: int
    by_host: list[HostUsagePublic]
