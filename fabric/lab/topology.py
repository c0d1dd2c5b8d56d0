"""The subset of containerlab's topology format that ``fabricctl lab`` deploys.

Anything outside the subset fails loudly, naming the key, rather than being
quietly ignored: a file that deploys here must mean the same under containerlab.
Supported: ``name``; ``topology.nodes`` of ``kind: linux`` with ``image``,
``binds``, ``exec``, ``env``, ``labels``, ``sysctls`` (``net.*`` only: those are the
namespace's own; others would change the machine); ``topology.links`` in the brief
``endpoints: ["node:iface", "node:iface"]`` form. Bind sources are relative to
the topology file, and ``__clabNodeDir__`` / ``__clabDir__`` expand as in
containerlab (the lab directory is ``clab-<name>`` next to the file, or under
``$CLAB_LABDIR_BASE``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fabric.errors import InvalidInput

TOP_KEYS = {"name", "topology"}
TOPOLOGY_KEYS = {"nodes", "links"}
NODE_KEYS = {"kind", "image", "binds", "exec", "env", "labels", "sysctls"}
LINK_KEYS = {"endpoints"}
KINDS = {"linux"}
# A brief endpoint, node:iface (containerlab's schema cannot check it: see its README).
ENDPOINT = re.compile(r"^([A-Za-z0-9_.-]+):([A-Za-z0-9_.@/-]{1,15})$")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SYSCTL = re.compile(r"^net\.[A-Za-z0-9_.-]+$")  # per network namespace
SYSCTL_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _fail(path: Path, message: str) -> InvalidInput:
    return InvalidInput(f"{path.name}: {message}", code="unsupported_topology")


@dataclass(frozen=True)
class Bind:
    source: Path
    target: str
    mode: str = "rw"


@dataclass
class Node:
    name: str
    image: str
    binds: list[Bind] = field(default_factory=list)
    exec: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)

    @property
    def is_frr(self) -> bool:
        return "frr" in self.image.rsplit("/", 1)[-1].lower()

    def bound(self, target: str) -> Path | None:
        return next((b.source for b in self.binds if b.target == target), None)

    def translate(self, text: str) -> str:
        """Container paths in ``text`` replaced by the host paths bound there (longest first)."""
        for b in sorted(self.binds, key=lambda b: -len(b.target)):
            text = re.sub(rf"{re.escape(b.target)}(?=$|[/\s\"':;])", str(b.source), text)
        return text


@dataclass(frozen=True)
class Link:
    a: tuple[str, str]
    b: tuple[str, str]


@dataclass
class Topology:
    name: str
    path: Path
    nodes: dict[str, Node]
    links: list[Link]

    @property
    def lab_dir(self) -> Path:
        base = os.environ.get("CLAB_LABDIR_BASE")
        return (Path(base) if base else self.path.parent) / f"clab-{self.name}"

    def namespace(self, node: str) -> str:
        return f"clab-{self.name}-{node}"


def _check_keys(path: Path, where: str, data: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _fail(path, f"{where} must be a mapping.")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(
            path,
            f"{where}: key {unknown[0]!r} is not supported by fabricctl lab "
            f"(supported: {', '.join(sorted(allowed))}).",
        )
    return data


def _bind(path: Path, lab_dir: Path, node: str, spec: Any) -> Bind:
    text = str(spec)
    text = text.replace("__clabNodeDir__", str(lab_dir / node)).replace("__clabDir__", str(lab_dir))
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[1].startswith("/"):
        raise _fail(path, f"node {node}: bind {spec!r} is not 'source:/target[:ro|rw]'.")
    source = Path(parts[0])
    if not source.is_absolute():
        source = (path.parent / source).resolve()
    return Bind(source, parts[1].rstrip("/") or "/", parts[2] if len(parts) == 3 else "rw")


def _endpoint(path: Path, nodes: dict[str, Node], text: Any) -> tuple[str, str]:
    m = ENDPOINT.match(str(text))
    if not m:
        raise _fail(path, f"link endpoint {text!r} is not 'node:interface'.")
    if m.group(1) not in nodes:
        raise _fail(path, f"link endpoint {text!r} names no node of this topology.")
    return m.group(1), m.group(2)


def _sysctls(path: Path, where: str, spec: Any) -> dict[str, str]:
    if not isinstance(spec, dict):
        raise _fail(path, f"{where}: sysctls must be a mapping of name: value.")
    for key, value in spec.items():
        if not SYSCTL.match(str(key)):
            raise _fail(path, f"{where}: sysctl {key!r} is not supported: only net.* ones, the "
                        "network namespace's own, are set (others would change the machine).")
        if isinstance(value, bool) or not SYSCTL_VALUE.match(str(value)):
            raise _fail(path, f"{where}: sysctl {key} needs a plain number or word.")
    return {str(k): str(v) for k, v in spec.items()}


def load(path: Path, name: str | None = None) -> Topology:
    """Read and check a topology file; ``name`` overrides the lab name (``--name``)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot read it: {exc}") from None
    data = _check_keys(path, "top level", data, TOP_KEYS)
    lab = name or data.get("name")
    if not isinstance(lab, str) or not NAME.match(lab):
        raise _fail(path, "the lab needs a name of letters, digits, '-' and '_' (40 at most).")
    topo = _check_keys(path, "topology", data.get("topology"), TOPOLOGY_KEYS)
    result = Topology(lab, path.resolve(), {}, [])
    for node_name, spec in (topo.get("nodes") or {}).items():
        where = f"node {node_name}"
        if not NAME.match(str(node_name)):
            raise _fail(path, f"{where}: node names are letters, digits, '-' and '_'.")
        spec = _check_keys(path, where, spec or {}, NODE_KEYS)
        if spec.get("kind") not in KINDS:
            raise _fail(path, f"{where}: kind {spec.get('kind')!r} is not supported (only linux).")
        if not spec.get("image"):
            raise _fail(path, f"{where}: an image is required.")
        result.nodes[node_name] = Node(
            name=node_name,
            image=str(spec["image"]),
            binds=[_bind(path, result.lab_dir, node_name, b) for b in spec.get("binds") or []],
            exec=[str(c) for c in spec.get("exec") or []],
            env={str(k): str(v) for k, v in (spec.get("env") or {}).items()},
            labels={str(k): str(v) for k, v in (spec.get("labels") or {}).items()},
            sysctls=_sysctls(path, where, spec.get("sysctls") or {}),
        )
    seen: set[tuple[str, str]] = set()
    for i, link in enumerate(topo.get("links") or []):
        link = _check_keys(path, f"link {i + 1}", link, LINK_KEYS)
        ends = link.get("endpoints")
        if not isinstance(ends, list) or len(ends) != 2:
            raise _fail(path, f"link {i + 1}: endpoints must be a list of two 'node:iface'.")
        a, b = (_endpoint(path, result.nodes, e) for e in ends)
        for end in (a, b):
            if end in seen:
                raise _fail(path, f"interface {end[0]}:{end[1]} is used by two links.")
            seen.add(end)
        result.links.append(Link(a, b))
    return result
