"""The audit log: every change to the fabric's data, with who made it, before and after.

Every entry is made by ``entry_by`` and written by ``log``, in the same transaction as its
change. Two kinds of writer call them: the ORM's changes are logged by hooks that the database
attaches to its write sessions (``audit_sessions``: each new, changed and deleted row, a new one
once flushed, with its id); the IPAM batch writers make their entries from their plans
(``fabric.ipam.plan``). Who: every writer says whom it writes for, once per transaction or per
request of a batch (``acting_for``: the API's write sessions, its group commit); the hooks and
the batch writers read it back with ``caller_of``. Secrets are never copied: a password or token
hash shows as ``"(set)"``. Bookkeeping that is not a change anyone made (revision counters,
block fill counters, peer status reports) is left out, or the log would drown in it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, event, insert, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from fabric.models import AuditEntry, Base

SKIP_TABLES = {"fabric_state", "peer_status", "host_routes", "router_applied", "audit_log"}
SECRET_COLUMNS = {"password", "token_hash"}
BOOKKEEPING = {"hosts": {"revision"}, "blocks": {"allocated"}}
KEY_COLUMNS = ("name", "address", "cidr")
_CALLER = "audit.caller"  # the session's key for its ``Caller``: set and read only here
_INSERT = insert(cast(Table, AuditEntry.__table__))  # built once, its compiled form reused


@dataclass(frozen=True)
class Caller:
    """Whom a write is for: the token's principal (None: no token, as in the CLI's own
    database work) and the API request that made it."""

    principal: Any = None
    request: str | None = None


def acting_for(session: Session, principal: Any, request: str | None) -> None:
    """What the session writes from now on is done for this caller (until said otherwise)."""
    session.info[_CALLER] = Caller(principal, request)


def caller_of(session: Session) -> Caller:
    found = session.info.get(_CALLER)
    return found if isinstance(found, Caller) else Caller()


def _value(column: str, value: Any) -> Any:
    if column in SECRET_COLUMNS:
        return None if value is None else "(set)"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def row_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's columns as the log keeps them (secrets masked, times as text): for a row
    written or read with Core statements, which the flush hook does not see."""
    return {column: _value(column, value) for column, value in row.items()}


def snapshot(obj: Base) -> dict[str, Any]:
    state = inspect(obj)
    return row_values({a.key: getattr(obj, a.key) for a in state.mapper.column_attrs})


def _before(obj: Base) -> dict[str, Any]:
    state = inspect(obj)
    row = snapshot(obj)
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if history.deleted:
            row[attr.key] = _value(attr.key, history.deleted[0])
    return row


def _key(obj: Base) -> str:
    table = obj.__tablename__
    for column in KEY_COLUMNS:
        value = getattr(obj, column, None)
        if value is not None:
            return f"{table}/{value}"
    return f"{table}/{getattr(obj, 'id', '?')}"


def entry(
    session: Session, action: str, entity: str, key: str, before: Any, after: Any
) -> dict[str, Any]:
    """The column values of one audit entry, the caller taken from the session."""
    caller = caller_of(session)
    return entry_by(caller.principal, caller.request, action, entity, key, before, after)


def entry_by(
    who: Any, request: str | None, action: str, entity: str, key: str, before: Any, after: Any
) -> dict[str, Any]:
    """The column values of one audit entry made by ``who`` (a token's principal) in
    ``request`` (the API call): for changes of several callers written at once."""
    return {
        "token_name": getattr(who, "name", None),
        "role": getattr(who, "role", None),
        "request": request,
        "action": action,
        "entity": entity,
        "key": key[:128],
        "before": before,
        "after": after,
    }


def log(conn: Connection | Session, entries: list[dict[str, Any]]) -> None:
    """Write audit entries (``entry_by``'s column values) in the transaction of ``conn``: the
    one insert of them all. PostgreSQL's one-statement IPAM writer has it inside its statement
    (``fabric.store.ipam_pg``), where it costs no round trip of its own."""
    if entries:
        conn.execute(_INSERT, entries[0] if len(entries) == 1 else entries)


def record(session: Session, action: str, obj: Base, before: Any, after: Any) -> None:
    """Log one change of ``obj`` the hooks do not see (a Core statement's)."""
    log(session, [_entry(session, action, obj, before, after)])


def _changed(obj: Base) -> bool:
    ignored = BOOKKEEPING.get(obj.__tablename__, set())
    state = inspect(obj)
    return any(
        state.attrs[a.key].history.has_changes()
        for a in state.mapper.column_attrs
        if a.key not in ignored
    )


def _logged(objs: Any) -> list[Base]:
    return [o for o in objs if isinstance(o, Base) and o.__tablename__ not in SKIP_TABLES]


def _entry(session: Session, action: str, obj: Base, before: Any, after: Any) -> dict[str, Any]:
    return entry(session, action, obj.__tablename__, _key(obj), before, after)


def _on_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    """Changes and deletions, before the flush writes them (their history is gone after)."""
    log(session.connection(), [
        *(_entry(session, "update", o, _before(o), snapshot(o))
          for o in _logged(session.dirty) if _changed(o)),
        *(_entry(session, "delete", o, _before(o), None) for o in _logged(session.deleted)),
    ])  # fmt: skip


def _on_created(session: Session, _ctx: Any) -> None:
    """Creations once written, so their entries hold what the database gave them (the id, the
    columns' defaults)."""
    log(session.connection(),
        [_entry(session, "create", o, None, snapshot(o)) for o in _logged(session.new)])


def audit_sessions(factory: sessionmaker[Session]) -> None:
    """Log every ORM change made in a session of ``factory``, in its transaction, under the
    session's caller: for the factory of write sessions (``fabric.store.database``), so a
    session that only reads carries no hooks, and none is registered at import."""
    event.listen(factory, "before_flush", _on_flush)
    event.listen(factory, "after_flush", _on_created)


def entries(
    session: Session, *, limit: int = 100, key: str | None = None, token: str | None = None
) -> list[AuditEntry]:
    """The newest entries first."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if key:
        stmt = stmt.where(AuditEntry.key == key)
    if token:
        stmt = stmt.where(AuditEntry.token_name == token)
    return list(session.scalars(stmt))
