"""The fabric's revision: one counter, bumped once per write transaction, that orders changes.

Every write transaction locks the single ``fabric_state`` row (``fabric.store.database``) and
bumps the revision it carries, so revision order is commit order: an agent that saw revision R
has seen every change up to R. The hosts a change concerns carry its revision too, which is how
an agent's long-poll knows its own desired state moved. These functions take the write
transaction's ``Session`` and never commit.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import String, Table, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from fabric.models import FabricState, Host

NOTIFY_CHANNEL = "fabric_revision"

# Core statements built once, run on the session's connection: on the allocation hot
# path the ORM's statement building and bookkeeping cost more than the statements.
_state = cast(Table, FabricState.__table__)
_hosts = cast(Table, Host.__table__)
_BUMP = (
    update(_state)
    .where(_state.c.id == 1)
    .values(revision=_state.c.revision + 1)
    .returning(_state.c.revision)
)
# PostgreSQL: the NOTIFY sent by the bump itself, one round trip for both.
_BUMP_PG = _BUMP.returning(
    func.pg_notify(NOTIFY_CHANNEL, _state.c.revision.cast(String)).label("notified")
)
# session.info key of a write transaction: the committed revision it began from.
BASE_REVISION = "base_revision"
_TOUCH_ALL = update(_hosts).values(revision=bindparam("rev"))
_TOUCH = _TOUCH_ALL.where(_hosts.c.id.in_(bindparam("ids", expanding=True)))



def current_revision(session: Session) -> int:
    rev = session.scalar(select(FabricState.revision).where(FabricState.id == 1))
    return int(rev or 0)


def bump_revision(session: Session) -> int:
    """The revision of this transaction's change, bumped once per transaction.

    On PostgreSQL the NOTIFY is queued in the same transaction, so the other
    replicas hear of it exactly when the change becomes visible.
    """
    rev = bumped_revision(session)
    if rev is not None:
        return note_change(session, rev)
    conn = session.connection()
    rev = conn.scalar(_BUMP_PG if conn.dialect.name == "postgresql" else _BUMP)
    if rev is None:
        raise RuntimeError("fabric_state row missing: run the migrations")
    return note_change(session, int(rev))


def bumped_revision(session: Session) -> int | None:
    """The revision this transaction has bumped to already, or None."""
    rev = session.info.get("revision")
    return None if rev is None else int(rev)


def note_change(session: Session, rev: int) -> int:
    """Count one change of this transaction, whose revision is ``rev``: what ``bump_revision``
    does after its statement, for a statement that bumped the revision itself
    (``fabric.store.ipam_pg``)."""
    session.info["touches"] = touches(session) + 1
    session.info["revision"] = rev
    return rev


def touches(session: Session) -> int:
    """How many changes (``bump_revision`` calls) this transaction made so far: tells one
    request of a shared transaction (``api.group_commit``) whether it changed anything
    itself, and ``fabric.store.ipam_fast`` whether anything changed after its own write."""
    return int(session.info.get("touches", 0))


def touch_hosts(session: Session, host_ids: set[int] | None) -> int:
    """Mark hosts (all of them when ``host_ids`` is None) as changed in this revision."""
    rev = bump_revision(session)
    if host_ids is None:
        session.connection().execute(_TOUCH_ALL, {"rev": rev})
    elif host_ids:
        session.connection().execute(_TOUCH, {"rev": rev, "ids": list(host_ids)})
    loaded_hosts_touched(session, host_ids, rev)
    return rev


def loaded_hosts_touched(session: Session, host_ids: set[int] | None, rev: int) -> None:
    """Keep loaded Host objects true to their rows, touched in ``rev`` (callers return them)."""
    for obj in session.identity_map.values():
        if isinstance(obj, Host) and (host_ids is None or obj.id in host_ids):
            set_committed_value(obj, "revision", rev)
