"""API tokens and what each role may do.

Roles: ``admin`` (everything), ``orchestrator`` (allocations and reads),
``agent`` (bound to one host: that host's peers, speaker and advertisements,
and reporting its status; nothing else), ``router`` (bound to one router: its
rendered configuration and reporting what it applied, which is all tor-sync
needs; nothing else), ``viewer`` (reads, never a secret).
A token is shown once when created; only its SHA-256 is stored: tokens are 256
random bits, so a fast hash is enough (no password-style stretching needed).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabric.errors import AlreadyExists, Forbidden, InvalidInput, Unauthenticated
from fabric.hosts import get_host
from fabric.models import ApiToken
from fabric.named import by_name
from fabric.routers import get_router
from fabric.validation import validate_name

# The one list of roles: the API's schema takes the Literal (OpenAPI shows the choices).
Role = Literal["admin", "orchestrator", "agent", "router", "viewer"]
ROLES: tuple[str, ...] = get_args(Role)
PREFIX = "rft_"
MIN_SECRET = 24  # a caller-chosen token (bootstrap, labs) must still be hard to guess

# Permissions an endpoint can require (api/auth.py maps routes to them).
READ, ALLOCATE, ADMIN = "read", "allocate", "admin"
HOST_READ, HOST_SECRET, HOST_REPORT = "host:read", "host:secret", "host:report"
ROUTER_CONFIG, ROUTER_REPORT = "router:config", "router:report"
GRANTS: dict[str, set[str]] = {
    "admin": {READ, ALLOCATE, ADMIN, HOST_READ, HOST_SECRET, HOST_REPORT, ROUTER_CONFIG,
              ROUTER_REPORT},  # fmt: skip
    "orchestrator": {READ, ALLOCATE, HOST_READ},
    "viewer": {READ, HOST_READ},
    "agent": {HOST_READ, HOST_SECRET, HOST_REPORT},  # only for its own host
    "router": {ROUTER_CONFIG, ROUTER_REPORT},  # only for its own router
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    host: str | None = None
    router: str | None = None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def create_token(
    session: Session,
    *,
    name: str,
    role: str,
    host: str | None = None,
    router: str | None = None,
    secret: str | None = None,
    created_by: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret (shown once). Raises: InvalidInput, NotFound, AlreadyExists."""
    validate_name("Token", name)
    if role not in ROLES:
        raise InvalidInput(f"Role {role!r} is not one of {', '.join(ROLES)}.", code="invalid_role")
    if (role == "agent") != (host is not None):
        raise InvalidInput(
            "An agent token is bound to exactly one host; other roles take no host.",
            code="invalid_token_host",
        )
    if (role == "router") != (router is not None):
        raise InvalidInput(
            "A router token is bound to exactly one router; other roles take no router.",
            code="invalid_token_router",
        )
    if secret is not None and (len(secret) < MIN_SECRET or not secret.isprintable()):
        raise InvalidInput(
            f"A chosen token must be at least {MIN_SECRET} printable characters.",
            code="invalid_token_secret",
        )
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise AlreadyExists(f"Token {name!r} already exists.", code="token_exists")
    value = secret or new_secret()
    if session.scalar(select(ApiToken.id).where(ApiToken.token_hash == digest(value))):
        raise AlreadyExists("That token value is already in use.", code="token_exists")
    token = ApiToken(
        name=name,
        role=role,
        host_id=get_host(session, host).id if host else None,
        router_id=get_router(session, router).id if router else None,
        token_hash=digest(value),
        created_by=created_by,
    )
    session.add(token)
    session.flush()
    return token, value


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def delete_token(session: Session, name: str) -> None:
    session.delete(by_name(session, ApiToken, name, "token"))
    session.flush()


def bootstrap(session: Session, secret: str | None) -> str | None:
    """On a database without tokens, create the first admin token; its secret, or None."""
    if session.scalar(select(ApiToken.id).limit(1)) is not None:
        return None
    _, value = create_token(
        session, name="admin", role="admin", secret=secret, created_by="bootstrap"
    )
    return value


def authenticate(session: Session, secret: str | None) -> Principal:
    if not secret:
        raise Unauthenticated(
            "This API needs a bearer token (Authorization: Bearer …).", code="token_missing"
        )
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if token is None:
        raise Unauthenticated("The token is not valid (unknown or revoked).", code="token_invalid")
    return Principal(
        token.name,
        token.role,
        token.host.name if token.host else None,
        token.router.name if token.router else None,
    )


def authorize(
    principal: Principal, permission: str, host: str | None = None, router: str | None = None
) -> None:
    """Raise Forbidden unless ``principal`` may use ``permission`` (on ``host``'s or
    ``router``'s resources)."""
    if permission not in GRANTS[principal.role]:
        raise Forbidden(
            f"Role {principal.role} may not do this (it needs {permission}).",
            code="forbidden_role",
        )
    if principal.role == "agent" and host != principal.host:
        raise Forbidden(
            f"This agent token is bound to host {principal.host}.", code="forbidden_host"
        )
    if principal.role == "router" and router != principal.router:
        raise Forbidden(
            f"This router token is bound to router {principal.router}.", code="forbidden_router"
        )
