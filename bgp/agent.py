"""The host agent: renders ``exabgp.conf`` from the host's peers and supervises ExaBGP.

ExaBGP runs the route-injection process (``bgp.injector``) itself. The agent
restarts ExaBGP with a back-off whenever it exits (ExaBGP gives up on its own
after its helper dies five times in about a minute). When the host's peer set
changes it reloads ExaBGP in place (SIGUSR1): ExaBGP keeps the sessions and the
adj-rib-out of peers whose definition did not change, adds and removes the
others, and leaves the route-injection process running (its ``up`` replay feeds
a new peer). If the reload is refused or not confirmed in ExaBGP's log, the
agent restarts ExaBGP cleanly and says why. The last configuration that worked
is kept on disk, so a host whose API is down still starts its speaker (fail
static).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bgp import bfd, exabgp_runtime
from bgp.follower import Follower
from bgp.metrics import AgentMetrics
from bgp.options import InjectorOptions, InjectorRun
from bgp.process import terminate
from fabric.client.agent import AgentApi
from fabric.client.transport import NO_ACCESS, Access
from fabric.render.exabgp import Speaker, SpeakerPeer, render

log = logging.getLogger("fabric.agent")

BACKOFF_MAX = 30.0
RELOAD_CONFIRM_SECONDS = 10.0
# What ExaBGP 5 logs after a SIGUSR1 reload (reactor/loop.py).
RELOAD_OK = "loaded new configuration successfully"
RELOAD_FAILED = "could not load/reload configuration"


def exabgp_env(state_dir: Path) -> dict[str, str]:
    """ExaBGP's settings for a host speaker, each for a reason (docs/design/exabgp.md)."""
    return {
        **os.environ,
        "exabgp.daemon.user": "root",
        "exabgp.daemon.drop": "false",
        "exabgp.daemon.pid": str(state_dir / "exabgp.pid"),
        "exabgp.api.cli": "false",
        # One JSON line per route for the injector's adj-rib-out reconcile.
        "exabgp.api.show-routes-format": "v2",
        "exabgp.api.chunk": "200",
        "exabgp.log.processes": "false",
        "exabgp.log.statistics": "false",
        "exabgp.log.destination": str(state_dir / "exabgp.log"),
    }


def speaker_from(data: dict[str, Any]) -> Speaker:
    return Speaker(
        host=data["host"],
        address=data["address"],
        asn=int(data["asn"]),
        peers=[SpeakerPeer(**p) for p in data["peers"]],
        address6=data.get("address6"),  # absent from a cached speaker.json of before
    )


