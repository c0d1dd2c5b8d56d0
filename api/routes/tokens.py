"""API tokens (admin only) and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, status

from api.deps import ReadSession, WriteSession
from api.schemas.tokens import AuditPublic, TokenCreate, TokenCreated, TokenPublic
from fabric import audit, tokens
from fabric.models import ApiToken

router = APIRouter(tags=["access"])


def token_public(t: ApiToken) -> dict[str, object]:
    return {
        "name": t.name, "role": t.role, "host": t.host.name if t.host else None,
        "router": t.router.name if t.router else None,
        "created_by": t.created_by, "created_at": t.created_at,
    }  # fmt: skip


@router.post("/v1/tokens", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, session: WriteSession, request: Request) -> TokenCreated:
    """A new token; its secret is in this answer only."""
    who = getattr(request.state, "principal", None)
    token, secret = tokens.create_token(
        session, name=body.name, role=body.role, host=body.host, router=body.router,
        secret=body.token.get_secret_value() if body.token else None,
        created_by=getattr(who, "name", None),
    )  # fmt: skip
    return TokenCreated.model_validate({**token_public(token), "token": secret})


@router.get("/v1/tokens")
def list_tokens(session: ReadSession) -> list[TokenPublic]:
    return [TokenPublic.model_validate(token_public(t)) for t in tokens.list_tokens(session)]


@router.delete("/v1/tokens/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_token(name: str, session: WriteSession, request: Request) -> None:
    tokens.delete_token(session, name)
    request.app.state.tokens.forget()  # revoked now, not after the cache's few seconds


@router.get("/v1/audit")
def list_audit(
    session: ReadSession,
    limit: int = Query(default=100, ge=1, le=1000),
    key: str | None = Query(default=None, max_length=128, description="e.g. peers/tor-h1"),
    token: str | None = Query(default=None, max_length=64),
) -> list[AuditPublic]:
    """Changes, newest first: who, which token, what, when, before and after (no secrets)."""
    return [
        AuditPublic.model_validate(e, from_attributes=True)
        for e in audit.entries(session, limit=limit, key=key, token=token)
    ]
