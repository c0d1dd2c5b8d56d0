"""``fabricctl pool …``"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fabric.cli.common import JsonOpt, client, pairs
from fabric.cli.output import details, emit, field, print_json

app = typer.Typer(help="Address pools, carved into per-host blocks.", no_args_is_help=True)

POOL_COLUMNS = [
    ("name", lambda r: r["pool"]["name"]),
    ("cidr", lambda r: r["pool"]["cidr"]),
    ("block", lambda r: f"/{r['pool']['block_size']}"),
    ("selector", lambda r: r["pool"]["selector"]),
    ("strict", lambda r: r["pool"]["strict_affinity"]),
    ("disabled", lambda r: r["pool"]["disabled"]),
    ("used", lambda r: f"{r['allocated']}/{r['total']}"),
    ("blocks", field("blocks_claimed")),
    ("borrowed", field("borrowed")),
]


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    cidr: str,
    block_size: Annotated[int | None, typer.Option(help="Block prefix length.")] = None,
    selector: Annotated[list[str] | None, typer.Option(help="Host label k=v (repeat).")] = None,
    reserved: Annotated[list[str] | None, typer.Option(help="CIDR or first-last.")] = None,
    strict_affinity: Annotated[bool, typer.Option(help="Never borrow across hosts.")] = False,
    as_json: JsonOpt = False,
) -> None:
    body: dict[str, Any] = {
        "name": name,
        "cidr": cidr,
        "block_size": block_size,
        "selector": pairs(selector, "--selector"),
        "reserved": reserved or [],
        "strict_affinity": strict_affinity,
    }
    details(client(ctx).post("/v1/pools", body), as_json=as_json, title=f"pool {name} created")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    emit(client(ctx).get("/v1/pools"), POOL_COLUMNS, as_json=as_json, title="pools")


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: JsonOpt = False) -> None:
    """A pool's usage, by host."""
    usage = client(ctx).get(f"/v1/pools/{name}")
    if as_json:
        print_json(usage)
        return
    emit([usage], POOL_COLUMNS, as_json=False, title=f"pool {name}")
    emit(
        usage["by_host"],
        [("host", field("host")), ("blocks", field("blocks")), ("allocated", field("allocated"))],
        as_json=False,
        title="blocks by host",
    )


def _set(ctx: typer.Context, name: str, **changes: Any) -> None:
    details(client(ctx).patch(f"/v1/pools/{name}", changes), as_json=False, title=name)


@app.command("disable")
def disable(ctx: typer.Context, name: str) -> None:
    """No new blocks from this pool; existing ones keep serving their hosts."""
    _set(ctx, name, disabled=True)


@app.command("enable")
def enable(ctx: typer.Context, name: str) -> None:
    _set(ctx, name, disabled=False)


@app.command("delete")
def delete(ctx: typer.Context, name: str) -> None:
    """Refused while the pool has allocations."""
    client(ctx).delete(f"/v1/pools/{name}")
    typer.echo(f"pool {name} deleted")
