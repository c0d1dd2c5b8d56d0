"""A batch's writes on PostgreSQL as one statement: the allocations inserted (or deleted), the
blocks' fill counters, the revision bumped with its NOTIFY, the hosts touched and the audit
entries, in one round trip.

Why: written statement by statement (SQLite's writer, ``fabric.store.ipam_core``) a batch of 8
allocations took five round trips, and under 16 concurrent clients each answer then waited
for a core and the interpreter lock, shared with the event loop and the clients
(bench/README.md: measured choices). The batch goes as one JSON document,
so the statement's text is the same for every batch size: PostgreSQL prepares it once per
connection and psycopg never parses it again (a multi-row INSERT of 8 rows has 56 parameters,
past psycopg's cache of 50).

What is written is decided in Python, as on SQLite: the rows, their audit entries
(``fabric.audit``), which blocks and hosts. SQL only adds what the database knows: the new
rows' ids in the audit entries, the revision; and it checks what Python may not have read
(``fabric.store.ipam_fast`` reads nothing when it knows the hosts' blocks): a handle held already
makes the statement write nothing. ``write_at_once`` runs it as a transaction of its own, the
write lock and a check of the revision inside it: one round trip for a whole batch.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from fabric.ipam.plan import AllocationPlan, ReleasePlan
from fabric.models import utcnow
from fabric.revisions import NOTIFY_CHANNEL, bumped_revision, loaded_hosts_touched, note_change

# Each CTE runs once, to completion, whether or not the final SELECT reads it. ``rev`` yields
# the revision when the batch may be written (``ok``); otherwise ``r`` is empty, the statement
# writes nothing and returns no row.
_ROWS = """
WITH given AS (SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS r({columns})),
{revision},
r AS (SELECT * FROM given WHERE EXISTS (SELECT FROM rev)),
counts AS (SELECT block_id, count(*) AS n FROM r GROUP BY block_id),
{change},
fill AS (
    UPDATE blocks SET allocated = blocks.allocated {sign} counts.n
    FROM counts WHERE blocks.id = counts.block_id
),
touch AS (
    UPDATE hosts SET revision = (SELECT revision FROM rev)
    WHERE id IN (SELECT host_id FROM r)
),
audit AS (
    INSERT INTO audit_log (at, token_name, role, request, action, entity, key, before, after)
    SELECT CAST(:at AS timestamptz), r.token_name, r.role, r.request, :action, 'allocations',
           r.key, {before}, {after}
    FROM r {audit_join}
)
SELECT revision FROM rev
"""
_WHO = "token_name text, role text, request text, key text"
_BUMP = """rev AS (
    UPDATE fabric_state SET revision = revision + 1 WHERE id = 1 AND {ok}
    RETURNING revision, pg_notify(:channel, CAST(revision AS text))
)"""
# Bumped already this transaction.
_BUMPED = "rev AS (SELECT CAST(:rev AS bigint) AS revision WHERE {ok})"
# Outside any transaction of the caller's, as a statement of its own (``write_at_once``): the
# UPDATE takes the write lock (``fabric.store.database``) and, once granted, checks the
# revision against the row as the last writer left it. Unchanged since ``expected``, no other
# write committed since, so what this statement's snapshot shows of the other tables is
# still the truth.
_AT_ONCE = """rev AS (
    UPDATE fabric_state SET revision = revision + 1
    WHERE id = 1 AND revision = CAST(:expected AS bigint) AND {ok}
    RETURNING revision, pg_notify(:channel, CAST(revision AS text))
)"""

_INSERT = dict(
    columns="address text, family int, block_id int, host_id int, handle text, "
    f"attributes json, created_at timestamptz, after json, {_WHO}",
    # All or nothing: a handle held already (the caller may not have read them) writes none.
    # Looked up by the handles as one array, so through their index: joined to ``given``,
    # whose size the planner cannot know, it scanned the whole table.
    ok="""NOT EXISTS (
    SELECT FROM allocations a WHERE a.handle = ANY (ARRAY(SELECT handle FROM given))
    AND (a.handle, a.family) IN (SELECT handle, family FROM given)
)""",
    change="""ins AS (
    INSERT INTO allocations (address, family, block_id, host_id, handle, attributes, created_at)
    SELECT address, family, block_id, host_id, handle, attributes, created_at FROM r
    RETURNING id, address
)""",
    sign="+",
    before="NULL",
    # The entry's "after" as Python wrote it, with the id the row just got.
    after="CAST(CAST(r.after AS jsonb) || jsonb_build_object('id', ins.id) AS json)",
    audit_join="JOIN ins ON ins.address = r.address",
)
_DELETE = dict(
    columns=f"id int, block_id int, host_id int, before json, {_WHO}",
    ok="TRUE",
    change="gone AS (DELETE FROM allocations WHERE id IN (SELECT id FROM r))",
    sign="-",
    before="r.before",
    after="NULL",
    audit_join="",
)


def _statement(revision: str, parts: dict[str, str]) -> Any:
    """The statement with this ``rev`` CTE; its parameters are found by ``text`` itself, the
    NOTIFY channel filled in."""
    sql = _ROWS.format(revision=revision.format(ok=parts["ok"]), **parts)
    statement = text(sql)
    return statement.bindparams(channel=NOTIFY_CHANNEL) if ":channel" in sql else statement


_REVISIONS = {"bump": _BUMP, "bumped": _BUMPED, "at_once": _AT_ONCE}
_STATEMENTS = {
    action: {kind: _statement(revision, parts) for kind, revision in _REVISIONS.items()}
    for action, parts in (("create", _INSERT), ("delete", _DELETE))
}


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _params(action: str, rows: list[dict[str, Any]], at: str) -> dict[str, Any]:
    return {"rows": json.dumps(rows, default=_iso), "at": at, "action": action}


def _write(session: Session, action: str, rows: list[dict[str, Any]], at: str) -> int | None:
    """Write a batch of allocations (``action`` "create": rows as inserted, each with the
    audit entry's columns and its ``after``) or delete one ("delete": each row's ``id``,
    ``block_id``, ``host_id``, the entry's columns and ``before``); the revision it is in.
    None, and nothing written, if a created row's (handle, family) is held already.

    ``at``: the audit entries' time (ISO). A ``key`` and ``request`` longer than their columns
    are cut by the caller, as ``fabric.audit.entry_by`` does."""
    rev = bumped_revision(session)
    params = _params(action, rows, at)
    if rev is not None:
        params["rev"] = rev
    kind = "bump" if rev is None else "bumped"
    got = session.connection().execute(_STATEMENTS[action][kind], params).scalar()
    if got is None:
        return None
    host_ids = {row["host_id"] for row in rows}
    loaded_hosts_touched(session, host_ids, int(got))
    return note_change(session, int(got))


def write_allocations(session: Session, plan: AllocationPlan) -> int | None:
    """``write`` of an allocation plan: the revision, or None (nothing written) if one of its
    handles is held already."""
    return _write(session, "create", plan.pg_rows(), plan.now.isoformat())


def write_releases(session: Session, plan: ReleasePlan) -> None:
    _write(session, "delete", plan.pg_rows(), utcnow().isoformat())


def write_at_once(
    conn: Connection, action: str, rows: list[dict[str, Any]], at: str, expected: int
) -> int | None:
    """``_write`` as one statement in a transaction of its own (``conn`` on autocommit): one
    round trip for the lock, the checks, the writes and the commit. The new revision; None,
    and nothing written, if the fabric is no longer at revision ``expected`` or (``create``)
    a handle is held already."""
    params = {**_params(action, rows, at), "expected": expected}
    got = conn.execute(_STATEMENTS[action]["at_once"], params).scalar()
    return None if got is None else int(got)
