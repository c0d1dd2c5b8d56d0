"""``fabricctl ip …``: allocate, release and look up addresses."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fabric.cli.common import JsonOpt, client
from fabric.cli.output import WIDE, Column, WideOpt, details, emit, field

app = typer.Typer(help="Addresses: allocate, release, list, show.", no_args_is_help=True)

ALLOC_COLUMNS: list[Column] = [
    ("address", field("address")),
    ("host", field("host")),
    ("handle", field("handle")),
    ("block", field("block")),
    ("pool", field("pool")),
    ("borrowed", field("borrowed")),
    ("attributes", field("attributes"), WIDE),
    ("created", field("created_at"), WIDE),
]


def _attributes(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not key=value", param_hint="--attr")
        out[key] = value
    return out


@app.command("allocate")
def allocate(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="The host the workload runs on.")],
    handle: Annotated[str, typer.Option(help="The workload's id (idempotency key).")],
    family: Annotated[str, typer.Option(help="4, 6 or dual.")] = "4",
    address: Annotated[str | None, typer.Option(help="Ask for this address.")] = None,
    attr: Annotated[list[str] | None, typer.Option(help="k=v (repeat).")] = None,
    pool: Annotated[list[str] | None, typer.Option(help="Only from this pool (repeat).")] = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    body: dict[str, Any] = {"host": host, "handle": handle, "family": family, "address": address}
    body["attributes"] = _attributes(attr or [])
    if pool:
        body["pools"] = pool
    result = client(ctx).post("/v1/allocations", body)
    verb = "allocated" if result["created"] else "already held"
    emit(
        result if as_json else result["allocations"],
        ALLOC_COLUMNS,
        as_json=as_json,
        title=f"{handle}: {verb}",
        wide=wide,
    )


@app.command("release")
def release(
    ctx: typer.Context,
    handle: Annotated[
        str | None, typer.Option(help="Release every address of this handle.")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Release this address.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Idempotent: releasing what is not allocated succeeds and changes nothing."""
    if not handle and not address:
        raise typer.BadParameter("give --handle or --address")
    result = client(ctx).post("/v1/allocations/release", {"handle": handle, "address": address})
    emit(result["released"], ALLOC_COLUMNS, as_json=as_json, title="released")


@app.command("list")
def list_(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option()] = None,
    pool: Annotated[str | None, typer.Option()] = None,
    handle: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option()] = 1000,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    rows = client(ctx).get("/v1/allocations", host=host, pool=pool, handle=handle, limit=limit)
    emit(rows, ALLOC_COLUMNS, as_json=as_json, title="allocations", wide=wide)


@app.command("show")
def show(ctx: typer.Context, address: str, as_json: JsonOpt = False) -> None:
    """The trace of an address: owner, block, pool, handle, who announces it and since when."""
    trace = client(ctx).get(f"/v1/ips/{address}")
    if as_json:
        details(trace, as_json=True)
        return
    peers, accepted = trace.pop("peers"), trace.pop("accepted_by", [])
    details(trace, as_json=False, title=f"{address}")
    emit(
        peers,
        [("peer", field("peer_address")), ("state", field("state")), ("sent", field("sent"))],
        as_json=False, title=f"{trace['host']}'s peers",
        style=lambda r: "green" if r["sent"] else "red",
    )  # fmt: skip
    if accepted:  # the ToR's own word, as its tor-sync reports it
        emit(
            accepted,
            [("router", field("router")), ("accepted", field("accepted")),
             ("as of", field("as_of"))],
            as_json=False, title="accepted by the ToR",
            style=lambda r: "green" if r["accepted"] else "red",
        )  # fmt: skip
