"""Pieces shared by the schemas of every resource."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    detail: str = Field(description="What went wrong, for a person.")


Labels = dict[str, str]
ASN = Field(ge=1, le=4294967295, description="Autonomous system number, 1-4294967295.")
