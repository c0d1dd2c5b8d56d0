"""One shared lab per module: a FRR ToR, two hosts running our agent, the API on SQLite."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabric.client.transport import Access, http_client
from fabric.lab.netns import Lab, kill_pid, wait_for
from fabric.lab.runtime import Runtime, address_of, conflist, fabric_ipam
from tests.harness.servers import ADMIN_TOKEN, uds_server_argv

TOR_ASN = 65000
HOSTS = {"h1": (1, 65001), "h2": (2, 65002)}
NETWORK = "fabric"  # the CNI network the lab's containers are on


def handle_of(container: str, network: str = NETWORK) -> str:
    """The handle fabric-ipam gives a container's eth0 (the container id is its name)."""
    return f"{network}/{container}/eth0"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


def tor_conf() -> str:
    lines = [
        "frr defaults datacenter",
        "hostname tor",
        f"router bgp {TOR_ASN}",
        " bgp router-id 10.0.0.254",
        " no bgp ebgp-requires-policy",
        " bgp graceful-restart",
    ]
    for _, (i, asn) in HOSTS.items():
        lines += [f" neighbor 10.0.{i}.1 remote-as {asn}", f" neighbor 10.0.{i}.1 timers 3 9"]
    return "\n".join(lines) + "\n"


@dataclass
class FabricLab:
    lab: Lab
    tor: str
    frr_run: Path
    api: httpx.Client
    api_url: str
    api_sock: Path
    database_url: str
    api_proc: Any
    api_cmd: tuple[Any, ...]
    hosts: dict[str, str]
    state_dirs: dict[str, Path]
    agents: dict[str, Any] = field(default_factory=dict)
    containers: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (ns, address)
    runtimes: dict[str, Runtime] = field(default_factory=dict)  # host -> the fabric network

    @property
    def tmp(self) -> Path:
        return self.lab.workdir

    def orchestrator_token(self) -> Path:
        """A 0600 file holding an orchestrator token, as fabric-ipam wants it."""
        path = self.tmp / "orchestrator.token"
        if not path.exists():
            r = self.api.post("/v1/tokens", json={"name": "cni", "role": "orchestrator"})
            r.raise_for_status()
            path.write_text(r.json()["token"])
            path.chmod(0o600)
        return path

    def runtime(self, host: str, network: dict[str, Any] | None = None) -> Runtime:
        """A runtime's CNI calls on the host; by default fabric-cni + fabric-ipam."""
        if network is None:
            if host in self.runtimes:
                return self.runtimes[host]
            ipam = fabric_ipam(self.api_url, self.orchestrator_token(), host,
                               log_file_path=str(self.tmp / f"cni-{host}.log"))  # fmt: skip
            self.runtimes[host] = Runtime(conflist(NETWORK, ipam), self.hosts[host])
            return self.runtimes[host]
        return Runtime(network, self.hosts[host])

    def container(self, host: str, name: str, runtime: Runtime | None = None) -> str:
        """A container on the host, its network made by the CNI plugins; its IPv4 address."""
        ns = self.containers[name][0] if name in self.containers else self.lab.ns(name)
        result = (runtime or self.runtime(host)).add(name, f"/run/netns/{ns}")
        self.containers[name] = (ns, address_of(result))
        return self.containers[name][1]

    def rib(self) -> dict[str, list[str]]:
        """ToR's BGP table: prefix -> next hops."""
        data = self.lab.vtysh(self.tor, self.frr_run, "show bgp ipv4 unicast json")
        out: dict[str, list[str]] = {}
        for prefix, paths in data.get("routes", {}).items():
            out[prefix] = sorted(nh["ip"] for p in paths for nh in p.get("nexthops", []))
        return out

    def fib(self) -> set[str]:
        out = self.lab.run(self.tor, "ip", "-4", "route", "show", "proto", "bgp").stdout
        return {line.split()[0] for line in out.splitlines() if line}

    def allocate(self, host: str, handle: str) -> str:
        r = self.api.post("/v1/allocations", json={"host": host, "handle": handle})
        r.raise_for_status()
        return str(r.json()["allocations"][0]["address"])

    def ping(self, src: str, dst_address: str, count: int = 1) -> bool:
        return self.lab.ping(self.containers[src][0], dst_address, count)

    def start_agent(self, host: str, *extra: str) -> None:
        """The agent with a token bound to its host (an agent token can do nothing else)."""
        token_file = self.state_dirs[host] / "agent.token"
        if not token_file.exists():
            r = self.api.post("/v1/tokens", json={"name": f"agent-{host}", "role": "agent",
                                                  "host": host})  # fmt: skip
            r.raise_for_status()
            token_file.write_text(r.json()["token"])
            token_file.chmod(0o600)
        args = [
            sys.executable, "-m", "fabric.cli.main", "--token-file", str(token_file),
            "agent", "--api", self.api_url,
            "--host", host, "--state-dir", str(self.state_dirs[host]), *extra,
        ]  # fmt: skip
        self.agents[host] = self.lab.spawn(
            self.hosts[host], args, self.state_dirs[host] / "agent.log"
        )

    def restart_api(self) -> None:
        kill_pid(self.api_proc.pid)
        self.api_proc.wait(10)
        self.api_proc = self.lab.spawn(self.tor, *self.api_cmd)
        wait_for("the API", lambda: _healthy(self.api, self.api_sock), 30)

    def stop_agent(self, host: str) -> None:
        proc = self.agents.pop(host)
        kill_pid(proc.pid, timeout=15)
        pidfile = self.state_dirs[host] / "exabgp.child.pid"
        if pidfile.exists():
            kill_pid(int(pidfile.read_text()))


