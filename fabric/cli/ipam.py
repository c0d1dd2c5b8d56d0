"""``fabricctl ipam …``: usage, consistency check, garbage collection."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fabric.cli.common import JsonOpt, client
from fabric.cli.ips import ALLOC_COLUMNS
from fabric.cli.output import Markup, bar, console, emit, field, print_json

app = typer.Typer(help="IPAM usage, consistency and garbage collection.", no_args_is_help=True)

CHECKS = {
    "allocations_without_host": "allocations whose host no longer exists",
    "blocks_of_missing_hosts": "blocks affine to hosts that no longer exist",
    "handles_with_several_addresses": "handles holding more than one address of a family",
    "counter_mismatches": "block usage counters that disagree with the rows",
}


USAGE_COLUMNS = [
    ("pool", lambda r: r["pool"]["name"]),
    ("cidr", lambda r: r["pool"]["cidr"]),
    ("usage", lambda r: Markup(bar(r["allocated"], r["total"]))),
    ("used", field("allocated")),
    ("free", field("free")),
    ("total", field("total")),
    ("blocks", field("blocks_claimed")),
    ("borrowed", field("borrowed")),
    ("by host (blocks/addresses)",
     lambda r: [f"{h['host'] or '(none)'} {h['blocks']}/{h['allocated']}" for h in r["by_host"]]),
]  # fmt: skip


@app.command("show")
def show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Per pool: a usage bar, used / free / total, blocks per host, borrowed addresses."""
    emit(client(ctx).get("/v1/pools"), USAGE_COLUMNS, as_json=as_json, title="IPAM usage")


@app.command("check")
def check(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Exit status 1 when anything is inconsistent."""
    report: dict[str, Any] = client(ctx).get("/v1/ipam/check")
    if as_json:
        print_json(report)
    else:
        for key, label in CHECKS.items():
            found = report[key]
            mark = "[green]ok[/green]" if not found else f"[red]{len(found)}[/red]"
            console.print(f"{mark}  {label}")
            for item in found:
                console.print(f"     {item}")
    if not report["ok"]:
        raise typer.Exit(1)


@app.command("gc")
def gc(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="The host to collect on.")],
    handle: Annotated[
        list[str] | None, typer.Option(help="A handle still in use (repeat).")
    ] = None,
    grace: Annotated[float | None, typer.Option(help="Seconds; server minimum applies.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be released.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Release the host's addresses whose handles are not given, once past the grace period."""
    body = {"host": host, "handles": handle or [], "grace_seconds": grace, "dry_run": dry_run}
    result = client(ctx).post("/v1/ipam/gc", body)
    verb = "would release" if dry_run else "released"
    title = f"{verb} (grace {result['grace_seconds']:.0f}s)"
    emit(result if as_json else result["released"], ALLOC_COLUMNS, as_json=as_json, title=title)
