"""The schema only changes through migrations: the migrated database equals the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from fabric.errors import SchemaMismatch
from fabric.models import Base
from fabric.store import migrate
from fabric.store.database import Database


def test_models_match_migrations(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate.upgrade(db.write_engine, db.url)
        with db.write_engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_upgrade_is_idempotent_and_seeds_the_revision(database_url: str) -> None:
    db = Database(database_url)
    try:
        head = migrate.upgrade(db.write_engine, db.url)
        assert migrate.upgrade(db.write_engine, db.url) == head
        with db.read() as session:
            assert session.execute(text("SELECT revision FROM fabric_state")).scalar_one() == 0
    finally:
        db.dispose()


def test_refuses_a_newer_schema(db: Database) -> None:
    with db.write_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(SchemaMismatch, match="newer"):
        migrate.upgrade(db.write_engine, db.url)
