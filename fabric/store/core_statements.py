"""Helpers for the writers' prebuilt Core statements (``ipam_fast``): built once, so
SQLAlchemy reuses their compiled form instead of building them per call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Executable, Result, Table, bindparam
from sqlalchemy.orm import Session

Match = Callable[[ColumnElement[Any], str], ColumnElement[bool]]


def table(model: Any) -> Table:
    """A mapped class's table, for Core statements."""
    return cast(Table, model.__table__)


def one_or_many(build: Callable[[Match], Executable]) -> tuple[Executable, Executable]:
    """A query built twice: ``column = :name`` for one value, ``column IN (:name…)`` for
    several (expanding an IN list costs more than the rest of a one-row query)."""
    return (
        build(lambda column, name: column == bindparam(name)),
        build(lambda column, name: column.in_(bindparam(name, expanding=True))),
    )


def execute(
    conn: Connection | Session, pair: tuple[Executable, Executable], name: str, values: list[Any]
) -> Result[Any]:
    """The pair's one-value form for one value, else its IN form."""
    one = len(values) == 1
    return conn.execute(pair[0] if one else pair[1], {name: values[0] if one else values})


def rows(values: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """One row alone (a plain execute) or several (an executemany)."""
    return values[0] if len(values) == 1 else values
