"""The schema only changes through migrations: the migrated database equals the models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from fabric import peer_status
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


def test_agent_reports_start_from_the_last_session_report(new_database: Callable[[], str]) -> None:
    """0012 keeps a host's report age across the upgrade: each host that had reported
    sessions gets its newest report's time and interval; downgrading drops the table."""
    db = Database(new_database())
    try:
        cfg = migrate.alembic_config(db.url)
        with db.write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")  # a no-op where the database came migrated
            command.downgrade(cfg, "0011")
            conn.execute(text(
                "INSERT INTO hosts (id, name, address, asn, labels, advertise_mode, revision, "
                "created_at) VALUES (1, 'h1', '192.0.2.1', 65001, '{}', 'block', 0, :t)"
            ), {"t": "2026-12-05 10:00:00+00:00"})
            for address, at in (("192.0.2.254", "10:00:05"), ("192.0.2.253", "10:00:09")):
                conn.execute(text(
                    "INSERT INTO peer_status (host_id, peer_address, state, prefixes_sent, "
                    "prefixes_received, updates_sent, updates_received, reported_at, "
                    "report_interval_seconds) VALUES (1, :a, 'established', 0, 0, 0, 0, :t, 2)"
                ), {"a": address, "t": f"2026-12-05 {at}+00:00"})
        migrate.upgrade(db.write_engine, db.url)
        later = dt.datetime(2026, 12, 5, 10, 0, 19, tzinfo=dt.UTC)
        with db.read() as session:
            assert peer_status.report_ages(session, later) == {"h1": 10.0}
        with db.write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0011")
            assert "agent_reports" not in inspect(conn).get_table_names()
    finally:
        db.dispose()
