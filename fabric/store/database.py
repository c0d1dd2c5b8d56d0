"""Engines, sessions and the write lock, for SQLite (embedded) and PostgreSQL.

Every write transaction is serialized fabric-wide, which is what makes "no
address is ever handed out twice" hold across processes and API replicas:

- SQLite: writes begin with ``BEGIN IMMEDIATE`` (the database's write lock is
  taken before the first read, so two allocators never read the same free
  address); reads use a separate engine with plain ``BEGIN`` so that WAL readers
  never queue behind writers.
- PostgreSQL: writes begin with ``SELECT … FROM fabric_state FOR UPDATE``; under
  READ COMMITTED every later statement of the transaction sees all that
  committed before the lock was granted.

The same row carries the revision, so revision order is commit order: an agent
that saw revision R has seen every change up to R. Unique constraints back all
of this up. Domain functions take a ``Session`` and never commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import (
    Engine,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from fabric import audit
from fabric.models import FabricState
from fabric.revisions import BASE_REVISION
from fabric.store import ipam_fast
from fabric.store.pg_stats import StatsKeeper
from fabric.store.wal import WalCheckpointer


def normalize_url(url: str) -> str:
    """Pick our drivers: psycopg 3 for PostgreSQL, the stdlib for SQLite."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(url: str, begin: str, *, autocheckpoint: bool = True) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that our
        # BEGIN below is the one that runs.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        if not autocheckpoint:  # a WalCheckpointer does it (fabric/store/wal.py)
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


# The write lock: the one row every write transaction reads first, FOR UPDATE on PostgreSQL.
_state = cast(Table, FabricState.__table__)
_LOCK = select(_state.c.revision).where(_state.c.id == 1)
_LOCK_PG = _LOCK.with_for_update()


# A pooled connection idle this long is pinged before use (see ``_ping_when_idle``).
IDLE_PING_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a PostgreSQL connection at checkout only if it sat in the pool a while.

    A connection may have died while pooled (PostgreSQL restarted, a proxy's timeout), so it is
    tested before use; SQLAlchemy's ``pool_pre_ping`` does so at every checkout, a round trip
    that cost each write batch under load (bench/README.md: measured choices). The writer's
    connection under load is back in use within milliseconds: if it died meanwhile its
    statement fails, the pool replaces every connection older than that failure, and the group
    commit runs the batch's requests again one by one (``api.group_commit``) on new ones; a
    request alone gets a 503 ``database_unavailable``."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:  # the pool connects anew, and retries
            raise DisconnectionError("pooled connection found dead") from exc


class Database:
    """The controller's database: one writer path, one reader path."""

    def __init__(self, url: str, *, pool_size: int = 10, upkeep_every: float | None = None) -> None:
        """``upkeep_every``: for a long-lived process (the API), which must ``dispose()`` at
        the end: on SQLite, checkpoint the WAL that often from a thread of its own instead of
        in the committing writer (``fabric.store.wal``); on PostgreSQL, see that often whether the
        allocations need fresh statistics (``fabric.store.pg_stats``)."""
        self.url = normalize_url(url)
        self.backend = make_url(self.url).get_backend_name()
        self.checkpointer: WalCheckpointer | None = None
        self.stats_keeper: StatsKeeper | None = None
        if self.backend == "sqlite":
            path = make_url(self.url).database
            background = upkeep_every is not None and path not in (None, "", ":memory:")
            self.write_engine = _sqlite_engine(
                self.url, "BEGIN IMMEDIATE", autocheckpoint=not background
            )
            self.read_engine = _sqlite_engine(self.url, "BEGIN")
            if background:
                assert path is not None and upkeep_every is not None
                self.checkpointer = WalCheckpointer(path, upkeep_every).start()
        else:
            self.write_engine = create_engine(self.url, pool_size=pool_size, max_overflow=pool_size)
            _ping_when_idle(self.write_engine)
            self.read_engine = self.write_engine
            if upkeep_every is not None:
                self.stats_keeper = StatsKeeper(self.write_engine, upkeep_every).start()
        self._writer = sessionmaker(self.write_engine, expire_on_commit=False)
        # What a write session does beside its own statements: log its ORM changes, and once
        # committed, leave known what its IPAM batch wrote.
        audit.audit_sessions(self._writer)
        ipam_fast.remember_on_commit(self._writer)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A serialized write transaction, committed on success, rolled back on error."""
        with self._writer() as session, session.begin():
            lock = _LOCK_PG if self.is_postgres else _LOCK
            # The revision this transaction starts from, read under the lock anyway.
            session.info[BASE_REVISION] = session.connection().execute(lock).scalar()
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self.stats_keeper is not None:
            self.stats_keeper.stop()
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
