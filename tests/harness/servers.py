"""Real API server processes for tests and benchmarks (``fabricctl serve``), stopped by PID."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bgp.process import terminate

# The first admin token of every such server (FABRIC_BOOTSTRAP_TOKEN): callers know it up front.
# It only ever guards throwaway databases on loopback.
ADMIN_TOKEN = "rft_test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def uds_server_argv(sock: Path) -> list[str]:
    """``fabricctl serve`` on a Unix socket: reachable from every namespace of the lab."""
    return [sys.executable, "-m", "fabric.cli.main", "serve", "--uds", str(sock),
            "--log-level", "warning"]  # fmt: skip


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ApiServer:
    """``fabricctl serve`` in a child process; ``stop()`` ends it by PID."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: dict[str, str] | None = None,
        netns: str | None = None,
        tls: tuple[Path, Path, Path] | None = None,  # certificate, key, CA that signed it
    ) -> None:
        self.host, self.port = host, port or free_port()
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(tls[2])) if tls else True
        )
        cmd = [
            sys.executable, "-m", "fabric.cli.main", "serve",
            "--host", host, "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        if tls:
            cmd += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        full_env = {
            **os.environ, "FABRIC_DATABASE_URL": database_url,
            "FABRIC_BOOTSTRAP_TOKEN": ADMIN_TOKEN, **(env or {}),
        }  # fmt: skip
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(cmd, env=full_env, stdout=self._log, stderr=self._log)
        self.log_path = log_path

    def wait_ready(self, timeout: float = 30.0) -> ApiServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API server exited: {self.log_path.read_text()[-2000:]}")
            try:
                ok = httpx.get(f"{self.url}/healthz", timeout=1, verify=self.verify)
                if ok.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"API server not ready after {timeout}s: {self.log_path}")

    def stop(self) -> None:
        terminate(self.proc)
        self._log.close()
