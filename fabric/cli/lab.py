"""``fabricctl lab deploy | inspect | destroy FILE``: containerlab topologies on namespaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fabric.cli.common import JsonOpt
from fabric.cli.output import console, emit, err_console, field, print_json
from fabric.lab import containers
from fabric.lab import deploy as lab
from fabric.lab.runtime import CniFailure
from fabric.lab.topology import load

app = typer.Typer(
    help="Deploy containerlab topology files onto Linux network namespaces (no Docker needed).",
    no_args_is_help=True,
)
FileArg = Annotated[Path, typer.Argument(help="A containerlab topology file.", exists=True)]
NameOpt = Annotated[str | None, typer.Option("--name", help="Override the lab's name.")]

NODE_COLUMNS = [
    ("node", field("name")),
    ("namespace", field("namespace")),
    ("image", field("image")),
    ("state", field("state")),
    ("processes", field("processes")),
    ("addresses", field("addresses")),
]


def _progress(message: str) -> None:
    err_console.print(f"[dim]•[/dim] {message}", highlight=False)


@app.command("deploy")
def deploy(file: FileArg, name: NameOpt = None) -> None:
    """Create the lab's namespaces and links, start FRR, run every node's exec."""
    topo = load(file, name)
    try:
        with err_console.status(f"deploying {topo.name}…"):
            lab.deploy(topo, _progress)
    except Exception as exc:
        err_console.print(f"[red]deploy failed:[/red] {exc}", highlight=False)
        err_console.print(
            f"clean up with: fabricctl lab destroy {file}" + (f" --name {name}" if name else "")
        )
        raise SystemExit(1) from None
    console.print(f"lab {topo.name} deployed: {len(topo.nodes)} nodes, {len(topo.links)} links")


@app.command("inspect")
def inspect(file: FileArg, name: NameOpt = None, as_json: JsonOpt = False) -> None:
    """The lab's nodes, their state and addresses."""
    topo = load(file, name)
    rows = [s.as_dict() for s in lab.inspect(topo)]
    emit(
        rows, NODE_COLUMNS, as_json=as_json, title=f"lab {topo.name}",
        style=lambda r: None if r["state"] == "running" else "red",
    )  # fmt: skip


@app.command("destroy")
def destroy(file: FileArg, name: NameOpt = None) -> None:
    """Remove every namespace, link and process of the lab (a no-op if there is none)."""
    topo = load(file, name)
    removed = lab.destroy(topo, _progress)
    console.print(f"lab {topo.name}: {removed} node(s) removed")


@app.command("vtysh")
def vtysh(
    file: FileArg,
    node: Annotated[str, typer.Argument(help="An FRR node of the lab.")],
    command: Annotated[str, typer.Option("-c", help="The vtysh command.")],
    name: NameOpt = None,
) -> None:
    """Run a vtysh command on one of the lab's FRR nodes."""
    print(lab.vtysh(load(file, name), node, command), end="")


container_app = typer.Typer(
    help="Containers on a lab host, made through the CNI plugins as a runtime makes them.",
    no_args_is_help=True,
)
app.add_typer(container_app, name="container")
HostArg = Annotated[str, typer.Argument(help="The lab host the container runs on.")]
ContainerArg = Annotated[str, typer.Argument(help="The container's name (its CNI container id).")]
LAB_API = "http://10.0.255.1:8080"  # the controller node of the shipped topologies
ApiOpt = Annotated[str, typer.Option("--api", help="The API as the lab's hosts reach it.")]
TokenFileOpt = Annotated[
    Path,
    typer.Option("--token-file", help="A 0600 file with an orchestrator token (fabric-ipam's).",
                 exists=True, dir_okay=False),
]  # fmt: skip
ConflistOpt = Annotated[
    Path | None,
    typer.Option("--conflist", help="A .conflist to use instead of fabric-cni + fabric-ipam.",
                 exists=True, dir_okay=False),
]  # fmt: skip


def _network(api: str, token_file: Path, host: str, conflist: Path | None) -> dict[str, Any]:
    if conflist is not None:
        network: dict[str, Any] = json.loads(conflist.read_text())
        return network
    return containers.host_network(api, token_file, host)


@container_app.command("add")
def container_add(
    file: FileArg,
    host: HostArg,
    container: ContainerArg,
    token_file: TokenFileOpt,
    api: ApiOpt = LAB_API,
    conflist: ConflistOpt = None,
    name: NameOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a container on a host: a namespace, then CNI ADD through the plugins."""
    topo = load(file, name)
    try:
        ns, result = containers.start(
            topo, host, container, _network(api, token_file, host, conflist)
        )
    except CniFailure as exc:
        err_console.print(f"[red]CNI ADD failed:[/red] {exc.answer}", highlight=False)
        raise SystemExit(1) from None
    if as_json:
        print_json({"namespace": ns, "result": result})
        return
    addresses = ", ".join(ip["address"] for ip in result.get("ips", []))
    console.print(f"{container} on {host}: {addresses} (namespace {ns})", highlight=False)


@container_app.command("del")
def container_del(
    file: FileArg,
    host: HostArg,
    container: ContainerArg,
    token_file: TokenFileOpt,
    api: ApiOpt = LAB_API,
    conflist: ConflistOpt = None,
    name: NameOpt = None,
) -> None:
    """Stop a container: CNI DEL (its address is released), then its namespace goes."""
    topo = load(file, name)
    try:
        containers.stop(topo, host, container, _network(api, token_file, host, conflist))
    except CniFailure as exc:
        err_console.print(f"[red]CNI DEL failed:[/red] {exc.answer}", highlight=False)
        raise SystemExit(1) from None
    console.print(f"{container} on {host}: deleted")
