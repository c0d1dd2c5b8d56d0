"""``fabricctl lab deploy | inspect | destroy``: a containerlab topology on network namespaces.

Each node becomes the namespace ``clab-<lab>-<node>`` (containerlab's
container name), each link a veth pair. FRR-image nodes get the daemons their
bound ``/etc/frr/daemons`` enables, loaded with their bound ``/etc/frr/frr.conf``;
then every node's ``exec`` commands run inside its namespace, in file order, as
containerlab runs them after the links exist. Commands see the host's
filesystem, so container paths that are bound are rewritten to their host
source (``Node.translate``), and ``PATH`` starts with this installation's
``bin`` so ``fabricctl`` is found without installing it again.

``destroy`` needs nothing but the file: it removes every ``clab-<lab>-<node>``
namespace that exists, ending the processes inside by PID; veths die with
their namespace. So it also cleans up a deploy that failed half-way, and a
second run does nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.errors import Conflict, InvalidInput
from fabric.lab import containers
from fabric.lab.netns import Lab, namespaces, pids_in, remove_namespace, sh
from fabric.lab.topology import Node, Topology

FRR_DAEMONS = ("zebra", "bgpd", "staticd", "bfdd")
EXEC_TIMEOUT = 120.0
Progress = Callable[[str], None]


def frr_run_dir(topo: Topology, node: str) -> Path:
    return topo.lab_dir / node / "frr-run"


def _daemons(node: Node, path: Path) -> list[str]:
    text = path.read_text()
    wanted = re.findall(r"^\s*([a-z0-9]+d)\s*=\s*yes\b", text, flags=re.M)
    unknown = [d for d in wanted if d not in FRR_DAEMONS]
    if unknown:
        raise InvalidInput(
            f"node {node.name}: FRR daemon {unknown[0]} is not supported by fabricctl lab "
            f"(supported: {', '.join(FRR_DAEMONS)}).",
            code="unsupported_topology",
        )
    return wanted


def _start_frr(lab: Lab, topo: Topology, node: Node) -> None:
    conf, daemons = node.bound("/etc/frr/frr.conf"), node.bound("/etc/frr/daemons")
    if conf is None or daemons is None:
        raise InvalidInput(
            f"node {node.name}: an FRR node needs binds for /etc/frr/frr.conf and "
            "/etc/frr/daemons.",
            code="unsupported_topology",
        )
    ns = topo.namespace(node.name)
    lab.frr_integrated(ns, frr_run_dir(topo, node.name), conf.read_text(), _daemons(node, daemons))


def _run_exec(topo: Topology, node: Node, command: str) -> None:
    workdir = topo.lab_dir / node.name
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **{k: node.translate(v) for k, v in node.env.items()},
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    # Output goes to a file, not a pipe: a command that leaves a process behind
    # (a daemon it starts) must not keep the deploy waiting for end-of-file.
    log = workdir / "exec.log"
    with log.open("a") as out:
        out.write(f"$ {command}\n")
        out.flush()
        proc = subprocess.run(
            ["ip", "netns", "exec", topo.namespace(node.name), "sh", "-c", node.translate(command)],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            timeout=EXEC_TIMEOUT,
        )  # fmt: skip
    if proc.returncode != 0:
        tail = log.read_text()[-2000:].strip()
        raise RuntimeError(
            f"node {node.name}: exec {command!r} failed ({proc.returncode}); {log}:\n{tail}"
        )


def deploy(topo: Topology, progress: Progress = lambda _: None) -> None:
    taken = sorted({topo.namespace(n) for n in topo.nodes} & namespaces())
    if taken:
        raise Conflict(
            f"Lab {topo.name} is already deployed ({taken[0]} exists): destroy it first.",
            code="lab_exists",
        )
    for node in topo.nodes.values():  # fail on a missing bind before creating anything
        for bind in node.binds:
            if not bind.source.exists() and "clab-" not in str(bind.source):
                raise InvalidInput(
                    f"node {node.name}: bind source {bind.source} does not exist.",
                    code="unsupported_topology",
                )
    topo.lab_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(topo.lab_dir, 0o755)  # FRR runs as user frr and reads its files below
    lab = Lab(topo.lab_dir, prefix=f"clab-{topo.name}")
    for name in topo.nodes:
        (topo.lab_dir / name).mkdir(exist_ok=True)
        os.chmod(topo.lab_dir / name, 0o755)
        lab.ns(name)
    progress(f"{len(topo.nodes)} namespaces created")
    for node in topo.nodes.values():  # before the links and daemons, as a container's are
        for key, value in node.sysctls.items():
            sh("ip", "netns", "exec", topo.namespace(node.name), "sysctl", "-qw", f"{key}={value}")
    for link in topo.links:
        lab.link(topo.namespace(link.a[0]), link.a[1], topo.namespace(link.b[0]), link.b[1])
    progress(f"{len(topo.links)} links created")
    for node in topo.nodes.values():
        if node.is_frr:
            _start_frr(lab, topo, node)
            progress(f"{node.name}: FRR started")
    for node in topo.nodes.values():
        for command in node.exec:
            _run_exec(topo, node, command)
        if node.exec:
            progress(f"{node.name}: {len(node.exec)} exec command(s) done")


def destroy(topo: Topology, progress: Progress = lambda _: None) -> int:
    removed = 0
    for name in topo.nodes:
        containers.remove_all(topo, name)
        if remove_namespace(topo.namespace(name)):
            removed += 1
            progress(f"{name}: removed")
    return removed


@dataclass(frozen=True)
class NodeState:
    name: str
    namespace: str
    kind: str
    image: str
    state: str
    processes: int
    addresses: list[str]
    frr_run: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _addresses(ns: str) -> list[str]:
    out = sh("ip", "netns", "exec", ns, "ip", "-j", "addr", "show", check=False).stdout
    found = []
    for link in json.loads(out or "[]"):
        if link.get("ifname") == "lo":
            continue
        for a in link.get("addr_info", []):
            if a.get("scope") == "global":
                found.append(f"{link['ifname']} {a['local']}/{a['prefixlen']}")
    return found


def inspect(topo: Topology) -> list[NodeState]:
    existing = namespaces()
    states = []
    for name, node in topo.nodes.items():
        ns = topo.namespace(name)
        up = ns in existing
        procs = len(pids_in(ns)) if up else 0
        states.append(
            NodeState(
                name=name, namespace=ns, kind="linux", image=node.image,
                state=("running" if procs else "no processes") if up else "absent",
                processes=procs, addresses=_addresses(ns) if up else [],
                frr_run=str(frr_run_dir(topo, name)) if node.is_frr else None,
            )
        )  # fmt: skip
    return states


def vtysh(topo: Topology, node: str, command: str) -> str:
    """Run a vtysh command on an FRR node of the lab."""
    if node not in topo.nodes or not topo.nodes[node].is_frr:
        raise InvalidInput(f"{node!r} is not an FRR node of lab {topo.name}.", code="not_frr")
    run = frr_run_dir(topo, node)
    return sh(
        "ip", "netns", "exec", topo.namespace(node), "vtysh", "--vty_socket", str(run),
        "-c", command,
    ).stdout  # fmt: skip
