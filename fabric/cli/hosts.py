"""``fabricctl host …``"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fabric.cli.common import JsonOpt, client, pairs
from fabric.cli.output import details, emit, field

app = typer.Typer(help="Container hosts: BGP speakers and gateways.", no_args_is_help=True)

HOST_COLUMNS = [
    ("name", field("name")),
    ("address", field("address")),
    ("address6", field("address6")),
    ("asn", field("asn")),
    ("labels", field("labels")),
    ("mode", field("advertise_mode")),
    ("revision", field("revision")),
]
Address6Opt = Annotated[
    str | None,
    typer.Option("--address6", help="IPv6 fabric address beside an IPv4 one (dual-stack)."),
]
ModeOpt = Annotated[str | None, typer.Option("--mode", help="aggregate or host-routes.")]
LabelOpt = Annotated[list[str] | None, typer.Option("--label", help="k=v (repeat).")]


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    address: Annotated[str, typer.Option(help="Fabric address: next hop and router id.")],
    asn: Annotated[int, typer.Option(help="The host's AS number.")],
    address6: Address6Opt = None,
    label: LabelOpt = None,
    mode: ModeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    body: dict[str, Any] = {"name": name, "address": address, "asn": asn}
    if address6:
        body["address6"] = address6
    body["labels"] = pairs(label, "--label")
    if mode:
        body["advertise_mode"] = mode
    details(client(ctx).post("/v1/hosts", body), as_json=as_json, title=f"host {name} added")


@app.command("list")
def list_(
    ctx: typer.Context,
    selector: Annotated[str | None, typer.Option(help="e.g. rack=r1")] = None,
    as_json: JsonOpt = False,
) -> None:
    emit(client(ctx).get("/v1/hosts", selector=selector), HOST_COLUMNS, as_json=as_json)


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: JsonOpt = False) -> None:
    details(client(ctx).get(f"/v1/hosts/{name}"), as_json=as_json, title=f"host {name}")


@app.command("update")
def update(
    ctx: typer.Context,
    name: str,
    address: Annotated[str | None, typer.Option()] = None,
    address6: Address6Opt = None,
    no_address6: Annotated[
        bool, typer.Option("--no-address6", help="Remove the host's IPv6 address.")
    ] = False,
    asn: Annotated[int | None, typer.Option()] = None,
    label: LabelOpt = None,
    mode: ModeOpt = None,
) -> None:
    """Change a host; ``--label`` replaces all its labels."""
    body: dict[str, Any] = {}
    if address:
        body["address"] = address
    if address6 or no_address6:
        body["address6"] = None if no_address6 else address6
    if asn:
        body["asn"] = asn
    if label is not None:
        body["labels"] = pairs(label, "--label")
    if mode:
        body["advertise_mode"] = mode
    details(client(ctx).patch(f"/v1/hosts/{name}", body), as_json=False, title=f"host {name}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: str,
    release: Annotated[bool, typer.Option(help="Release its allocations too.")] = False,
) -> None:
    """Refused while the host holds allocations, unless --release."""
    result = client(ctx).delete(f"/v1/hosts/{name}", release=str(release).lower())
    typer.echo(f"host {name} deleted ({result['released']} allocation(s) released)")
