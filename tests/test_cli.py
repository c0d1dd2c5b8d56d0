"""fabricctl against a real server process: tables for people, JSON for scripts, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.servers import ADMIN_TOKEN, ApiServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    tmp = tmp_path_factory.mktemp("cli")
    api = ApiServer(f"sqlite:///{tmp / 'f.db'}", tmp / "api.log").wait_ready()
    yield api
    api.stop()


def ctl(
    server: ApiServer, *args: str, ok: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FABRIC_API_URL": server.url,
        "COLUMNS": "200",
        "FABRIC_TOKEN": ADMIN_TOKEN,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "fabric.cli.main", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
    return proc


def js(server: ApiServer, *args: str) -> Any:
    return json.loads(ctl(server, *args, "--json").stdout)


def test_cli_covers_the_core(server: ApiServer, tmp_path: Path) -> None:
    ctl(
        server,
        "pool",
        "create",
        "v4",
        "10.20.0.0/24",
        "--block-size",
        "28",
        "--reserved",
        "10.20.0.0/31",
    )
    ctl(
        server,
        "host",
        "add",
        "h1",
        "--address",
        "192.0.2.1",
        "--asn",
        "65001",
        "--label",
        "rack=r1",
    )
    secret = tmp_path / "pw"
    secret.write_text("t0p-s3cret\n")
    out = ctl(
        server,
        "peer",
        "add",
        "tor",
        "--address",
        "192.0.2.254",
        "--asn",
        "65000",
        "--password-file",
        str(secret),
    ).stdout
    assert "t0p-s3cret" not in out
    got = js(server, "ip", "allocate", "--host", "h1", "--handle", "c1", "--attr", "namespace=web")
    assert got["allocations"][0]["address"] == "10.20.0.2"  # .0 and .1 are reserved
    table = ctl(server, "ip", "list", "--host", "h1", "--wide").stdout
    assert "10.20.0.2" in table and "namespace=web" in table
    assert js(server, "ip", "show", "10.20.0.2")["handle"] == "c1"
    pools = js(server, "pool", "list")
    assert pools[0]["allocated"] == 1 and pools[0]["total"] == 254
    assert "10.20.0.0/24" in ctl(server, "ipam", "show").stdout
    assert js(server, "host", "list")[0]["labels"] == {"rack": "r1"}
    peers = js(server, "peer", "list", "--host", "h1")
    assert peers[0]["password_set"] is True and "t0p" not in json.dumps(peers)
    assert js(server, "ipam", "check")["ok"] is True
    assert "ok" in ctl(server, "ipam", "check").stdout
    released = js(server, "ip", "release", "--handle", "c1")
    assert [r["address"] for r in released] == ["10.20.0.2"]


def test_cli_errors_are_one_clear_line(server: ApiServer) -> None:
    proc = ctl(server, "host", "show", "ghost", ok=False)
    assert "host_not_found" in proc.stderr and "Traceback" not in proc.stderr
    proc = ctl(server, "pool", "create", "bad", "10.0.0.1/24", ok=False)
    assert "host_bits_set" in proc.stderr
    env = {**os.environ, "FABRIC_API_URL": "http://127.0.0.1:9"}
    proc = subprocess.run(
        [sys.executable, "-m", "fabric.cli.main", "pool", "list"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "unreachable" in proc.stderr
