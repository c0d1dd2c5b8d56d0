"""``fabricctl serve --tls-cert/--tls-key``; the CLI and the agent verify it against a CA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from fabric.client.agent import AgentApi
from fabric.client.transport import Access
from tests.harness.servers import ADMIN_TOKEN, ApiServer


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    paths = (tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem")
    cert.cert_chain_pems[0].write_to_path(str(paths[0]))
    cert.private_key_pem.write_to_path(str(paths[1]))
    ca.cert_pem.write_to_path(str(paths[2]))
    server = ApiServer(f"sqlite:///{tmp / 'f.db'}", tmp / "api.log", tls=paths).wait_ready()
    try:
        yield server, paths[2]
    finally:
        server.stop()


def fabricctl(server: ApiServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FABRIC_API_URL": server.url, "FABRIC_TOKEN": ADMIN_TOKEN}
    env.pop("FABRIC_CA_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "fabric.cli.main", *args], env=env, capture_output=True, text=True
    )


def test_cli_verifies_the_server_with_the_ca(tls_server: tuple[ApiServer, Path]) -> None:
    server, ca = tls_server
    ok = fabricctl(server, "--ca-file", str(ca), "pool", "list", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == []
    refused = fabricctl(server, "pool", "list", "--json")  # the system CAs do not know it
    assert refused.returncode == 1 and "unreachable" in refused.stderr


def test_agent_client_verifies_the_server(tls_server: tuple[ApiServer, Path]) -> None:
    server, ca = tls_server
    fabricctl(server, "--ca-file", str(ca), "host", "add", "h1", "--address", "192.0.2.1",
              "--asn", "65001")  # fmt: skip
    api = AgentApi(server.url, "h1", access=Access(ADMIN_TOKEN, ca))
    try:
        assert api.speaker()["host"] == "h1"
    finally:
        api.close()
