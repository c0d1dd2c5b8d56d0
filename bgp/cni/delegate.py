"""A main plugin's call of the IPAM plugin its config names (``ipam.type``).

The plugin is looked up in CNI_PATH and run with our environment (CNI_COMMAND changed when
we undo a failed ADD) and the whole network config on stdin, as the spec says. Our own
fabric-ipam is called in this process instead: the same code on the same input, without a
second interpreter start, more than half of an ADD's budget (bench/README.md, CNI).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from bgp.cni.spec import (
    DECODE_FAILURE,
    INVALID_CONFIG,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CniError,
    Invocation,
)

OWN_IPAM = "fabric-ipam"
TIMEOUT = 60.0


def find(plugin: str, path: tuple[str, ...]) -> Path:
    """Raises: CniError (7) when no directory of CNI_PATH holds it."""
    for directory in path:
        candidate = Path(directory) / plugin
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise CniError(
        INVALID_CONFIG, f"IPAM plugin {plugin!r} is not in CNI_PATH", ":".join(path) or "(empty)"
    )


def ipam(inv: Invocation, doc: dict[str, Any], command: str | None = None) -> dict[str, Any] | None:
    """Run the IPAM plugin for ``command`` (default: ours); its result document, if any.

    Raises: CniError, the plugin's own error as it reported it.
    """
    call = inv._replace(command=command or inv.command)
    plugin = doc["ipam"]["type"]
    if plugin == OWN_IPAM:
        from bgp.cni import ipam as own

        return own.serve(call, doc)
    return _execute(find(plugin, inv.path), call, doc)


def _execute(binary: Path, call: Invocation, doc: dict[str, Any]) -> dict[str, Any] | None:
    env = {**os.environ, "CNI_COMMAND": call.command}
    try:
        proc = subprocess.run(
            [str(binary)], input=json.dumps(doc).encode(), env=env, capture_output=True,
            timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CniError(TRY_AGAIN_LATER, f"IPAM plugin {binary.name} timed out") from None
    except OSError as exc:
        raise CniError(
            IO_FAILURE, f"IPAM plugin {binary.name} could not be run", str(exc)
        ) from None
    try:
        answer = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        answer = None
    if proc.returncode != 0:
        if isinstance(answer, dict) and isinstance(answer.get("code"), int):
            msg, details = str(answer.get("msg", "")), str(answer.get("details", ""))
            raise CniError(answer["code"], msg, details)
        stderr = proc.stderr.decode(errors="replace").strip()[-500:]
        raise CniError(IO_FAILURE, f"IPAM plugin {binary.name} failed", stderr)
    if proc.stdout.strip() and answer is None:
        raise CniError(DECODE_FAILURE, f"IPAM plugin {binary.name} answered something not JSON")
    return answer
