"""The lab demo: deploy leaf-spine, give every host two containers, show routes and pings.

``python -m fabric.lab.demo [--keep]`` (``make demo``). The lab test drives the
same steps (``Fabric`` below) and asserts on them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fabric.lab import containers
from fabric.lab import deploy as lab_deploy
from fabric.lab.netns import Lab, sh, wait_for
from fabric.lab.runtime import address_of
from fabric.lab.topology import Topology, load

REPO = Path(__file__).resolve().parents[2]
LEAF_SPINE = REPO / "containerlab" / "leaf-spine.clab.yml"
API = "http://10.0.255.1:8080"  # the controller node of both topologies
FABRICCTL = [sys.executable, "-m", "fabric.cli.main"]


@dataclass
class Fabric:
    """A deployed topology, seen from outside: its API (through the controller node), its FRRs."""

    topo: Topology
    workloads: Lab
    containers: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # ns, ip, host
    addresses6: dict[str, str] = field(default_factory=dict)  # dual-stack containers' IPv6

    def fabricctl_text(self, *args: str) -> str:
        """The CLI against the lab's API, run inside the controller node (the API's network)."""
        ns = self.topo.namespace("controller")
        token = self.topo.nodes["controller"].env.get("FABRIC_BOOTSTRAP_TOKEN", "")
        cmd = ["ip", "netns", "exec", ns, "env", f"FABRIC_TOKEN={token}", *FABRICCTL]
        return sh(*cmd, "--api", API, *args).stdout

    def fabricctl(self, *args: str) -> Any:
        """The same, with ``--json``, parsed."""
        return json.loads(self.fabricctl_text(*args, "--json"))

    def vtysh(self, node: str, command: str) -> Any:
        out = lab_deploy.vtysh(self.topo, node, command)
        return json.loads(out) if command.endswith("json") else out

    def bgp_nexthops(self, router: str) -> dict[str, set[str]]:
        routes = self.vtysh(router, "show ip route bgp json")
        return {
            prefix: {h["ip"] for h in entries[0]["nexthops"] if h.get("active")}
            for prefix, entries in routes.items()
        }

    def hosts(self) -> list[str]:
        return [h["name"] for h in self.fabricctl("host", "list")]

    def cni_token(self) -> Path:
        """An orchestrator token for fabric-ipam, in a 0600 file (made once)."""
        path = self.workloads.workdir / "cni.token"
        if not path.exists():
            made = self.fabricctl("token", "create", "cni", "--role", "orchestrator")
            path.touch(0o600)
            path.write_text(made["token"])
        return path

    def start_container(self, host: str, name: str, family: str = "4") -> str:
        """A container behind the host, its network made by fabric-cni; its address (IPv4
        unless ``family`` is "6"; a "dual" container's IPv6 address goes to ``addresses6``)."""
        network = containers.host_network(API, self.cni_token(), host, family=family)
        ns, result = containers.start(self.topo, host, name, network)
        address = address_of(result, 6 if family == "6" else 4)
        if family == "dual":
            self.addresses6[name] = address_of(result, 6)
        self.containers[name] = (ns, address, host)
        return address

    def add_containers(self, per_host: int = 2) -> None:
        """Containers on every host, through the CNI plugins (addresses from the API)."""
        for host in self.hosts():
            for i in range(1, per_host + 1):
                self.start_container(host, f"{host}c{i}")

    def ping_matrix(self) -> dict[tuple[str, str], bool]:
        return {
            (src, dst): self.workloads.ping(ns, address)
            for src, (ns, _, _) in self.containers.items()
            for dst, (_, address, _) in self.containers.items()
            if src != dst
        }


def _matrix_table(fabric: Fabric, matrix: dict[tuple[str, str], bool]) -> Table:
    names = list(fabric.containers)
    table = Table(title="ping matrix (row pings column)", header_style="bold")
    table.add_column("")
    for n in names:
        table.add_column(n, justify="center")
    for src in names:
        cells = [
            "·" if src == dst else ("[green]ok[/green]" if matrix[(src, dst)] else "[red]✗[/red]")
            for dst in names
        ]
        table.add_row(src, *cells)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topology", type=Path, default=LEAF_SPINE)
    parser.add_argument("--keep", action="store_true", help="leave the lab running")
    args = parser.parse_args(argv)
    console = Console()
    if os.geteuid() != 0:
        console.print("[yellow]the lab demo needs root (network namespaces); skipped[/yellow]")
        return 0
    own_base = not os.environ.get("CLAB_LABDIR_BASE")
    base = Path(os.environ.get("CLAB_LABDIR_BASE") or tempfile.mkdtemp(prefix="rf-demo-"))
    os.chmod(base, 0o755)
    os.environ["CLAB_LABDIR_BASE"] = str(base)
    topo = load(args.topology, f"demo-{uuid.uuid4().hex[:4]}")
    fabric = Fabric(topo, Lab(base))
    try:
        with console.status(f"deploying {args.topology.name} as lab {topo.name}…"):
            lab_deploy.deploy(topo, lambda m: console.print(f"[dim]•[/dim] {m}"))
        with console.status("waiting for the controller…"):
            wait_for("the controller to be seeded", lambda: len(fabric.hosts()) > 0, 60)
        fabric.add_containers()
        console.print(f"{len(fabric.containers)} containers started through fabric-cni")
        with console.status("waiting for BGP to converge…"):
            wait_for("every pair", lambda: all(fabric.ping_matrix().values()), 90, 1)
        for node in topo.nodes.values():
            if node.is_frr:
                console.rule(f"{node.name}: show ip route bgp")
                console.print(fabric.vtysh(node.name, "show ip route bgp"), highlight=False)
        matrix = fabric.ping_matrix()
        console.print(_matrix_table(fabric, matrix))
        ok = all(matrix.values())
        console.print(f"{sum(matrix.values())} of {len(matrix)} pairs reachable")
        if args.keep:
            console.print(f"lab kept: fabricctl lab destroy {args.topology} --name {topo.name} "
                          f"(with CLAB_LABDIR_BASE={base})")  # fmt: skip
        return 0 if ok else 1
    finally:
        if not args.keep:
            fabric.workloads.destroy()
            lab_deploy.destroy(topo)
            if own_base:
                shutil.rmtree(base, ignore_errors=True)
            console.print(f"lab {topo.name} destroyed")


if __name__ == "__main__":
    raise SystemExit(main())
