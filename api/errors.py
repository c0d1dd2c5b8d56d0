"""The one place where errors become HTTP answers: ``{"code": ..., "detail": ...}``.

Validation errors never echo the submitted values (a password could be among them).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
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
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        # e.g. JSON nested deeper than the parser goes
        return body("malformed_json", "The request body could not be parsed as JSON.", 400)
    return body(codes.get(exc.status_code, "http_error"), str(exc.detail), exc.status_code)


async def on_integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # Only reachable if a check above the database missed a race; the
    # constraint held and nothing was written.
    log.warning("integrity error: %s", type(exc).__name__)
    return body("constraint_violation", "The change conflicts with existing data.", 409)


async def on_unicode_error(_: Request, exc: Exception) -> JSONResponse:
    # JSON can carry lone surrogates ("\ud800") that no database can store; the
    # transaction rolled back, nothing was written.
    return body("invalid_text", "Text must be valid Unicode (no lone surrogates).", 422)


async def on_operational_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", exc.__class__.__name__)
    return body("database_unavailable", "The database is unavailable; retry shortly.", 503)


class FieldProblem(BaseModel):
    field: str
    problem: str | None = None
    type: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: a machine-readable code and a sentence for people."""

    code: str = Field(examples=["pool_exhausted"])
    detail: str
    errors: list[FieldProblem] | None = None


# Documented on every operation, so clients (and schemathesis) know the shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Malformed request"), (401, "No valid token"), (403, "Role or host not allowed"),
        (404, "Not found"), (409, "Conflict with existing data"), (503, "Database unavailable"),
    )
}  # fmt: skip


def document_errors(app: FastAPI) -> None:
    """Our 422 body is ``ErrorBody``, not FastAPI's default; say so in the schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = {"$ref": "#/components/schemas/ErrorBody"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    document_errors(app)
    app.add_exception_handler(FabricError, on_fabric_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(OperationalError, on_operational_error)
    app.add_exception_handler(UnicodeError, on_unicode_error)
