"""The app factory: settings in, FastAPI app out (no import-time singletons)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.concurrency import run_in_threadpool

import fabric
from api import errors, ui
from api.auth import TokenCache, authorize, describe_security
from api.group_commit import GroupCommit
from api.limits import BodyLimit
from api.metrics import ApiMetrics
from api.metrics import router as metrics_router
from api.revisions import RevisionHub
from api.routes import (
    allocations,
    announced,
    health,
    hosts,
    ipam,
    peers,
    pools,
    routers,
    tokens,
)
from fabric import tokens as fabric_tokens
from fabric.settings import Settings
from fabric.store import migrate
from fabric.store.database import Database

log = logging.getLogger(__name__)
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _bootstrap_admin(db: Database, settings: Settings) -> None:
    chosen = settings.bootstrap_token.get_secret_value() if settings.bootstrap_token else None
    with db.write() as session:
        secret = fabric_tokens.bootstrap(session, chosen)
    if secret and not chosen:
        # Printed once, to the console of whoever started the first server; never logged.
        print(
            "\nrouted-fabric: created the first admin token (shown this once, keep it):\n"
            f"  export FABRIC_TOKEN={secret}\n",
            file=sys.stderr, flush=True,
        )  # fmt: skip


def _lifespan(
    db: Database, hub: RevisionHub, settings: Settings
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The server's start (migrations, the first admin token, the revision hub) and its end."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        head = await run_in_threadpool(migrate.upgrade, db.write_engine, db.url)
        log.info("database schema at revision %s (%s)", head, db.backend)
        await run_in_threadpool(_bootstrap_admin, db, settings)
        await hub.start()
        # What is alive now lives as long as the server: out of the collector's sight, so
        # its full collections stop walking it (bench/README.md: measured choices).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await hub.stop()
            db.dispose()

    return lifespan


def create_app(settings: Settings) -> FastAPI:
    # Upkeep in a thread of its own: SQLite's WAL checkpoints, not by a batch of allocations;
    # PostgreSQL's statistics of the allocations, fresh from the first minute.
    db = Database(settings.database_url, upkeep_every=1.0)
    hub = RevisionHub(db, settings.revision_poll_seconds)
    app = FastAPI(
        title="routed-fabric",
        version=fabric.__version__,
        summary="IPAM and BGP peerings of a routed container fabric.",
        lifespan=_lifespan(db, hub, settings),
        # Stable operation ids (the route's function name) for generated clients.
        generate_unique_id_function=lambda route: route.name,
        # Every route needs a token (api/auth.py), except health and the API description.
        dependencies=[Depends(authorize)],
        responses=errors.ERROR_RESPONSES,
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.state.settings = settings
    app.state.db = db
    app.state.hub = hub
    app.state.write_gate = asyncio.Lock()  # api/deps.py: write_session
    app.state.metrics = ApiMetrics(db, hub)
    app.state.group_commit = GroupCommit(db, app.state.write_gate, hub, app.state.metrics)
    app.state.tokens = TokenCache(db)
    errors.install(app)
    # Routes are matched in this order: the hottest first (the orchestrators' allocations,
    # then health), since each route tried before the right one costs time, an included
    # router tried in vain most (bench/README.md: measured choices).
    allocations.lean.mount(app)
    for module in (health, allocations, pools, hosts, peers, ipam, routers, tokens, announced):
        app.include_router(module.router)
    app.include_router(metrics_router)
    app.include_router(ui.router)
    _describe_security(app)
    return app


def _describe_security(app: FastAPI) -> None:
    """The OpenAPI description with the bearer scheme and each route's permission, built
    once, when first asked for (``api.auth.describe_security``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        schema = build()
        return describe_security(schema) if first else schema

    app.openapi = openapi  # type: ignore[method-assign]
