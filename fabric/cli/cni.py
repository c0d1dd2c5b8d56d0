"""``fabricctl cni install``: the CNI plugins where a runtime looks for them, and a network.

containerd and CRI-O (so kubelet) find plugins in their CNI bin directory (``/opt/cni/bin``)
and networks in ``/etc/cni/net.d/*.conflist`` (the first file by name wins).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from fabric.cli.output import console, err_console

app = typer.Typer(help="The CNI plugins fabric-cni and fabric-ipam on this host.",
                  no_args_is_help=True)  # fmt: skip
PLUGINS = ("fabric-cni", "fabric-ipam")


def conflist(network: str, api: str, token_file: Path, host: str | None, mtu: int,
             ca_file: Path | None) -> dict[str, Any]:  # fmt: skip
    ipam: dict[str, Any] = {"type": "fabric-ipam", "api_url": api, "token_file": str(token_file)}
    if host:
        ipam["host"] = host
    if ca_file:
        ipam["ca_file"] = str(ca_file)
    return {"cniVersion": "1.1.0", "name": network,
            "plugins": [{"type": "fabric-cni", "mtu": mtu, "ipam": ipam}]}  # fmt: skip


def link_plugins(bin_dir: Path) -> list[Path]:
    """Symlinks in ``bin_dir`` to the plugins installed beside this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for plugin in PLUGINS:
        source = Path(sys.executable).with_name(plugin)
        if not source.exists():
            raise FileNotFoundError(f"{source} is missing: reinstall routed-fabric")
        target = bin_dir / plugin
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(source)
        made.append(target)
    return made


@app.command("install")
def install(
    bin_dir: Annotated[Path, typer.Option(help="The runtime's CNI bin directory.")] = Path(
        "/opt/cni/bin"
    ),
    conf_dir: Annotated[Path, typer.Option(help="The runtime's CNI config directory.")] = Path(
        "/etc/cni/net.d"
    ),
    api: Annotated[str | None, typer.Option(help="Write a network that uses this API.")] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="A 0600 file with an orchestrator token.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="This host's name (default: hostname).")] = None,
    ca_file: Annotated[Path | None, typer.Option(help="The API's CA, for https.")] = None,
    network: Annotated[str, typer.Option(help="The network's name.")] = "fabric",
    mtu: Annotated[int, typer.Option(help="The containers' MTU.")] = 1500,
) -> None:
    """Link the plugins into the runtime's bin directory; with --api, write the network."""
    for target in link_plugins(bin_dir):
        console.print(f"linked {target} → {target.resolve()}", highlight=False)
    if api is None:
        return
    if token_file is None:
        err_console.print("[red]--api needs --token-file[/red] (an orchestrator token, mode 0600)")
        raise SystemExit(2)
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / f"10-{network}.conflist"
    doc = conflist(network, api, token_file, host, mtu, ca_file)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"wrote {path}", highlight=False)
