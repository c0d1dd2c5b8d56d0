"""SQLite's WAL checkpoints in a thread of their own, off the writer's path.

SQLite checkpoints automatically in whichever connection commits the write that
takes the WAL past 1,000 pages: that commit then copies the WAL into the database
and fsyncs it: on the API's writer the slowest 1 % of commits were checkpoints, stalls
every request of the batch waits through (bench/README.md: measured choices). The API
turns automatic checkpoints off on its writer connection and runs this instead: a
``PASSIVE`` checkpoint every ``interval`` seconds from its own connection, which never
blocks the writer or the readers (it copies what no reader still needs; the next
one takes the rest). Other processes on the same file keep SQLite's default.
"""

from __future__ import annotations

import logging
import sqlite3

from fabric.store.periodic import Periodic

log = logging.getLogger(__name__)


class WalCheckpointer(Periodic):
    """A ``PASSIVE`` checkpoint every ``interval`` seconds; the last one runs before ``stop()``
    returns."""

    def __init__(self, path: str, interval: float = 1.0) -> None:
        super().__init__("wal-checkpoint", interval)
        self.path = path

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30)  # this thread's alone
        try:
            while True:
                stopping = self._stop.wait(self.interval)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the next round tries again
                    log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
                if stopping:
                    return
        finally:
            conn.close()
