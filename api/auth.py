"""Authentication and authorization of every request, from one policy table.

Every route needs a token except the health check and the API description.
The permission an endpoint needs is looked up by (method, route template):
reads need ``read``, other methods ``admin``, unless the table says otherwise.
The agent's endpoints carry the host in the path, which the agent's token
must be bound to; tor-sync's carry the router, which its token must be bound
to. Known tokens are cached for a few seconds (a revoked token
may work for up to ``CACHE_SECONDS`` more); a request never waits on a
writer for this lookup.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from fabric import tokens
from fabric.store.database import Database
from fabric.tokens import (
    ADMIN,
    ALLOCATE,
    HOST_READ,
    HOST_REPORT,
    HOST_SECRET,
    READ,
    ROUTER_CONFIG,
    ROUTER_REPORT,
    Principal,
)

OPEN = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
POLICY: dict[tuple[str, str], str] = {
    ("GET", "/v1/hosts/{name}/speaker"): HOST_SECRET,  # holds the peers' passwords
    ("GET", "/v1/hosts/{name}/advertisements"): HOST_READ,
    ("GET", "/v1/hosts/{name}/peers"): HOST_READ,
    ("PUT", "/v1/hosts/{name}/peers/status"): HOST_REPORT,
    ("PUT", "/v1/hosts/{name}/routes"): HOST_REPORT,
    ("POST", "/v1/allocations"): ALLOCATE,
    ("POST", "/v1/allocations/release"): ALLOCATE,
    ("DELETE", "/v1/allocations/{address}"): ALLOCATE,
    ("POST", "/v1/ipam/gc"): ALLOCATE,
    ("GET", "/v1/routers/{name}/config"): ROUTER_CONFIG,  # holds BGP passwords
    ("PUT", "/v1/routers/{name}/applied"): ROUTER_REPORT,
    ("GET", "/v1/tokens"): ADMIN,
}
OWN = {  # what the description adds for a permission a bound token holds for its own only
    "host": " (an agent token only for its own host)",
    "router": " (a router token only for its own router)",
}
CACHE_SECONDS = 5.0
BEARER = "bearer"  # the security scheme's name in the OpenAPI description
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}


def permission_for(method: str, path: str) -> str:
    return POLICY.get((method, path), READ if method in ("GET", "HEAD") else ADMIN)


class TokenCache:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[str, tuple[Principal, float]] = {}

    def _lookup(self, secret: str | None) -> Principal:
        with self.db.read() as session:
            return tokens.authenticate(session, secret)

    async def principal(self, secret: str | None) -> Principal:
        key = tokens.digest(secret or "")
        hit = self._known.get(key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        principal = await run_in_threadpool(self._lookup, secret)
        if len(self._known) > 10_000:  # bounded: a flood of bad tokens is never cached anyway
            self._known.clear()
        self._known[key] = (principal, time.monotonic() + CACHE_SECONDS)
        return principal

    def forget(self) -> None:
        self._known.clear()


def bearer(request: Request) -> str | None:
    """The Authorization header; for reads also the status page's cookie (never for changes,
    so a cross-site request riding on the cookie can change nothing)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method in ("GET", "HEAD"):
        if request.url.path == "/ui" and request.query_params.get("token"):
            return request.query_params["token"]
        return request.cookies.get("fabric_token")
    return None


async def authorize(request: Request) -> None:
    """The app-wide dependency: 401 without a valid token, 403 when its role or host may not."""
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    if path in OPEN:
        return
    cache: TokenCache = request.app.state.tokens
    principal = await cache.principal(bearer(request))
    name = request.path_params.get("name")
    host = name if path.startswith("/v1/hosts/{name}") else None
    router = name if path.startswith("/v1/routers/{name}") else None
    tokens.authorize(principal, permission_for(request.method, path), host, router)
    request.state.principal = principal


def describe_security(schema: dict[str, Any]) -> dict[str, Any]:
    """The policy table in the OpenAPI description: a bearer scheme (so /docs has its Authorize
    button and generated clients send the token), and on each operation the permission it
    needs and the roles that hold it; the open routes say they need nothing."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (fabricctl token create); its role decides what it may do.",
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method.upper() not in HTTP_METHODS:
                continue
            if path in OPEN:
                operation["security"] = []
                continue
            needed = permission_for(method.upper(), path)
            roles = [r for r in tokens.ROLES if needed in tokens.GRANTS[r]]
            operation["security"] = [{BEARER: []}]
            operation["x-fabric-permission"] = needed
            own = OWN.get(needed.partition(":")[0], "")  # "host:read" → "host"; "read" → none
            note = f"Needs `{needed}`: roles {', '.join(roles)}{own}."
            before = operation.get("description", "").rstrip()
            operation["description"] = f"{before}\n\n{note}".strip()
    return schema
