"""Statistics of the fast-growing tables on PostgreSQL, fresh from the first minute.

psycopg prepares a statement on its fifth use in a connection, and PostgreSQL then settles on a
generic plan made for the table as it was at that moment and keeps it until the table's
statistics change. On a new database that moment comes when ``allocations`` holds a few rows,
where reading the whole table is cheapest: the allocator's handle check and the release by
handle went on reading all of it as it grew, until autovacuum's first ANALYZE (its launcher
looks once a minute; never if it is off), a third of a batch's time at 12,000 rows
(bench/README.md: measured choices). So the API analyzes such a table itself each time it has
doubled in size since its last ANALYZE (about 8 times on the way to 100,000 allocations), which
also has PostgreSQL plan the prepared statements again; autovacuum goes on with its own work.

Growth is read off the table's file size against the pages its last ANALYZE counted
(``pg_class.relpages``), not off the activity counters: those reach ``pg_stat_user_tables``
only seconds after the commits (and showed nothing for the first few thousand rows).
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from fabric.store.periodic import Periodic

log = logging.getLogger(__name__)

TABLES = ("allocations",)
MIN_PAGES = 8  # 64 KiB, ~800 allocations: below this reading the whole table is as cheap

# Doubled since the last ANALYZE (never analyzed: relpages 0), and no longer tiny; the
# tables found by the search path, as the application's own statements find them.
_GROWN = text(
    "SELECT t FROM unnest(CAST(:tables AS text[])) AS t JOIN pg_class c ON c.oid = to_regclass(t) "
    "WHERE pg_relation_size(c.oid) >= current_setting('block_size')::int "
    "* greatest(:least, 2 * c.relpages)"
)


class StatsKeeper(Periodic):
    """Every ``interval`` seconds, ANALYZE those of ``TABLES`` that have doubled in size since
    their last ANALYZE (by any process, autovacuum's included)."""

    def __init__(self, engine: Engine, interval: float = 2.0) -> None:
        super().__init__("pg-stats", interval)
        self.engine = engine
        self.analyzed = 0  # how many ANALYZE ran, for the tests
        self._failed = ""  # the last failure, said once

    def analyze_grown(self) -> list[str]:
        """One round: the tables analyzed."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            asked = {"tables": list(TABLES), "least": MIN_PAGES}
            found = set(conn.execute(_GROWN, asked).scalars())
            grown = [t for t in TABLES if t in found]  # our own names: safe to put in the SQL
            for table in grown:
                conn.exec_driver_sql(f'ANALYZE "{table}"')
        self.analyzed += len(grown)
        return grown

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.analyze_grown()
                self._failed = ""
            except SQLAlchemyError as exc:  # down, or not the table's owner: autovacuum's job
                if str(exc) != self._failed:
                    log.warning("ANALYZE of %s failed: %s", ", ".join(TABLES), exc)
                self._failed = str(exc)
