"""``fabricctl router …`` and ``fabricctl tor-config``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

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
    ("config", lambda r: config_state(r.get("config"))),
]


def config_state(applied: dict[str, Any] | None) -> str:
    """Applied against desired, as tor-sync reported it."""
    if applied is None:
        return "no tor-sync"
    state = "in sync" if applied["in_sync"] else "behind"
    line = f"{state} (applied revision {applied['applied_revision']})"
    if applied["error"]:
        line += f"; last refused: {applied['error']}"
    return line


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


def tor_sync(
    ctx: typer.Context,
    router: Annotated[str, typer.Option(help="The router this runs for.")],
    config: Annotated[
        Path, typer.Option(help="Its configuration file (FRR: frr.conf; BIRD: bird.conf).")
    ] = Path("/etc/frr/frr.conf"),
    format: Annotated[str, typer.Option(help="frr or bird.")] = "frr",
    filters: Annotated[
        bool, typer.Option(help="Inbound prefix filters from IPAM ownership.")
    ] = True,
    vty_socket: Annotated[
        Path | None, typer.Option(help="FRR's vty directory, when not the default.")
    ] = None,
    bird_socket: Annotated[Path | None, typer.Option(help="BIRD's control socket.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds each long-poll is held.")] = 30.0,
) -> None:
    """Keep the router's configuration in step with IPAM: follow its rendering by long-poll,
    apply each change (FRR: frr-reload.py then clear bgp * soft in; BIRD: birdc configure),
    check it took, report what was applied. Stops on SIGTERM or Ctrl-C; the router keeps what
    it has."""
    import logging
    import signal

    from bgp.tor_sync import Applier, BirdApplier, FrrApplier, TorSync
    from fabric.client.router import RouterApi

    if format not in ("frr", "bird"):
        raise typer.BadParameter("choose frr or bird", param_hint="--format")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    applier: Applier = (
        FrrApplier(config, vty_socket) if format == "frr" else BirdApplier(config, bird_socket)
    )
    api = RouterApi(ctx.find_root().params["api"], router, format=format, filters=filters,
                    access=ctx.find_root().obj["access"])  # fmt: skip
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    TorSync(api, applier, stopping, wait=wait).run()

