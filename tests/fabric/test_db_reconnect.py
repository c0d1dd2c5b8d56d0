"""PostgreSQL connections that die while pooled are replaced before use; one that dies while
in use fails its transaction once, and the pool is renewed behind it."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

import fabric.store.database
from fabric import pools
from fabric.store.database import Database

pytestmark = pytest.mark.postgres


def kill_other_connections(url: str) -> None:
    """Every other session of the test's database ended by PostgreSQL, as a restart would."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    others = "datname = current_database() AND pid <> pg_backend_pid()"
    with engine.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {others}"))
        deadline = time.monotonic() + 10
        while conn.execute(text(f"SELECT count(*) FROM pg_stat_activity WHERE {others}")).scalar():
            assert time.monotonic() < deadline, "sessions still alive"
            time.sleep(0.02)
    engine.dispose()


def create_pool(db: Database, name: str, cidr: str) -> None:
    with db.write() as s:
        pools.create_pool(s, name=name, cidr=cidr, block_size=26)


def test_a_connection_that_died_in_the_pool_is_replaced_unnoticed(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fabric.store.database, "IDLE_PING_SECONDS", 0.05)
    db = Database(postgres_url)
    try:
        create_pool(db, "a", "10.1.0.0/24")
        time.sleep(0.1)  # idle in the pool past the ping threshold
        kill_other_connections(db.url)
        create_pool(db, "b", "10.2.0.0/24")  # pinged at checkout, found dead, replaced
    finally:
        db.dispose()


def test_a_connection_that_died_in_use_fails_once_and_the_next_transaction_works(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)  # the default threshold: just used, so not pinged
    try:
        create_pool(db, "a", "10.1.0.0/24")
        kill_other_connections(db.url)
        with pytest.raises(OperationalError):
            create_pool(db, "b", "10.2.0.0/24")
        create_pool(db, "b", "10.2.0.0/24")
        with db.read() as s:
            assert [p.name for p in pools.list_pools(s)] == ["a", "b"]
    finally:
        db.dispose()
