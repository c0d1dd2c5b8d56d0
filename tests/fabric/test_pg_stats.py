"""On PostgreSQL the API analyzes the allocations once they have grown, so the allocator's
lookups by handle use their index from the first minute of a new database."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from fabric import hosts, pools
from fabric.ipam.plan import Request
from fabric.store import migrate
from fabric.store.database import Database
from fabric.store.pg_stats import MIN_PAGES, StatsKeeper
from tests.harness.ipam import allocate_batch

pytestmark = pytest.mark.postgres

# The allocator's handle check as psycopg prepares it, with PostgreSQL's generic plan.
PREPARE = (
    "SET plan_cache_mode = force_generic_plan; "
    "PREPARE held(text, text, text) AS SELECT family FROM allocations WHERE handle IN ($1, $2, $3)"
)
EXPLAIN = "EXPLAIN EXECUTE held('a-1', 'a-2', 'a-3')"


def allocate(db: Database, first: int, count: int) -> None:
    for start in range(first, first + count, 50):
        with db.write() as s:
            asks = [Request(f"h{i % 4}", f"a-{i}", 4, {}) for i in range(start, start + 50)]
            allocate_batch(s, asks)


def pages(conn: Connection) -> int:
    size = conn.exec_driver_sql("SELECT pg_relation_size('allocations') / 8192").scalar_one()
    return int(size)


def plan(conn: Connection) -> str:
    return "\n".join(conn.exec_driver_sql(EXPLAIN).scalars())


def test_allocations_are_analyzed_once_grown_and_the_handle_check_then_uses_its_index(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    keeper = StatsKeeper(db.write_engine)  # its rounds run here, one at a time
    conn = db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        conn.exec_driver_sql("ALTER TABLE allocations SET (autovacuum_enabled = false)")
        with db.write() as s:
            pools.create_pool(s, name="p", cidr="10.0.0.0/16", block_size=24)
            for h in range(4):
                hosts.create_host(s, name=f"h{h}", address=f"192.0.2.{h + 1}", asn=65001)
        allocate(db, 0, 250)
        conn.exec_driver_sql(PREPARE)  # planned for a young table: reading it all is cheapest
        assert "Seq Scan" in plan(conn)
        assert pages(conn) < MIN_PAGES
        assert keeper.analyze_grown() == []  # still tiny

        allocate(db, 250, 2000)
        assert "Seq Scan" in plan(conn)  # the plan is kept as the table grows
        assert keeper.analyze_grown() == ["allocations"]
        assert "ix_allocations_handle_family" in plan(conn)  # planned again, for its size
        assert keeper.analyze_grown() == []  # not again until it has doubled
        allocate(db, 2250, 2500)
        assert keeper.analyze_grown() == ["allocations"]
    finally:
        conn.close()
        db.dispose()


def test_the_api_database_keeps_them_in_a_thread_it_stops(postgres_url: str) -> None:
    db = Database(postgres_url, upkeep_every=0.05)
    migrate.upgrade(db.write_engine, db.url)
    keeper = db.stats_keeper
    assert keeper is not None and keeper.running
    db.dispose()
    assert not keeper.running
    assert Database(postgres_url).stats_keeper is None  # not for a short-lived process
