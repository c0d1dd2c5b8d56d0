"""How the CLI shows things: rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

Column = tuple[str, Callable[[dict[str, Any]], Any]]
console = Console()
err_console = Console(stderr=True)


def field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name)


def print_json(data: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON for scripts.
    print(json.dumps(data, indent=2, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    style: Callable[[dict[str, Any]], str | None] | None = None,
) -> None:
    t = Table(title=title, header_style="bold", title_justify="left")
    for name, _ in columns:
        t.add_column(name)
    for row in rows:
        t.add_row(*(_cell(get(row)) for _, get in columns), style=style(row) if style else None)
    console.print(t)


def emit(
    data: Any,
    columns: Sequence[Column],
    *,
    as_json: bool,
    title: str | None = None,
    style: Callable[[dict[str, Any]], str | None] | None = None,
) -> None:
    if as_json:
        print_json(data)
    else:
        table(data if isinstance(data, list) else [data], columns, title=title, style=style)


def details(data: dict[str, Any], *, as_json: bool, title: str | None = None) -> None:
    """One object as a two-column table of its fields."""
    if as_json:
        print_json(data)
        return
    rows = [{"field": k, "value": v} for k, v in data.items()]
    table(rows, [("field", field("field")), ("value", field("value"))], title=title)
