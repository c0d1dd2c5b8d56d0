"""A runtime starts the plugins once per container: their imports stay light (bgp/cni/)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("httpx", "pydantic", "pyroute2", "sqlalchemy", "fastapi", "typer", "rich", "fabric")


def test_the_plugins_import_none_of_the_heavy_libraries() -> None:
    probe = ("import json, sys; import bgp.cni.plugin, bgp.cni.ipam, bgp.cni.run; "
             "print(json.dumps(sorted(sys.modules)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert [m for m in HEAVY if m in loaded] == []
