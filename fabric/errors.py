"""The one exception tree of routed-fabric. Every error has a stable ``code``.

    FabricError
    ├── NotFound                  (api: 404)
    ├── Conflict                  (api: 409)
    │   ├── AlreadyExists
    │   ├── InUse                 refused while something still depends on it
    │   ├── AddressInUse
    │   ├── PoolExhausted
    │   └── PoolOverlap
    ├── InvalidInput              (api: 400/422)
    └── SchemaMismatch            the database is newer than this code

The API maps them once (``api/errors.py``); routes never build HTTP errors for
them. Messages are full sentences meant for a person and never carry secrets.
"""

from __future__ import annotations

from typing import Any


class FabricError(Exception):
    code = "fabric_error"

    def __init__(self, detail: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.context = context


class NotFound(FabricError):
    code = "not_found"


class Conflict(FabricError):
    code = "conflict"


class AlreadyExists(Conflict):
    code = "already_exists"


class InUse(Conflict):
    code = "in_use"


class AddressInUse(Conflict):
    code = "address_in_use"


class PoolExhausted(Conflict):
    code = "pool_exhausted"


class PoolOverlap(Conflict):
    code = "pool_overlap"


class InvalidInput(FabricError):
    code = "invalid_input"


class SchemaMismatch(FabricError):
    code = "schema_mismatch"


class Unauthenticated(FabricError):
    """No token, or one the controller does not know (401)."""

    code = "unauthenticated"


class Forbidden(FabricError):
    """A valid token whose role or host does not allow this (403)."""

    code = "forbidden"
