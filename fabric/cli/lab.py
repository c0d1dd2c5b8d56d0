"""``fabricctl lab deploy | inspect | destroy FILE``: containerlab topologies on namespaces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fabric.cli.common import JsonOpt
from fabric.cli.output import console, emit, err_console, field
from fabric.lab import deploy as lab
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
