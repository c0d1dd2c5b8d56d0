"""A fabric described in one YAML file (pools, routers, hosts, peers), applied through the API.

Used by ``fabricctl apply`` and by the containerlab controller node to seed a
lab. Applying twice is harmless: what already exists is reported and left as
it is (this is a seed, not a reconciler: it never changes or deletes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fabric.client.api import ApiError, Client
from fabric.errors import InvalidInput

# In dependency order: peers and agent tokens name hosts.
SECTIONS = (("pools", "/v1/pools"), ("routers", "/v1/routers"), ("hosts", "/v1/hosts"),
            ("peers", "/v1/peers"), ("tokens", "/v1/tokens"))  # fmt: skip


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    result: str  # created | exists


def load(path: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"Cannot read the fabric file {path}: {exc}", code="invalid_spec"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping of sections.", code="invalid_spec")
    unknown = set(data) - {name for name, _ in SECTIONS}
    if unknown:
        raise InvalidInput(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(n for n, _ in SECTIONS)}.",
            code="invalid_spec",
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for name, _ in SECTIONS:
        items = data.get(name) or []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidInput(f"{path}: {name} must be a list of objects.", code="invalid_spec")
        out[name] = items
    return out


def apply(client: Client, spec: dict[str, list[dict[str, Any]]]) -> list[Applied]:
    done = []
    for section, path in SECTIONS:
        for item in spec.get(section, []):
            name = str(item.get("name", "?"))
            try:
                client.post(path, item)
                result = "created"
            except ApiError as exc:
                if exc.status != 409 or not exc.code.endswith("_exists"):
                    raise
                result = "exists"
            done.append(Applied(section.rstrip("s"), name, result))
    return done
