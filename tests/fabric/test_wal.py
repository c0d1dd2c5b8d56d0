"""The API's WAL checkpoints: its writer never checkpoints, a thread of its own does."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from fabric import pools
from fabric.store import migrate
from fabric.store.database import Database


def pools_in_main_file(path: Path) -> int:
    """Rows as the database file itself holds them, the WAL ignored (``immutable``)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM pools").fetchone()[0])
    except sqlite3.OperationalError:  # not even the schema is in the file yet
        return 0
    finally:
        conn.close()


def test_the_checkpointer_moves_commits_into_the_file_and_the_writer_never_does(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.db"
    db = Database(f"sqlite:///{path}", upkeep_every=0.05)  # fast, for the test
    try:
        assert db.checkpointer is not None and db.checkpointer.running
        migrate.upgrade(db.write_engine, db.url)
        with db.write() as s:
            assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
        with db.read() as s:  # readers keep SQLite's default: they never commit a write
            assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 1000
        for i in range(3):
            with db.write() as s:
                pools.create_pool(s, name=f"p{i}", cidr=f"10.{i}.0.0/16", block_size=26)
        deadline = time.monotonic() + 10
        while pools_in_main_file(path) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pools_in_main_file(path) == 3
    finally:
        db.dispose()
    assert db.checkpointer is not None and not db.checkpointer.running


def test_without_it_the_writer_checkpoints_as_sqlite_does(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'f.db'}")
    try:
        assert db.checkpointer is None
        migrate.upgrade(db.write_engine, db.url)
        with db.write() as s:
            assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 1000
    finally:
        db.dispose()
