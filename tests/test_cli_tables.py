"""fabricctl never cuts an address, a prefix, a handle or a name: in a terminal of 60, 80 or
200 columns, or through a pipe (plain whole lines there, no box drawing)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from rich.console import Console

from fabric.cli.output import WIDE, field, table
from tests.harness.servers import ADMIN_TOKEN, ApiServer

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
POOL, CIDR = "production-pods-eu-west-1a", "10.244.128.0/17"
HOST = "node-eu-west-1a-rack-42-u17.example.net"
HANDLE = "k8s-pod-network/4f7c2a9e1b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d/eth0"
PEER = "tor-eu-west-1a-rack-42"
ADDRESS, BLOCK, TOR = "10.244.128.0", "10.244.128.0/26", "192.0.2.254"
# Each read command, and the identifying values it must show whole.
READS = [
    (("ip", "list"), [ADDRESS, HOST, HANDLE, BLOCK, POOL]),
    (("ip", "list", "--wide"), [ADDRESS, HOST, HANDLE, BLOCK, POOL]),
    (("ip", "show", ADDRESS), [ADDRESS, HOST, HANDLE, BLOCK, POOL]),
    (("ipam", "show"), [POOL, CIDR, HOST]),
    (("pool", "list"), [POOL, CIDR]),
    (("pool", "show", POOL), [POOL, CIDR]),
    (("host", "list"), [HOST, "192.0.2.11"]),
    (("host", "show", HOST), [HOST, "192.0.2.11"]),
    (("peer", "list"), [PEER, TOR, HOST]),
    (("node", "status", "--host", HOST), [HOST, TOR, "unknown", "1 never reported"]),
    (("routes", "--host", HOST), [BLOCK]),
    (("token", "list"), ["admin"]),
    (("audit",), [f"pools/{POOL}", f"hosts/{HOST}"]),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    tmp = tmp_path_factory.mktemp("tables")
    api = ApiServer(f"sqlite:///{tmp / 'f.db'}", tmp / "api.log").wait_ready()
    for args in (
        ("pool", "create", POOL, CIDR),
        ("host", "add", HOST, "--address", "192.0.2.11", "--asn", "65011", "--label", "rack=r42"),
        ("peer", "add", PEER, "--address", "192.0.2.254", "--asn", "65001", "--scope", "host",
         "--host", HOST),
        ("ip", "allocate", "--host", HOST, "--handle", HANDLE, "--attr", "namespace=web"),
    ):  # fmt: skip
        run(api, *args, width=None)
    yield api
    api.stop()


def run(server: ApiServer, *args: str, width: int | None) -> str:
    """fabricctl as a person sees it in a terminal ``width`` wide; None: through a pipe."""
    env = {**os.environ, "FABRIC_API_URL": server.url, "FABRIC_TOKEN": ADMIN_TOKEN}
    env.pop("COLUMNS", None)
    if width is not None:  # rich takes this for a terminal of that size
        env.update(COLUMNS=str(width), FORCE_COLOR="1", TTY_COMPATIBLE="1")
    else:
        env.pop("FORCE_COLOR", None)
    proc = subprocess.run([sys.executable, "-m", "fabric.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ANSI.sub("", proc.stdout)


@pytest.mark.parametrize("width", [60, 80, 200, None], ids=["60", "80", "200", "pipe"])
def test_every_read_command_keeps_identifying_values_whole(
    server: ApiServer, width: int | None
) -> None:
    for args, values in READS:
        out = run(server, *args, width=width)
        missing = [v for v in values if v not in out]
        assert not missing and "…" not in out, (args, width, missing, out)
        if width is None:
            assert not set("┏┃━│└╭") & set(out), (args, out)
    listed = run(server, "ip", "list", width=width)
    assert "10.244.128.0" in listed and HANDLE in listed and HOST in listed


def test_grep_finds_an_address_in_a_pipe(server: ApiServer) -> None:
    lines = run(server, "ip", "list", width=None).splitlines()
    assert lines[0] == "# allocations"  # titles are comments: grep -v "^#" drops them
    assert lines[1].split()[:3] == ["ADDRESS", "HOST", "HANDLE"]
    hit = [line for line in lines if "10.244.128.0" in line]
    assert len(hit) == 1 and hit[0].split()[:3] == ["10.244.128.0", HOST, HANDLE]


def test_a_peer_never_reported_is_shown_unknown_not_left_out(server: ApiServer) -> None:
    out = run(server, "peers", "--host", HOST, width=200)
    assert TOR in out and "unknown" in out and "never" in out
    assert "0 established of 1, 1 never reported" in out
    piped = run(server, "peers", width=None).splitlines()
    assert piped[-1] == "# 0 established of 1, 1 never reported"
    row = next(line for line in piped if TOR in line)
    assert row.split()[:5] == [HOST, "r42", TOR, "65001", "unknown"]
    assert PEER in row  # the configured peer's name


def render(width: int, wide: bool = False, terminal: bool = True) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None)
    rows = [{"address": "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", "host": HOST,
             "note": "a descriptive text that may wrap " * 3, "attributes": "k=v"}]  # fmt: skip
    columns = [("address", field("address")), ("host", field("host")),
               ("note", field("note")), ("attributes", field("attributes"), WIDE)]  # fmt: skip
    table(rows, columns, title="t", wide=wide, out=console)
    return out.getvalue()


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_the_table_helper_wraps_or_folds_but_never_cuts(width: int) -> None:
    out = render(width)
    assert "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe" in out and HOST in out and "…" not in out
    assert "attributes" not in out and "attributes" in render(width, wide=True)
    if width < 70:  # the two identifying columns alone do not fit: one record per row
        assert "address: 2001:db8" in out.replace("  ", " ")
    piped = render(width, terminal=False)
    assert piped.splitlines()[1].split()[:2] == ["ADDRESS", "HOST"]
