"""The app factory: settings in, FastAPI app out (no import-time singletons)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import fabric
from api import errors
from api.revisions import RevisionHub
from api.routes import allocations, health, hosts, ipam, peers, pools, routers
from fabric import migrate
from fabric.db import Database
from fabric.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    db = Database(settings.database_url)
    hub = RevisionHub(db, settings.revision_poll_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        head = await run_in_threadpool(migrate.upgrade, db.write_engine, db.url)
        log.info("database schema at revision %s (%s)", head, db.backend)
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            db.dispose()

    app = FastAPI(
        title="routed-fabric",
        version=fabric.__version__,
        summary="IPAM and BGP peerings of a routed container fabric.",
        lifespan=lifespan,
        # Stable operation ids (the route's function name) for generated clients.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.hub = hub
    errors.install(app)
    for module in (health, pools, hosts, allocations, peers, ipam, routers):
        app.include_router(module.router)
    return app
