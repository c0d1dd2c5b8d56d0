"""Containers on lab hosts, made the way a container runtime makes them: through CNI.

A "container" is a network namespace; its network comes from the plugins of a ``.conflist``
(``fabric-cni`` + ``fabric-ipam`` by default), each called as containerd's libcni calls it:
CNI_* in the environment, the plugin's entry of the list (with ``name``, ``cniVersion`` and
the previous plugin's result) on stdin, run inside the host's network namespace. Results
are cached per attachment, as libcni caches them, for CHECK and DEL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYSTEM_PLUGINS = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
OWN_PLUGINS = Path(sys.executable).parent  # fabric-cni and fabric-ipam, beside our python


class CniFailure(Exception):
    """A plugin's error document (or what it printed instead), with its exit code."""

    def __init__(self, plugin: str, command: str, answer: dict[str, Any], returncode: int) -> None:
        super().__init__(f"{plugin} {command}: {answer}")
        self.plugin, self.command, self.answer, self.returncode = (
            plugin, command, answer, returncode,
        )  # fmt: skip

    @property
    def code(self) -> int | None:
        code = self.answer.get("code")
        return code if isinstance(code, int) else None


def conflist(
    name: str, ipam: dict[str, Any], *, main: str = "fabric-cni", version: str = "1.1.0",
    mtu: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A network configuration list with one main plugin and its IPAM section."""
    plugin: dict[str, Any] = {"type": main, "ipam": ipam}
    if mtu is not None:
        plugin["mtu"] = mtu
    return {"cniVersion": version, "name": name, "plugins": [plugin]}


def fabric_ipam(
    api_url: str, token_file: Path, host: str, **extra: Any
) -> dict[str, Any]:
    """fabric-ipam's section for one host."""
    return {"type": "fabric-ipam", "api_url": api_url, "token_file": str(token_file),
            "host": host, **extra}  # fmt: skip


@dataclass
class Runtime:
    """CNI calls for the containers of one network, on one host namespace."""

    network: dict[str, Any]  # the parsed .conflist
    host_ns: str
    cni_path: tuple[Path, ...] = (OWN_PLUGINS, SYSTEM_PLUGINS)
    results: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path, host_ns: str) -> Runtime:
        return cls(json.loads(path.read_text()), host_ns)

    def _find(self, plugin: str) -> Path:
        for directory in self.cni_path:
            if (directory / plugin).is_file():
                return directory / plugin
        raise FileNotFoundError(f"CNI plugin {plugin} is in none of {self.cni_path}")

    def call(
        self, plugin: dict[str, Any], command: str, env: dict[str, str],
        prev: dict[str, Any] | None = None, **top: Any,
    ) -> dict[str, Any] | None:  # fmt: skip
        """One plugin of the list, as libcni runs it; its answer (None when empty)."""
        conf = {**plugin, "name": self.network["name"],
                "cniVersion": self.network["cniVersion"], **top}  # fmt: skip
        if prev is not None:
            conf["prevResult"] = prev
        full_env = {**os.environ, **env, "CNI_COMMAND": command,
                    "CNI_PATH": ":".join(str(p) for p in self.cni_path)}  # fmt: skip
        proc = subprocess.run(
            ["ip", "netns", "exec", self.host_ns, str(self._find(plugin["type"]))],
            input=json.dumps(conf).encode(), env=full_env, capture_output=True, timeout=120,
        )  # fmt: skip
        text = proc.stdout.decode().strip()
        try:
            answer = json.loads(text) if text else None
        except ValueError:
            answer = {"unparsed": text, "stderr": proc.stderr.decode()[-2000:]}
        if proc.returncode != 0:
            raise CniFailure(plugin["type"], command, answer or {}, proc.returncode)
        return answer

    def _env(self, container_id: str, netns: str, ifname: str, args: str) -> dict[str, str]:
        return {"CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
                "CNI_ARGS": args}  # fmt: skip

    def add(
        self, container_id: str, netns: str, ifname: str = "eth0", args: str = ""
    ) -> dict[str, Any]:
        """ADD through the chain; the last plugin's result (cached for CHECK and DEL)."""
        env, prev = self._env(container_id, netns, ifname, args), None
        for plugin in self.network["plugins"]:
            prev = self.call(plugin, "ADD", env, prev) or prev
        assert prev is not None, "the chain gave no result"
        self.results[(container_id, ifname)] = prev
        return prev

    def check(self, container_id: str, netns: str, ifname: str = "eth0") -> None:
        env = self._env(container_id, netns, ifname, "")
        prev = self.results[(container_id, ifname)]
        for plugin in self.network["plugins"]:
            self.call(plugin, "CHECK", env, prev)

    def delete(self, container_id: str, netns: str, ifname: str = "eth0") -> None:
        """DEL through the chain, last plugin first; the cached result forgotten on success."""
        env = self._env(container_id, netns, ifname, "")
        prev = self.results.get((container_id, ifname))
        for plugin in reversed(self.network["plugins"]):
            self.call(plugin, "DEL", env, prev)
        self.results.pop((container_id, ifname), None)

    def gc(self, valid: list[tuple[str, str]]) -> None:
        attachments = [{"containerID": c, "ifname": i} for c, i in valid]
        for plugin in self.network["plugins"]:
            top: dict[str, Any] = {"cni.dev/valid-attachments": attachments}
            self.call(plugin, "GC", {}, None, **top)

    def status(self) -> None:
        for plugin in self.network["plugins"]:
            self.call(plugin, "STATUS", {})


def address_of(result: dict[str, Any], family: int = 4) -> str:
    """The container's address of that family in a result (without its prefix length)."""
    for ip in result.get("ips", []):
        address = str(ip["address"]).split("/")[0]
        if (":" in address) == (family == 6):
            return address
    raise LookupError(f"no IPv{family} address in {result}")
