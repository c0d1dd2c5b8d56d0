"""``fabricctl token …`` and ``fabricctl audit``."""

from __future__ import annotations

from typing import Annotated

import typer

from fabric.cli.common import JsonOpt, client
from fabric.cli.output import WIDE, Column, WideOpt, console, emit, err_console, field, print_json

app = typer.Typer(
    help="API tokens: admin, orchestrator, agent (one host), router (one router: tor-sync), viewer."
)

TOKEN_COLUMNS: list[Column] = [
    ("name", field("name")),
    ("role", field("role")),
    ("host", field("host")),
    ("router", field("router")),
    ("created by", field("created_by"), WIDE),
    ("created", field("created_at"), WIDE),
]
AUDIT_COLUMNS: list[Column] = [
    ("when", field("at")),
    ("token", field("token_name")),
    ("role", field("role")),
    ("action", field("action")),
    ("what", field("key")),
    ("request", field("request"), WIDE),
    (
        "change",
        lambda r: (
            ", ".join(
                f"{k}: {(r['before'] or {}).get(k)} → {v}"
                for k, v in (r["after"] or {}).items()
                if r["before"] and r["before"].get(k) != v
            )
            or None
        ),
    ),
]


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    role: Annotated[str, typer.Option(help="admin, orchestrator, agent, router or viewer.")],
    host: Annotated[str | None, typer.Option(help="The host an agent token is bound to.")] = None,
    router: Annotated[
        str | None, typer.Option(help="The router a router token (tor-sync's) is bound to.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a token and print its secret, this once."""
    body = {"name": name, "role": role, "host": host, "router": router}
    created = client(ctx).post("/v1/tokens", body)
    if as_json:
        print_json(created)
        return
    bound = f", host {host}" if host else f", router {router}" if router else ""
    err_console.print(f"token {name} ({role}{bound}); shown once:")
    print(created["token"])


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    tokens = client(ctx).get("/v1/tokens")
    emit(tokens, TOKEN_COLUMNS, as_json=as_json, title="tokens", wide=wide)


@app.command("delete")
def delete(ctx: typer.Context, name: str) -> None:
    """Revoke a token at once."""
    client(ctx).delete(f"/v1/tokens/{name}")
    console.print(f"token {name} revoked")


def audit(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Option(help="One object, e.g. peers/tor-h1.")] = None,
    token: Annotated[str | None, typer.Option(help="Changes made with this token.")] = None,
    limit: Annotated[int, typer.Option()] = 50,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Who changed what and when, newest first (secrets never shown)."""
    rows = client(ctx).get("/v1/audit", key=key, token=token, limit=limit)
    emit(rows, AUDIT_COLUMNS, as_json=as_json, title="audit log", wide=wide)
