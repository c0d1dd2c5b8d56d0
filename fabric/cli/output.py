"""How the CLI shows things: rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

Column = tuple[str, Callable[[dict[str, Any]], Any]]


@dataclass(frozen=True)
class Markup:
    """A cell already written in rich markup (bars, ticks): shown as it is."""

    text: str


console = Console()
err_console = Console(stderr=True)


def field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name)


def print_json(data: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON for scripts.
    print(json.dumps(data, indent=2, default=str))


def _cell(value: Any) -> str:
    if isinstance(value, Markup):
        return value.text
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def render_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    title: str | None = None,
    style: Callable[[dict[str, Any]], str | None] | None = None,
) -> Table:
    t = Table(title=title, header_style="bold", title_justify="left")
    for name, _ in columns:
        t.add_column(name)
    for row in rows:
        t.add_row(*(_cell(get(row)) for _, get in columns), style=style(row) if style else None)
    return t


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    style: Callable[[dict[str, Any]], str | None] | None = None,
) -> None:
    console.print(render_table(rows, columns, title, style))


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


def bar(used: int, total: int, width: int = 20) -> str:
    """A usage bar for a table cell: green, yellow past 70 %, red past 90 %."""
    share = used / total if total else 0.0
    filled = round(share * width)
    colour = "red" if share > 0.9 else "yellow" if share > 0.7 else "green"
    return f"[{colour}]{'█' * filled}[/{colour}]{'░' * (width - filled)} {share:6.1%}"


def tick(value: bool) -> Markup:
    return Markup("[green]✓[/green]" if value else "[red]✗[/red]")


def details(data: dict[str, Any], *, as_json: bool, title: str | None = None) -> None:
    """One object as a two-column table of its fields."""
    if as_json:
        print_json(data)
        return
    rows = [{"field": k, "value": v} for k, v in data.items()]
    table(rows, [("field", field("field")), ("value", field("value"))], title=title)
