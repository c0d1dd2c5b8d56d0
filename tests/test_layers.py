"""The import-linter contracts (pyproject.toml) cover the whole of fabric/: a module added to the
domain is under the no-I/O contract, a room added beside store/ and client/ is placed in a layer."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def contract(name_starts: str) -> dict[str, list[str]]:
    found = [c for c in CONFIG["contracts"] if c["name"].startswith(name_starts)]
    assert len(found) == 1, name_starts
    return found[0]


def children_of_fabric() -> set[str]:
    names = set()
    for path in (ROOT / "fabric").iterdir():
        if path.name == "__init__.py" or path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
            names.add(f"fabric.{path.stem}")
    return names


def test_every_module_of_fabric_is_the_domain_or_a_layer() -> None:
    domain = set(contract("The domain does no I/O")["source_modules"])
    layered = {m.strip() for layer in contract("Layers:")["layers"] for m in layer.split("|")}
    rooms = {m for m in layered if m.startswith("fabric.")}
    assert domain.isdisjoint(rooms)
    assert children_of_fabric() == domain | rooms


@pytest.mark.parametrize("room", ["fabric.store", "fabric.client", "fabric.cli", "fabric.lab"])
def test_the_domain_may_not_import_a_room(room: str) -> None:
    assert room in contract("The domain does no I/O")["forbidden_modules"]


def _product_modules() -> list[Path]:
    return sorted(p for room in ("fabric", "api", "bgp") for p in (ROOT / room).rglob("*.py"))


def test_no_module_over_400_lines_and_no_function_over_50() -> None:
    """Issue 23's measure of rooms small enough to change: a module or function past it is
    split, not waved through."""
    long_modules = [
        str(p.relative_to(ROOT)) for p in _product_modules()
        if len(p.read_text().splitlines()) > 400
    ]  # fmt: skip
    long_functions = [
        f"{p.relative_to(ROOT)}:{node.lineno} {node.name}"
        for p in _product_modules()
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None and node.end_lineno - node.lineno + 1 > 50
    ]  # fmt: skip
    assert (long_modules, long_functions) == ([], [])
