"""``fabricctl``: serve the API, run the host agent, inspect and administer the fabric."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bgp.options import HELP as INJECTOR_HELP
from bgp.options import InjectorOptions
from fabric.cli import cni, hosts, ipam, ips, lab, peers, pools, routers, systemd, tokens
from fabric.cli.common import JsonOpt
from fabric.cli.output import err_console
from fabric.client.api import DEFAULT_API, ApiError, Client
from fabric.client.transport import Access
from fabric.errors import FabricError

INJECTOR_DEFAULTS = InjectorOptions()

app = typer.Typer(
    name="fabricctl",
    help="routed-fabric: IPAM and BGP peerings of a routed container fabric.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(pools.app, name="pool")
app.add_typer(hosts.app, name="host")
app.add_typer(ips.app, name="ip")
app.add_typer(peers.app, name="peer")
app.add_typer(ipam.app, name="ipam")
app.add_typer(routers.app, name="router")
app.add_typer(lab.app, name="lab")
app.add_typer(cni.app, name="cni")
app.add_typer(systemd.app, name="systemd")
app.command("tor-config")(routers.tor_config)
app.command("tor-sync")(routers.tor_sync)
app.add_typer(tokens.app, name="token")
app.command("audit")(tokens.audit)
node = typer.Typer(help="One host's view.", no_args_is_help=True)
app.add_typer(node, name="node")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def root(
    ctx: typer.Context,
    api: Annotated[
        str, typer.Option(envvar="FABRIC_API_URL", help="The controller API's URL.")
    ] = DEFAULT_API,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FABRIC_TOKEN", help="Bearer token (prefer the environment).", show_default=False
        ),
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(envvar="FABRIC_TOKEN_FILE", help="Read the token from here.")
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(envvar="FABRIC_CA_FILE", help="CA to verify the API's TLS.")
    ] = None,
) -> None:
    access = Access.load(token, token_file, ca_file)
    ctx.obj = {"client": Client(api, access=access), "access": access}


@app.command("peers")
def peers_status(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Only this host.")] = None,
    rack: Annotated[str | None, typer.Option(help="Only hosts with this rack label.")] = None,
    state: Annotated[
        str | None,
        typer.Option(help="Only sessions in this state (established, down, stale, unknown, …)."),
    ] = None,
    watch: Annotated[
        float | None, typer.Option(help="Refresh in place every this many seconds.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every (host, peer) BGP session: state, since, prefixes, last error, report age."""
    peers.show_status(ctx, host, as_json, rack=rack, state=state, watch=watch)


@app.command("routes")
def routes(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="The host.")],
    as_json: JsonOpt = False,
) -> None:
    """What the host should announce, what it announced (and since when), the difference."""
    from fabric.cli.common import client
    from fabric.cli.output import console, emit, field, print_json, tick

    view = client(ctx).get(f"/v1/hosts/{host}/routes")
    if as_json:
        print_json(view)
        return
    columns = [
        ("prefix", field("prefix")), ("kind", field("kind")),
        ("should", lambda r: tick(r["desired"])), ("announced", lambda r: tick(r["announced"])),
        ("since", field("since")),
    ]  # fmt: skip
    title = (
        f"{host} ({view['mode']}): revision {view['revision']}, agent at {view['agent_revision']}"
    )
    emit(view["routes"], columns, as_json=False, title=title,
         style=lambda r: None if r["desired"] == r["announced"] else "red")  # fmt: skip
    acked = "all acknowledged by ExaBGP" if view["acked"] else "[yellow]acks pending[/yellow]"
    ok = not view["missing"] and not view["extra"]
    verdict = "[green]in sync[/green]" if ok else "[red]out of sync[/red]"
    console.print(
        f"{verdict}: {len(view['missing'])} missing, {len(view['extra'])} extra; {acked}; "
        f"reported {view['reported_at'] or 'never'}"
    )
    for prefix, why in view["refused"].items():
        console.print(f"[red]refused by the agent[/red] {prefix}: {why}")


@app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A fabric file: pools, routers, hosts, peers.")],
    as_json: JsonOpt = False,
) -> None:
    """Create what a fabric file describes; what already exists is left as it is."""
    from fabric.cli import spec
    from fabric.cli.common import client
    from fabric.cli.output import emit, field

    done = spec.apply(client(ctx), spec.load(file))
    rows = [{"kind": a.kind, "name": a.name, "result": a.result} for a in done]
    emit(rows, [(c, field(c)) for c in ("kind", "name", "result")], as_json=as_json)


@node.command("status")
def node_status(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="The host.")],
    as_json: JsonOpt = False,
) -> None:
    """The host's BGP sessions, as its speaker reports them."""
    peers.show_status(ctx, host, as_json)