class Agent:
    def __init__(
        self,
        api_url: str,
        host: str,
        state_dir: Path,
        *,
        exabgp: list[str] | None = None,
        options: InjectorOptions | None = None,
        access: Access = NO_ACCESS,
    ) -> None:
        self.api = AgentApi(api_url, host, access=access)
        self.access = access
        self.api_url, self.host = api_url, host
        self.state_dir = state_dir
        self.exabgp = exabgp or exabgp_runtime.this_interpreter().command()
        self.options = options or InjectorOptions()
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = ""
        self.restarts = 0
        self.reloads = 0
        self.metrics = AgentMetrics(state_dir)
        self.stopping = threading.Event()
        self.bfdd = bfd.BfdDaemon(state_dir / "bfdd")
        self.bfd_restarts = 0
        self.speaker = Speaker(host=host, address="", asn=0, peers=[])

    @property
    def conf_path(self) -> Path:
        return self.state_dir / "exabgp.conf"

    def fetch_speaker(self) -> dict[str, Any] | None:
        cache = self.state_dir / "speaker.json"
        try:
            data = self.api.speaker()
        except Exception as exc:
            if cache.exists():
                log.warning("API unreachable (%s); using the last known peers", type(exc).__name__)
                cached: dict[str, Any] = json.loads(cache.read_text())
                return cached
            log.warning("API unreachable (%s) and no cached peers yet", type(exc).__name__)
            return None
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.chmod(0o600)  # it holds the peers' passwords
        tmp.replace(cache)
        return data

    def injector(self) -> InjectorRun:
        """The injector's command line; its credentials as file paths: a secret never goes on
        a command line."""
        return InjectorRun(
            self.api_url,
            self.host,
            log_file=self.state_dir / "injector.log",
            token_file=self.state_dir / "token" if self.access.token else None,
            ca_file=self.access.ca_file.resolve() if self.access.ca_file else None,
            options=self.options,
            bfd_dir=self.bfdd.run,
        )

    def render(self, data: dict[str, Any]) -> str:
        argv = [sys.executable, "-m", "bgp.injector", *self.injector().argv()]
        return render(speaker_from(data), argv)

    def start(self) -> None:
        self.conf_path.write_text(self.config)
        self.conf_path.chmod(0o600)
        with (self.state_dir / "exabgp.out").open("ab") as log_file:  # the child keeps a copy
            self.proc = subprocess.Popen(
                [*self.exabgp, str(self.conf_path)],
                env=exabgp_env(self.state_dir),
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )
        (self.state_dir / "exabgp.child.pid").write_text(str(self.proc.pid))
        log.info("ExaBGP started (pid %d)", self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
        self.proc = None

    @property
    def exabgp_log(self) -> Path:
        return self.state_dir / "exabgp.log"

    def reload(self, new: str) -> str | None:
        """Apply ``new`` to the running ExaBGP with SIGUSR1; None if done, else why not."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return "ExaBGP is not running"
        offset = self.exabgp_log.stat().st_size if self.exabgp_log.exists() else 0
        self.config = new
        self.conf_path.write_text(new)
        os.kill(proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + RELOAD_CONFIRM_SECONDS
        while time.monotonic() < deadline and not self.stopping.is_set():
            if self.exabgp_log.exists():
                with self.exabgp_log.open("rb") as f:
                    f.seek(offset)
                    written = f.read().decode(errors="replace")
                if RELOAD_OK in written:
                    return None
                if RELOAD_FAILED in written:
                    return "ExaBGP refused the new configuration"
            time.sleep(0.1)
        return f"ExaBGP did not confirm the reload within {RELOAD_CONFIRM_SECONDS:.0f}s"

    def apply(self, new: str) -> None:
        why = self.reload(new)
        if why is None:
            self.reloads += 1
            self.metrics.reloads.inc()
            log.info("peer set changed: ExaBGP reloaded in place (reload %d)", self.reloads)
            return
        log.warning("peer set changed: restarting ExaBGP (%s)", why)
        self.config = new
        self.stop()  # the supervisor loop starts it again at once

    def watch_peers(self) -> None:
        """Re-render when this host changes; restart ExaBGP if its peers changed."""
        host_revision: int | None = None
        for state in Follower(self.api, self.stopping).states():
            # A long-poll that timed out, or other hosts' changes: nothing to re-read.
            if state["host_revision"] == host_revision:
                continue
            host_revision = state["host_revision"]
            data = self.fetch_speaker()
            if data is None:
                continue
            new = self.render(data)
            self.speaker = speaker_from(data)
            self.apply_bfd()
            if new != self.config:
                self.apply(new)

    def apply_bfd(self) -> None:
        """bfdd running with the speaker's BFD peers, once any peer has BFD (an empty
        configuration after that, never a stop: the ToR would take a stop for a dead host)."""
        if not (bfd.wanted(self.speaker) or self.bfdd.pid() is not None):
            return
        try:
            done = self.bfdd.ensure(bfd.render(self.speaker))
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("bfdd could not be configured: %s", exc)
            return
        if done == "unchanged":
            return
        log.info("bfdd %s (%d BFD peers)", done,
                 sum(p.bfd_multiplier is not None for p in self.speaker.peers))  # fmt: skip

    def supervise_bfd(self) -> None:
        """bfdd started again when it dies, with back-off as ExaBGP is."""
        backoff = 1.0
        while not self.stopping.wait(1.0):
            if not bfd.wanted(self.speaker) or self.bfdd.pid() is not None:
                backoff = 1.0
                continue
            self.bfd_restarts += 1
            self.metrics.bfd_restarts.inc()
            log.warning("bfdd is not running; start %d (back-off %.0fs)", self.bfd_restarts,
                        backoff)  # fmt: skip
            self.apply_bfd()
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def write_token(self) -> None:
        """Once per start: the injector reads it (0600) instead of taking it on argv."""
        if self.access.token:
            token_file = self.state_dir / "token"
            token_file.touch(mode=0o600)
            token_file.write_text(self.access.token)

    def run(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.write_token()
        data = None
        while data is None and not self.stopping.is_set():
            data = self.fetch_speaker()
            if data is None:
                self.stopping.wait(2)
        if data is None:
            return
        self.config = self.render(data)
        self.speaker = speaker_from(data)
        self.apply_bfd()
        threading.Thread(target=self.watch_peers, daemon=True).start()
        threading.Thread(target=self.supervise_bfd, daemon=True).start()
        backoff = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.start()
            while self.proc is not None and self.proc.poll() is None and not self.stopping.is_set():
                time.sleep(0.2)
            if self.stopping.is_set():
                break
            code = self.proc.returncode if self.proc is not None else None
            if code is None:
                backoff = 1.0  # a deliberate restart (new peers): no back-off
                continue
            self.restarts += 1
            self.metrics.restarts.inc()
            backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, BACKOFF_MAX)
            log.warning("ExaBGP exited with %s; restart %d in %.0fs", code, self.restarts, backoff)
            self.stopping.wait(backoff)
        self.stop()


def main(
    api: str,
    host: str,
    state_dir: Path,
    options: InjectorOptions,
    access: Access = NO_ACCESS,
    metrics_address: str | None = None,
    exabgp_python: str | None = None,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per long-poll
    exabgp = None
    if exabgp_python:  # checked before anything starts: a wrong interpreter is a clear error
        runtime = exabgp_runtime.probe(exabgp_python)
        log.info("ExaBGP %s on %s (%s)", runtime.exabgp_version, runtime.python,
                 runtime.implementation)  # fmt: skip
        exabgp = runtime.command()
    agent = Agent(api, host, state_dir, exabgp=exabgp, options=options, access=access)
    if metrics_address:
        from prometheus_client import start_http_server

        address, _, port = metrics_address.rpartition(":")
        start_http_server(int(port), addr=address or "127.0.0.1", registry=agent.metrics.registry)
        log.info("metrics on http://%s/metrics", metrics_address)

    def _term(*_: object) -> None:
        agent.stopping.set()

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    agent.run()
