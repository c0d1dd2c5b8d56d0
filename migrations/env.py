"""Alembic environment: the URL comes from fabric.store.migrate (or FABRIC_DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from fabric.models import Base
from fabric.settings import Settings
from fabric.store.database import normalize_url

config = context.config
url = config.attributes.get("url") or Settings().database_url
connection = config.attributes.get("connection")


def run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things in place
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
