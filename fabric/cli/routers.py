"""``fabricctl router …`` and ``fabricctl tor-config``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fabric.cli.common import JsonOpt, client
from fabric.cli.output import console, details, emit, field

app = typer.Typer(help="Fabric routers (leaves/ToRs, spines).", no_args_is_help=True)

ROUTER_COLUMNS = [
    ("name", field("name")),
    ("role", field("role")),
    ("asn", field("asn")),
    ("router id", field("router_id")),
    ("interfaces", lambda r: [f"{i['name']} {i['address']}" for i in r["interfaces"]]),
    ("neighbours", lambda r: [f"{n['name']} {n['address']} AS{n['asn']}" for n in r["neighbors"]]),
]


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    emit(client(ctx).get("/v1/routers"), ROUTER_COLUMNS, as_json=as_json)


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: JsonOpt = False) -> None:
    details(client(ctx).get(f"/v1/routers/{name}"), as_json=as_json, title=f"router {name}")


@app.command("delete")
def delete(ctx: typer.Context, name: str) -> None:
    client(ctx).delete(f"/v1/routers/{name}")
    console.print(f"router {name} deleted")


def tor_config(
    ctx: typer.Context,
    tor: Annotated[str, typer.Option(help="The router (leaf/ToR or spine).")],
    format: Annotated[str, typer.Option(help="Configuration format: frr or bird.")] = "frr",
    filters: Annotated[
        bool, typer.Option(help="Inbound prefix filters from IPAM ownership (re-render on change).")
    ] = True,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
) -> None:
    """Render a router's configuration from the controller's data (it holds BGP passwords).

    With filters, push it again whenever ownership changes.
    FRR: frr-reload.py --reload, then clear bgp * soft in (hosts resend
    what the old filter dropped); vtysh -b only adds lines, so a released
    address would stay permitted. BIRD: birdc configure does both.
    """
    text = client(ctx).text(
        f"/v1/routers/{tor}/config", format=format, filters=str(filters).lower()
    )
    if output is None:
        print(text, end="")
        return
    output.write_text(text)
    console.print(f"{tor}: {format} configuration written to {output}")
