from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, SecretStr

from api.schemas.common import Public, Strict
from fabric.tokens import Role


class TokenCreate(Strict):
    name: str = Field(max_length=64)
    role: Role
    host: str | None = Field(default=None, max_length=64, description="For role agent only.")
    router: str | None = Field(default=None, max_length=64, description="For role router only.")
    token: SecretStr | None = Field(
        default=None, description="Choose the secret (automation, labs); made up when absent."
    )


class TokenPublic(Public):
    name: str
    role: str
    host: str | None
    router: str | None
    created_by: str | None
    created_at: dt.datetime


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret: shown this once, only its hash is stored.")


class AuditPublic(Public):
    id: int
    at: dt.datetime
    token_name: str | None
    role: str | None
    request: str | None
    action: str
    entity: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
