"""Schema migrations, run by the server on start (and by ``fabricctl db upgrade``).

The server refuses to start on a database whose schema is newer than the
migrations it knows: an old replica must never write into a newer schema.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from fabric.errors import SchemaMismatch

MIGRATION_LOCK = 0x72665F6D  # "rf_m": an advisory lock key of our own


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    cfg.attributes["url"] = url
    return cfg


def database_heads(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def upgrade(engine: Engine, url: str) -> str:
    """Bring the schema to the newest revision; returns it.

    Raises:
        SchemaMismatch: the database carries a revision these migrations do not know.
    """
    cfg = alembic_config(url)
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = database_heads(engine) - known
    if unknown:
        raise SchemaMismatch(
            f"The database schema is at revision {', '.join(sorted(unknown))}, newer than "
            "this version of routed-fabric knows; upgrade routed-fabric instead.",
        )
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait and find it done.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    head = script.get_current_head()
    return head or ""
