"""Lab plumbing: network namespaces under one prefix, veth links, FRR daemons, waits.

Used by ``fabricctl lab`` (prefix ``clab-<lab>``, as containerlab names its
containers) and by the lab tests (a per-run prefix, so two runs never collide).

Everything created is recorded and removed by ``Lab.destroy()``, also after a
failure half-way; processes are ended by PID (ours, or those still inside our
namespaces), never by name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bgp.frr import FRR_BIN

T = TypeVar("T")


def sh(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.1
) -> T:
    """Poll until ``probe`` returns something truthy; fail with the last value seen."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def remove_namespace(ns: str) -> bool:
    """End every process inside ``ns`` by PID, then delete it (its veths go with it)."""
    if ns not in namespaces():
        return False
    for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
        kill_pid(int(pid))
    sh("ip", "netns", "del", ns, check=False)
    return True


def namespaces() -> set[str]:
    out = sh("ip", "-j", "netns", "list", check=False).stdout.strip()
    return {n["name"] for n in json.loads(out)} if out else set()


def pids_in(ns: str) -> list[int]:
    return [int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()]


class Lab:
    def __init__(self, workdir: Path, prefix: str | None = None) -> None:
        self.prefix = prefix or f"rf{uuid.uuid4().hex[:6]}"
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pidfiles: list[Path] = []

    def ns(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        sh("ip", "netns", "add", full)
        self.namespaces.append(full)
        self.run(full, "ip", "link", "set", "lo", "up")
        return full

    def run(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *args, check=check)

    def link(self, a: str, a_if: str, b: str, b_if: str) -> None:
        """A veth pair between two namespaces (created in a, one end moved to b)."""
        tmp = f"v{uuid.uuid4().hex[:10]}"
        self.run(a, "ip", "link", "add", a_if, "type", "veth", "peer", "name", tmp)
        self.run(a, "ip", "link", "set", tmp, "netns", b)
        self.run(b, "ip", "link", "set", tmp, "name", b_if)
        self.run(a, "ip", "link", "set", a_if, "up")
        self.run(b, "ip", "link", "set", b_if, "up")

    def addr(self, ns: str, ifname: str, cidr: str) -> None:
        self.run(ns, "ip", "addr", "add", cidr, "dev", ifname)

    def spawn(
        self, ns: str, args: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *args],
                stdout=out,
                stderr=out,
                env={**os.environ, **(env or {})},
            )
        self.procs.append(proc)
        return proc

    def ping(self, ns: str, address: str, count: int = 1) -> bool:
        args = ("ping", "-c", str(count), "-W", "1", "-i", "0.2", address)
        return self.run(ns, *args, check=False).returncode == 0

    # -- FRR -----------------------------------------------------------------
    def frr(self, ns: str, bgpd_conf: str) -> Path:
        """zebra + bgpd in the namespace, with their own files under workdir."""
        run = self.workdir / f"frr-{ns}"
        run.mkdir(parents=True, exist_ok=True)
        shutil.chown(run, "frr", "frr")
        (run / "zebra.conf").write_text("hostname zebra\n")
        (run / "bgpd.conf").write_text(bgpd_conf)
        for f in ("zebra.conf", "bgpd.conf"):
            shutil.chown(run / f, "frr", "frr")
        for daemon in ("zebra", "bgpd"):
            self.start_daemon(ns, run, daemon)
        return run

    def frr_integrated(self, ns: str, run: Path, frr_conf: str, daemons: list[str]) -> None:
        """FRR daemons with empty configs, then the integrated ``frr.conf`` through vtysh -b."""
        run.mkdir(parents=True, exist_ok=True)
        shutil.chown(run, "frr", "frr")
        (run / "frr.conf").write_text(frr_conf)
        shutil.chown(run / "frr.conf", "frr", "frr")
        for daemon in ["zebra", *[d for d in daemons if d != "zebra"]]:
            (run / f"{daemon}.conf").write_text("")
            shutil.chown(run / f"{daemon}.conf", "frr", "frr")
            self.start_daemon(ns, run, daemon)
        self.run(ns, "vtysh", "--vty_socket", str(run), "--config_dir", str(run), "-b")

    def start_daemon(self, ns: str, run: Path, daemon: str) -> None:
        pidfile = run / f"{daemon}.pid"
        self.pidfiles.append(pidfile)
        self.run(
            ns, str(FRR_BIN / daemon), "-d", "-F", "datacenter", "-u", "frr", "-g", "frr",
            "-f", str(run / f"{daemon}.conf"), "-i", str(pidfile), "-z", str(run / "zserv.api"),
            "--vty_socket", str(run), "-P", "0", "--log", f"file:{run / daemon}.log",
        )  # fmt: skip
        wait_for(
            f"{daemon} in {ns}", lambda: pidfile.exists() and (run / f"{daemon}.vty").exists(), 15
        )

    def stop_daemon(self, run: Path, daemon: str) -> None:
        pidfile = run / f"{daemon}.pid"
        if pidfile.exists():
            kill_pid(int(pidfile.read_text().strip()))
            pidfile.unlink(missing_ok=True)

    def vtysh(self, ns: str, run: Path, command: str) -> Any:
        out = self.run(ns, "vtysh", "--vty_socket", str(run), "-c", command).stdout
        return json.loads(out) if command.endswith("json") else out

    # -- teardown ------------------------------------------------------------
    def destroy(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for pidfile in self.pidfiles:
            if pidfile.exists():
                kill_pid(int(pidfile.read_text().strip() or 0))
        for ns in self.namespaces:
            # Whatever still runs inside our namespaces is ours: end it by PID.
            remove_namespace(ns)
        self.namespaces.clear()


def kill_pid(pid: int, timeout: float = 5.0) -> None:
    if pid <= 1:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
