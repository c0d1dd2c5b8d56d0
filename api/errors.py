"""The one place where errors become HTTP answers: ``{"code": ..., "detail": ...}``.

Validation errors never echo the submitted values (a password could be among them).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fabric.errors import (
    Conflict,
    FabricError,
    Forbidden,
    InvalidInput,
    NotFound,
    SchemaMismatch,
    Unauthenticated,
)

log = logging.getLogger(__name__)

STATUS = (
    (NotFound, 404), (Conflict, 409), (InvalidInput, 422), (SchemaMismatch, 503),
    (Unauthenticated, 401), (Forbidden, 403),
)  # fmt: skip


def status_of(exc: FabricError) -> int:
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 400)


def body(code: str, detail: str, status: int, **extra: object) -> JSONResponse:
    return JSONResponse({"code": code, "detail": detail, **extra}, status_code=status)


def _describe(err: dict[str, object]) -> dict[str, object]:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")  # type: ignore[attr-defined]
    return {"field": loc, "problem": err.get("msg"), "type": err.get("type")}


async def on_fabric_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FabricError)
    return body(exc.code, exc.detail, status_of(exc))


async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_describe(e) for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in errors):
        return body("malformed_json", "The request body is not valid JSON.", 400)
    summary = "; ".join(f"{e['field'] or 'body'}: {e['problem']}" for e in errors[:5])
    return body("invalid_request", f"The request is not valid: {summary}.", 422, errors=errors)


async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    return body(codes.get(exc.status_code, "http_error"), str(exc.detail), exc.status_code)


async def on_integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # Only reachable if a check above the database missed a race; the
    # constraint held and nothing was written.
    log.warning("integrity error: %s", type(exc).__name__)
    return body("constraint_violation", "The change conflicts with existing data.", 409)


async def on_operational_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", exc.__class__.__name__)
    return body("database_unavailable", "The database is unavailable; retry shortly.", 503)


def install(app: FastAPI) -> None:
    app.add_exception_handler(FabricError, on_fabric_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(OperationalError, on_operational_error)
