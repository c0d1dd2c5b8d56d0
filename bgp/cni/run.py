"""The process around one CNI command: environment and stdin in, one JSON document out.

stdout carries the result or the spec's error document and nothing else: whatever goes
wrong, a runtime never reads a traceback there. The exit code is 0 or 1. With
``log_file_path`` in the config, every call and every failure (with its traceback) is
appended there; the token is never logged, nor is the config.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from bgp.cni import config, log
from bgp.cni.spec import CURRENT, IO_FAILURE, CniError, Invocation, check_version, version_answer

Serve = Callable[[Invocation, dict[str, Any]], dict[str, Any] | None]


def execute(
    serve: Serve, name: str, environ: dict[str, str], raw: bytes
) -> tuple[dict[str, Any] | None, int]:
    """One command: the document to print and the exit code."""
    version, started, inv = CURRENT, time.monotonic(), None
    try:
        doc = config.load(raw)
        log.open_log(config.log_file_of(doc))
        inv = Invocation.from_environ(environ)
        if inv.command == "VERSION":
            return version_answer(doc.get("cniVersion")), 0
        asked = doc.get("cniVersion")
        version = asked if isinstance(asked, str) and asked[:1].isdigit() else CURRENT
        version = check_version(asked, inv.command)
        result = serve(inv, doc)
        log.info("%s %s %s/%s ok in %.1f ms", name, inv.command, inv.container_id, inv.ifname,
                 (time.monotonic() - started) * 1000)  # fmt: skip
        return result, 0
    except CniError as exc:
        where = f"{inv.command} {inv.container_id}/{inv.ifname}" if inv else "?"
        log.warning("%s %s failed with %d: %s (%s)", name, where, exc.code, exc.msg, exc.details)
        return exc.document(version), 1
    except Exception as exc:  # the contract: an error document, never a traceback on stdout
        log.exception("%s: unexpected failure", name)
        error = CniError(IO_FAILURE, f"{name} failed unexpectedly", f"{type(exc).__name__}: {exc}")
        return error.document(version), 1


def run(serve: Serve, name: str, out: IO[str] | None = None) -> None:
    doc, code = execute(serve, name, dict(os.environ), sys.stdin.buffer.read())
    stream = out or sys.stdout
    if doc is not None:
        stream.write(json.dumps(doc))
        stream.write("\n")
    stream.flush()
    sys.exit(code)
