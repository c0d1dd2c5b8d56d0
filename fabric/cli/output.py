"""How the CLI shows things: rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

# (header, getter) or (header, getter, WIDE): how a column reads its value from a row.
Getter = Callable[[dict[str, Any]], Any]
Column = tuple[str, Getter] | tuple[str, Getter, str]


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


# Columns whose values name things (an address, a prefix, a handle, …): never cut, since a
# cut one looks right and is wrong. Descriptive columns wrap instead; when even the
# identifying ones cannot fit, the table folds into one record per block of lines.
IDENTIFYING = frozenset({
    "name", "address", "addresses", "host", "handle", "block", "cidr", "pool", "peer", "node",
    "namespace", "router", "router id", "prefix", "token", "what", "field", "value",
    "interfaces", "neighbours", "by host (blocks/addresses)",
})  # fmt: skip
WIDE = "wide"  # a column's third element: shown with --wide only


def _visible(columns: Sequence[Column], wide: bool) -> list[Column]:
    return [c for c in columns if wide or len(c) < 3 or c[-1] != WIDE]


def _plain(value: Any) -> str:
    return Text.from_markup(value.text).plain if isinstance(value, Markup) else _cell(value)


def _fits(header: list[str], cells: list[list[str]], width: int) -> bool:
    """Whether the identifying columns, whole, and a little of each other one fit."""
    need = 1 + 3 * len(header)  # rich's borders and padding
    for k, name in enumerate(header):
        longest = max([len(name), *(len(r[k]) for r in cells)])
        need += longest if name.lower() in IDENTIFYING else min(longest, 6)
    return need <= width


def render_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    title: str | None = None,
    style: Callable[[dict[str, Any]], str | None] | None = None,
    *,
    width: int | None = None,
    wide: bool = False,
) -> RenderableType:
    """A table for a terminal ``width`` wide (the console's by default), identifying values
    whole: descriptive columns wrap, and if that is not enough, one record per row."""
    shown = _visible(columns, wide)
    header = [name for name, *_ in shown]
    values = [[get(row) for _, get, *_ in shown] for row in rows]
    plain = [[_plain(v) for v in row] for row in values]
    if not _fits(header, plain, width or console.width):
        return _records(header, plain, title)
    t = Table(title=title, header_style="bold", title_justify="left")
    for k, name in enumerate(header):
        if name.lower() in IDENTIFYING:
            longest = max([len(name), *(len(r[k]) for r in plain)])
            t.add_column(name, no_wrap=True, min_width=longest)
        else:
            t.add_column(name, overflow="fold")
    for row, cells in zip(rows, values, strict=True):
        t.add_row(*(_cell(c) for c in cells), style=style(row) if style else None)
    return t


def _records(header: list[str], plain: list[list[str]], title: str | None) -> RenderableType:
    pad = max(len(h) for h in header) + 1
    lines = [Text(title, style="bold")] if title else []
    for n, row in enumerate(plain):
        if n:
            lines.append(Text(""))
        lines += [Text(f"{h + ':':<{pad}} {v}") for h, v in zip(header, row, strict=True)]
    return Group(*lines)


def plain_lines(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column], *, wide: bool = False
) -> list[str]:
    """Whole, aligned lines for a pipe (kubectl's and calicoctl's style): no box, no cut."""
    shown = _visible(columns, wide)
    header = [name.upper() for name, *_ in shown]
    cells = [[_plain(get(row)) for _, get, *_ in shown] for row in rows]
    widths = [max([len(h), *(len(r[k]) for r in cells)]) for k, h in enumerate(header)]
    return [
        "   ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    ]


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    style: Callable[[dict[str, Any]], str | None] | None = None,
    wide: bool = False,
    out: Console | None = None,
) -> None:
    target = out or console
    if not target.is_terminal:
        if title:
            target.file.write(f"# {title}\n")
        target.file.write("\n".join(plain_lines(rows, columns, wide=wide)) + "\n")
        return
    target.print(render_table(rows, columns, title, style, width=target.width, wide=wide),
                 soft_wrap=True)  # fmt: skip


def emit(
    data: Any,
    columns: Sequence[Column],
    *,
    as_json: bool,
    title: str | None = None,
    style: Callable[[dict[str, Any]], str | None] | None = None,
    wide: bool = False,
) -> None:
    if as_json:
        print_json(data)
    else:
        rows = data if isinstance(data, list) else [data]
        table(rows, columns, title=title, style=style, wide=wide)


def bar(used: int, total: int, width: int = 20) -> str:
    """A usage bar for a table cell: green, yellow past 70 %, red past 90 %."""
    share = used / total if total else 0.0
    filled = round(share * width)
    colour = "red" if share > 0.9 else "yellow" if share > 0.7 else "green"
    return f"[{colour}]{'█' * filled}[/{colour}]{'░' * (width - filled)} {share:6.1%}"


def tick(value: bool) -> Markup:
    return Markup("[green]✓[/green]" if value else "[red]✗[/red]")


WideOpt = Annotated[bool, typer.Option("--wide", "-w", help="Every column, none left out.")]


def details(data: dict[str, Any], *, as_json: bool, title: str | None = None) -> None:
    """One object as a two-column table of its fields."""
    if as_json:
        print_json(data)
        return
    rows = [{"field": k, "value": v} for k, v in data.items()]
    table(rows, [("field", field("field")), ("value", field("value"))], title=title)