def build(lab: Lab, tmp: Path) -> FabricLab:
    tor = lab.ns("tor")
    hosts: dict[str, str] = {}
    for name, (i, _) in HOSTS.items():
        ns = lab.ns(name)
        hosts[name] = ns
        lab.link(tor, f"to-{name}", ns, "eth0")
        lab.addr(tor, f"to-{name}", f"10.0.{i}.0/31")
        lab.addr(ns, "eth0", f"10.0.{i}.1/31")
        lab.run(ns, "ip", "route", "add", "default", "via", f"10.0.{i}.0")
        lab.run(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    lab.run(tor, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    frr_run = lab.frr(tor, tor_conf())
    sock = tmp / "api.sock"
    env = {
        "FABRIC_DATABASE_URL": f"sqlite:///{tmp / 'fabric.db'}",
        "FABRIC_REVISION_POLL_SECONDS": "1",
        "FABRIC_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "FABRIC_GC_MIN_GRACE_SECONDS": "1",  # the CNI GC test waits that long, not five minutes
    }
    api_cmd = (  # any namespace will do: the API is reached through its Unix socket
        uds_server_argv(sock),
        tmp / "api.log",
        env,
    )
    api_proc = lab.spawn(tor, *api_cmd)
    api_url = f"unix://{sock}"
    api = http_client(api_url, timeout=30, access=Access(ADMIN_TOKEN))
    wait_for("the API", lambda: _healthy(api, sock), 30)
    state_dirs = {h: tmp / f"agent-{h}" for h in HOSTS}
    for d in state_dirs.values():
        d.mkdir()
    return FabricLab(
        lab, tor, frr_run, api, api_url, sock, env["FABRIC_DATABASE_URL"],
        api_proc, api_cmd, hosts, state_dirs,
    )  # fmt: skip


def _healthy(api: httpx.Client, sock: Path) -> bool:
    # Connect by hand first: httpcore leaks the socket of a refused Unix connect.
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(sock))
    except OSError:
        return False
    finally:
        probe.close()
    try:
        return api.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def fabric_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FabricLab]:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("lab tests need root")
        pytest.skip("lab tests need root and network namespaces")
    # Not under pytest's 0700 tmp tree: FRR runs as user frr and must reach its files.
    tmp = Path(tempfile.mkdtemp(prefix="rf-lab-"))
    os.chmod(tmp, 0o755)
    lab = Lab(tmp)
    fl = None
    try:
        fl = build(lab, tmp)
        yield fl
    finally:
        if fl is not None:
            for host in list(fl.agents):
                fl.stop_agent(host)
            fl.api.close()
        lab.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
