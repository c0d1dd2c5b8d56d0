"""ToR configs with inbound filters from IPAM ownership, FRR and BIRD: golden files.

The scenario is the rack lab's fabric after a few allocations, one of them an
address h2 holds inside h1's block. Regenerate after a deliberate change with
``FABRIC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/fabric/render/test_tor_filters.py``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from fabric.cli import spec
from fabric.client.api import Client
from fabric.settings import Settings
from tests.harness.servers import ADMIN, ADMIN_TOKEN

REPO = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def rack(tmp_path: Path) -> Iterator[Client]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", bootstrap_token=ADMIN_TOKEN)  # type: ignore[call-arg]
    with TestClient(create_app(settings), headers=ADMIN) as http:
        client = Client("http://testserver", http=http)
        spec.apply(client, spec.load(REPO / "containerlab" / "rack" / "fabric.yml"))
        for handle in ("a", "b"):
            client.post("/v1/allocations", {"host": "h1", "handle": handle})
        client.post("/v1/allocations", {"host": "h2", "handle": "c"})
        # h2 takes an address inside h1's block: h2 may announce that /32, nothing else of it.
        client.post("/v1/allocations", {"host": "h2", "handle": "d", "address": "10.244.0.10"})
        yield client


def config(client: Client, fmt: str) -> str:
    return client.text("/v1/routers/tor/config", format=fmt, filters="true")


@pytest.mark.parametrize("fmt", ["frr", "bird"])
def test_filtered_config_matches_golden(rack: Client, fmt: str) -> None:
    rendered = config(rack, fmt)
    golden = GOLDEN / f"tor.{fmt}.conf"
    if os.environ.get("FABRIC_UPDATE_GOLDEN"):
        golden.write_text(rendered)
    assert rendered == golden.read_text()


def test_filters_follow_ownership(rack: Client) -> None:
    frr = config(rack, "frr")
    assert "ip prefix-list host-h1-in seq 10 deny 10.244.0.10/32" in frr
    assert "ip prefix-list host-h1-in seq 20 permit 10.244.0.0/26 le 32" in frr
    assert "ip prefix-list host-h2-in seq 10 permit 10.244.0.64/26 le 32" in frr
    assert "ip prefix-list host-h2-in seq 20 permit 10.244.0.10/32" in frr
    assert "neighbor 10.0.1.1 maximum-prefix 65" in frr and "10.0.2.1 maximum-prefix 66" in frr
    # Defined before used: loaded line by line, a list named but not yet defined denies all.
    assert frr.index("ip prefix-list host-h1-in") < frr.index("prefix-list host-h1-in in")
    rack.post("/v1/allocations/release", {"handle": "d"})
    after = config(rack, "frr")
    assert "10.244.0.10/32" not in after and after != frr
    bird = config(rack, "bird")
    assert "if net ~ [ 10.244.0.64/26{26,32} ] then accept;" in bird
    assert "import limit 65 action disable;" in bird


def test_bird_accepts_the_rendered_config(rack: Client) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(config(rack, "bird"))
        f.flush()
        checked = subprocess.run(["bird", "-p", "-c", f.name], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_frr_accepts_the_rendered_config(rack: Client, tmp_path: Path) -> None:
    (tmp_path / "frr.conf").write_text(config(rack, "frr"))
    checked = subprocess.run(
        ["vtysh", "--config_dir", str(tmp_path), "-C"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
