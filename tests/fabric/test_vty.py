"""The vty client's framing against a socket that answers as an FRR daemon does (the real
daemon: tests/lab/test_host_agent.py)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from tests.harness.vty import Vty, VtyError


def _serve(path: Path, answers: list[bytes], step: int) -> threading.Thread:
    """Answer each NUL-terminated command with the next answer, ``step`` bytes a write."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            for answer in answers:
                got = b""
                while not got.endswith(b"\0"):
                    got += conn.recv(1024)
                for i in range(0, len(answer), step):
                    conn.sendall(answer[i : i + step])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "bgpd.vty"


@pytest.mark.parametrize("step", [1, 3, 65536])
def test_answers_split_anywhere_are_read_whole(sock: Path, step: int) -> None:
    big = b'{"routes": "' + b"x" * 200_000 + b'"}'
    _serve(sock, [big + b"\0\0\0\0", b"\0\0\0\0", b"% Unknown command\n\0\0\0\x02"], step)
    with Vty(sock) as vty:
        assert vty.json("show big json") == {"routes": "x" * 200_000}
        assert vty.command("clear nothing") == ""  # empty output, success
        with pytest.raises(VtyError, match="failed with code 2: % Unknown command"):
            vty.command("show nonsense")


def test_a_closed_connection_is_an_error_not_a_hang(sock: Path) -> None:
    _serve(sock, [b"half an answer"], 65536)
    with Vty(sock, timeout=5) as vty, pytest.raises(VtyError, match="closed"):
        vty.command("show bgp summary json")


def test_commands_are_one_line(sock: Path) -> None:
    _serve(sock, [], 1)
    with Vty(sock) as vty, pytest.raises(VtyError, match="one line"):
        vty.command("show bgp summary\nconfigure terminal")


def test_no_daemon_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VtyError, match="Cannot connect"):
        Vty(tmp_path / "missing.vty")
