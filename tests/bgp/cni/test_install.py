"""``fabricctl cni install``: the plugins linked where a runtime looks, a network written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bgp.cni.api import _read_response, _unchunk, segment


def test_install_links_plugins_a_runtime_can_run(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("rft_x")
    token.chmod(0o600)
    args = ["--bin-dir", str(tmp_path / "bin"), "--conf-dir", str(tmp_path / "net.d"),
            "--api", "https://fabric.example:8443", "--token-file", str(token), "--host", "n1"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "fabric.cli.main", "cni", "install", *args],
                   check=True, capture_output=True)  # fmt: skip
    network = json.loads((tmp_path / "net.d" / "10-fabric.conflist").read_text())
    assert network["plugins"][0]["type"] == "fabric-cni"
    assert network["plugins"][0]["ipam"] == {"type": "fabric-ipam", "host": "n1",
        "api_url": "https://fabric.example:8443", "token_file": str(token)}  # fmt: skip
    for plugin in ("fabric-cni", "fabric-ipam"):
        proc = subprocess.run([str(tmp_path / "bin" / plugin)], input=b'{"cniVersion":"1.0.0"}',
                              env={**os.environ, "CNI_COMMAND": "VERSION"},
                              capture_output=True, check=True)  # fmt: skip
        assert json.loads(proc.stdout)["supportedVersions"] == ["0.4.0", "1.0.0", "1.1.0"]


class Chunks:
    """A socket that hands out an answer a few bytes at a time."""

    def __init__(self, data: bytes, size: int = 3) -> None:
        self.data, self.size = data, size

    def recv(self, _: int) -> bytes:
        out, self.data = self.data[: self.size], self.data[self.size :]
        return out


def test_an_answer_is_read_whole_plain_or_chunked() -> None:
    plain = b'HTTP/1.1 201 Created\r\ncontent-length: 9\r\n\r\n{"a": 1}\n'
    assert _read_response(Chunks(plain)) == (201, b'{"a": 1}\n')  # type: ignore[arg-type]
    chunked = (b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\n{\"a\"\r\n5;x=y\r\n: 12}\r\n0\r\n\r\n")  # fmt: skip
    assert _read_response(Chunks(chunked)) == (409, b'{"a": 12}')  # type: ignore[arg-type]
    assert _unchunk(b"0\r\n\r\n") == b""
    try:
        _read_response(Chunks(b"HTTP/1.1 200 OK\r\n"))  # type: ignore[arg-type]
    except ValueError as exc:
        assert "headers" in str(exc)
    else:
        raise AssertionError("a cut answer must not parse")
    assert segment("10.0.0.1") == "10.0.0.1" and segment("a/b c") == "a%2Fb%20c"
