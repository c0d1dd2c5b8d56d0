"""One FRR daemon's vty over its Unix socket, spoken to as vtysh speaks to it.

For a loop that asks a daemon the same thing every few milliseconds. ``vtysh -c`` as a
process costs ~20 ms of CPU a command on our machines (it starts, reads its config and
connects to every daemon): the injection benchmark polling its ToR that way spent half a
core of a 2-core machine on its own measurement. Over a kept connection a ``show bgp
summary json`` takes ~0.04 ms.

The protocol (FRR's ``lib/vty.c``, the vtysh side of it): a command goes NUL-terminated;
the daemon answers with the command's output, three NULs and one byte, the command's
return code (0 is success). A socket path needs no ``ip netns exec``: Unix sockets live
in the file system, not in a network namespace. Commands that span daemons (``show
running-config``) are vtysh's own work and stay with ``Lab.vtysh``.

Hand-written: no maintained Python library speaks this protocol.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from fabric.errors import FabricError

_END = b"\0\0\0"


class VtyError(FabricError):
    code = "vty"


class Vty:
    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
        except OSError as exc:
            self._sock.close()
            raise VtyError(f"Cannot connect to the vty at {path}: {exc}.") from None

    def command(self, line: str) -> str:
        """The command's output; VtyError if the daemon says it failed."""
        if "\0" in line or "\n" in line:
            raise VtyError("A vty command is one line without NUL characters.")
        self._sock.sendall(line.encode() + b"\0")
        chunks: list[bytes] = []
        last4 = b""  # the end marker and the code may come split over reads
        while len(last4) < 4 or last4[:3] != _END:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise VtyError(f"The vty at {self.path} closed during {line!r}.")
            chunks.append(chunk)
            last4 = (last4 + chunk)[-4:]
        answer = b"".join(chunks)
        output, status = answer[:-4].decode(errors="replace"), answer[-1]
        if status != 0:
            raise VtyError(f"{line!r} failed with code {status}: {output.strip()}")
        return output

    def json(self, line: str) -> Any:
        return json.loads(self.command(line))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Vty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
