"""Dependencies: one transaction per request, writes serialized (``fabric.db``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.revisions import RevisionHub
from fabric.db import Database
from fabric.settings import Settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_hub(request: Request) -> RevisionHub:
    hub: RevisionHub = request.app.state.hub
    return hub


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def write_session(request: Request) -> Iterator[Session]:
    """A serialized write transaction; committed before the response is sent."""
    db = get_db(request)
    with db.write() as session:
        # Who and what, for the audit log (fabric/audit.py).
        session.info["principal"] = getattr(request.state, "principal", None)
        session.info["request"] = f"{request.method} {request.url.path}"[:255]
        yield session
    if "revision" in session.info:
        get_hub(request).kick_threadsafe()


def read_session(request: Request) -> Iterator[Session]:
    with get_db(request).read() as session:
        yield session


WriteSession = Annotated[Session, Depends(write_session)]
ReadSession = Annotated[Session, Depends(read_session)]
HubDep = Annotated[RevisionHub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