@node.command("pypy-exabgp")
def node_pypy_exabgp(
    target: Annotated[Path, typer.Argument(help="Where the virtualenv goes.")] = Path(
        "/opt/routed-fabric/exabgp-pypy"
    ),
) -> None:
    """Create a PyPy virtualenv holding the ExaBGP version we pin, for
    'agent --exabgp-python TARGET/bin/python': ExaBGP then takes in a host's routes about
    twice as fast (bench/README.md). Needs Debian's pypy3; kept if already there."""
    from bgp import exabgp_runtime
    from fabric.cli.output import console

    with console.status(f"creating a PyPy virtualenv with ExaBGP in {target}"):
        runtime = exabgp_runtime.create_pypy_env(target)
    console.print(
        f"ExaBGP {runtime.exabgp_version} on {runtime.implementation}: "
        f"fabricctl agent --exabgp-python {escape(runtime.python)}",
        soft_wrap=True,
    )


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    database_url: Annotated[str | None, typer.Option(help="Overrides FABRIC_DATABASE_URL.")] = None,
    uds: Annotated[str | None, typer.Option(help="Listen on this Unix socket instead.")] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The certificate's private key.")] = None,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Run the controller API (migrates the database first)."""
    import uvicorn

    from api.main import create_app
    from fabric.settings import Settings

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key", param_hint="--tls-cert")
    overrides = {"listen_host": host, "listen_port": port, "database_url": database_url}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.listen_host,
        port=settings.listen_port,
        uds=uds,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level=log_level,
        # Access lines are INFO: above it uvicorn would still format each one, to drop it.
        access_log=logging.getLevelName(log_level.upper()) <= logging.INFO,
        timeout_graceful_shutdown=5,
    )


@app.command("agent")
def agent(
    ctx: typer.Context,
    api: Annotated[str, typer.Option(envvar="FABRIC_API_URL", help="The controller API.")],
    host: Annotated[
        str, typer.Option(envvar="FABRIC_HOST", help="This host's name in the controller.")
    ],
    state_dir: Annotated[Path, typer.Option(help="Where exabgp.conf, logs and pids go.")] = Path(
        "/var/lib/routed-fabric"
    ),
    require_kernel_route: Annotated[
        bool, typer.Option(help=INJECTOR_HELP["require_kernel_route"])
    ] = INJECTOR_DEFAULTS.require_kernel_route,
    allow: Annotated[list[str] | None, typer.Option(help=INJECTOR_HELP["allow"])] = None,
    kernel: Annotated[
        bool, typer.Option("--kernel/--no-kernel", help=INJECTOR_HELP["kernel"])
    ] = INJECTOR_DEFAULTS.kernel,
    reconcile_seconds: Annotated[
        float, typer.Option(help=INJECTOR_HELP["reconcile_seconds"])
    ] = INJECTOR_DEFAULTS.reconcile_seconds,
    metrics: Annotated[
        str | None, typer.Option(help="Serve Prometheus metrics on ADDRESS:PORT, e.g. :9479.")
    ] = "127.0.0.1:9479",
    exabgp_python: Annotated[
        str | None,
        typer.Option(
            envvar="FABRIC_EXABGP_PYTHON",
            help="The interpreter that runs ExaBGP (default: this one); see 'node pypy-exabgp'.",
        ),
    ] = None,
) -> None:
    """Run the host agent: ExaBGP, the route-injection process, kernel routes."""
    from bgp import agent as host_agent

    options = InjectorOptions(
        require_kernel_route=require_kernel_route,
        allow=tuple(allow or ()),
        kernel=kernel,
        reconcile_seconds=reconcile_seconds,
    )
    host_agent.main(
        api, host, state_dir, options, ctx.find_root().obj["access"],
        metrics_address=metrics or None, exabgp_python=exabgp_python,
    )  # fmt: skip


@db_app.command("upgrade")
def db_upgrade(
    database_url: Annotated[str | None, typer.Option(help="Overrides FABRIC_DATABASE_URL.")] = None,
) -> None:
    """Apply pending migrations (the server also does it on start)."""
    from fabric.settings import Settings
    from fabric.store import migrate
    from fabric.store.database import Database

    settings = Settings(database_url=database_url) if database_url else Settings()
    database = Database(settings.database_url)
    try:
        typer.echo(f"schema at revision {migrate.upgrade(database.write_engine, database.url)}")
    finally:
        database.dispose()


def main() -> None:
    try:
        app()
    except (ApiError, FabricError) as exc:  # the API said no, or a local check did
        message = escape(f"[{exc.code}]: {exc.detail}")
        err_console.print(f"[red]error[/red] {message}", highlight=False)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
