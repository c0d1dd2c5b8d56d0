"""``fabricctl peer …`` (configuration) and ``fabricctl peers`` (live sessions)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.text import Text

from fabric.cli.common import JsonOpt, client, pairs
from fabric.cli.output import console, details, emit, field, print_json, render_table, table
from fabric.families import prefix_counts

app = typer.Typer(help="BGP peers (ToR routers) of the hosts.", no_args_is_help=True)

PEER_COLUMNS = [
    ("name", field("name")),
    ("address", field("address")),
    ("asn", field("asn")),
    ("scope", lambda r: r["host"] or r["selector"] or r["scope"]),
    ("hold", field("hold_time")),
    ("gr", field("graceful_restart")),
    ("ttl-sec", field("ttl_security")),
    ("max-prefix", field("max_prefix")),
    ("password", field("password_set")),
    ("bfd", lambda r: "off" if not r.get("bfd") else
     f"{r['bfd']['detect_multiplier']}×{r['bfd']['receive_ms']}/{r['bfd']['transmit_ms']} ms"),
]
STATUS_COLUMNS = [
    ("host", field("host")),
    ("rack", field("rack")),
    ("peer", field("peer_address")),
    ("asn", field("peer_asn")),
    ("state", lambda r: f"{r['state']} (stale)" if r["stale"] else r["state"]),
    ("since", field("since")),
    ("prefixes", prefix_counts),  # sent ↑ and received ↓, per family negotiated
    ("bfd", lambda r: r.get("bfd_state") or "-"),
    ("last error", field("last_error")),
    ("report age", lambda r: "never" if r["report_age_seconds"] is None
                             else f"{r['report_age_seconds']:.0f}s"),
    ("configured as", lambda r: r["peer"] or "(not configured)"),
]
BfdOpt = Annotated[
    str | None,
    typer.Option(help="BFD on the session: MULT,RX_MS,TX_MS (e.g. 3,300,300), 'on' for those "
                      "defaults, 'off' to turn it off."),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(help="Read the MD5 password from this file ('-' for stdin); never argv."),
]


def _password(source: Path | None) -> str | None:
    if source is None:
        return None
    text = sys.stdin.read() if str(source) == "-" else source.read_text()
    return text.strip()


def _options(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _bfd(text: str | None) -> dict[str, Any]:
    """``--bfd`` as the API's field: absent, a profile, or null (off)."""
    if text is None:
        return {}
    if text == "off":
        return {"bfd": None}
    if text == "on":
        return {"bfd": {}}
    try:
        mult, rx, tx = (int(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter("give MULT,RX_MS,TX_MS, on or off", param_hint="--bfd") from None
    return {"bfd": {"detect_multiplier": mult, "receive_ms": rx, "transmit_ms": tx}}


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    address: Annotated[str, typer.Option(help="The neighbour's address.")],
    asn: Annotated[int, typer.Option(help="The neighbour's AS number.")],
    scope: Annotated[str, typer.Option(help="global, selector or host.")] = "global",
    selector: Annotated[list[str] | None, typer.Option(help="k=v (repeat).")] = None,
    host: Annotated[str | None, typer.Option(help="With scope host.")] = None,
    hold_time: Annotated[int | None, typer.Option()] = None,
    keepalive: Annotated[int | None, typer.Option()] = None,
    graceful_restart: Annotated[int | None, typer.Option(help="Seconds, 0 = off.")] = None,
    ttl_security: Annotated[int | None, typer.Option(help="Hops, 0 = off.")] = None,
    max_prefix: Annotated[int | None, typer.Option()] = None,
    password_file: PasswordFile = None,
    bfd: BfdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    body = _options(
        name=name,
        address=address,
        asn=asn,
        scope=scope,
        selector=pairs(selector, "--selector"),
        host=host,
        hold_time=hold_time,
        keepalive=keepalive,
        graceful_restart=graceful_restart,
        ttl_security=ttl_security,
        max_prefix=max_prefix,
        password=_password(password_file),
    ) | _bfd(bfd)
    details(client(ctx).post("/v1/peers", body), as_json=as_json, title=f"peer {name} added")


@app.command("list")
def list_(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Only the peers of this host.")] = None,
    as_json: JsonOpt = False,
) -> None:
    rows = client(ctx).get(f"/v1/hosts/{host}/peers" if host else "/v1/peers")
    emit(rows, PEER_COLUMNS, as_json=as_json, title="peers")


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: JsonOpt = False) -> None:
    details(client(ctx).get(f"/v1/peers/{name}"), as_json=as_json, title=f"peer {name}")


@app.command("update")
def update(
    ctx: typer.Context,
    name: str,
    asn: Annotated[int | None, typer.Option()] = None,
    hold_time: Annotated[int | None, typer.Option()] = None,
    keepalive: Annotated[int | None, typer.Option()] = None,
    graceful_restart: Annotated[int | None, typer.Option()] = None,
    ttl_security: Annotated[int | None, typer.Option()] = None,
    max_prefix: Annotated[int | None, typer.Option()] = None,
    password_file: PasswordFile = None,
    bfd: BfdOpt = None,
) -> None:
    body = _options(
        asn=asn,
        hold_time=hold_time,
        keepalive=keepalive,
        graceful_restart=graceful_restart,
        ttl_security=ttl_security,
        max_prefix=max_prefix,
        password=_password(password_file),
    ) | _bfd(bfd)
    details(client(ctx).patch(f"/v1/peers/{name}", body), as_json=False, title=f"peer {name}")


@app.command("delete")
def delete(ctx: typer.Context, name: str) -> None:
    client(ctx).delete(f"/v1/peers/{name}")
    typer.echo(f"peer {name} deleted")


def status_style(row: dict[str, Any]) -> str:
    """Green: established and fresh; yellow: a stale or missing report; red: not established."""
    if row["established"]:
        return "green"
    return "yellow" if row["stale"] or row["state"] == "unknown" else "red"


def status_rows(
    ctx: typer.Context, host: str | None, rack: str | None, state: str | None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client(ctx).get("/v1/peers/status", host=host)
    return [
        r for r in rows
        if (rack is None or r.get("rack") == rack) and (state is None or state_of(r) == state)
    ]  # fmt: skip


def state_of(row: dict[str, Any]) -> str:
    """What ``--state`` matches: ``stale`` for a stale report, else the reported state."""
    return "stale" if row["stale"] else str(row["state"])


def summary_line(rows: list[dict[str, Any]]) -> str:
    """``3 established of 4, 1 never reported``: the sessions that are not up, by why."""
    up = sum(1 for r in rows if r["established"])
    line = f"{up} established of {len(rows)}"
    for why, count in (
        ("stale", sum(1 for r in rows if r["stale"])),
        ("never reported", sum(1 for r in rows if r["state"] == "unknown")),
        ("not configured", sum(1 for r in rows if not r["configured"])),
    ):
        if count:
            line += f", {count} {why}"
    return line


def status_view(rows: list[dict[str, Any]]) -> Group:
    up = sum(1 for r in rows if r["established"])
    colour = "green" if rows and up == len(rows) else "red"
    summary = Text(summary_line(rows), style=colour)
    return Group(render_table(rows, STATUS_COLUMNS, "BGP sessions", status_style), summary)


def show_status(
    ctx: typer.Context,
    host: str | None,
    as_json: bool,
    *,
    rack: str | None = None,
    state: str | None = None,
    watch: float | None = None,
) -> None:
    """Every session as the speakers report it; established green, others red."""
    rows = status_rows(ctx, host, rack, state)
    if as_json:
        print_json(rows)
        return
    if not console.is_terminal:  # a pipe: whole plain lines, the summary as a comment
        table(rows, STATUS_COLUMNS, title="BGP sessions")
        print(f"# {summary_line(rows)}")
        return
    if not watch:
        console.print(status_view(rows), soft_wrap=True)
        return
    with Live(status_view(rows), console=console, screen=False) as live:
        try:
            while True:
                time.sleep(watch)
                live.update(status_view(status_rows(ctx, host, rack, state)))
        except KeyboardInterrupt:
            pass
