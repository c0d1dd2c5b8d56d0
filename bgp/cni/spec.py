"""The CNI contract (spec 1.1): versions, error codes, the environment, result documents.

Values are NamedTuples, not dataclasses: ``dataclasses`` imports ``inspect``, a cost at
every plugin start (bench/README.md, CNI).

Results are built in the current form (1.x) and written in the form of the version the
network configuration asks for: 0.4.0 differs by a ``version`` on every IP.
"""

from __future__ import annotations

import ipaddress
from typing import Any, NamedTuple

CURRENT = "1.1.0"
SUPPORTED = ("0.4.0", "1.0.0", "1.1.0")
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")
NEEDS_1_1 = ("GC", "STATUS")  # commands that spec 1.1 brought

# The spec's well-known error codes (CNI SPEC "Error" section), and ours from 100 on.
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50  # STATUS: cannot serve an ADD
LIMITED_CONNECTIVITY = 51  # STATUS: existing containers may be cut off
POOL_EXHAUSTED = 100
ADDRESS_CONFLICT = 101  # the address or the handle is held by something else
NOT_PERMITTED = 102  # the token is missing, wrong, or of a role that may not
UNKNOWN_HOST = 103  # the controller knows no host (or pool) of that name
API_REFUSED = 104  # any other refusal of the API
CHECK_FAILED = 105  # CHECK found the container not as ADD left it

GATEWAY_V4 = "169.254.1.1"
GATEWAY_V6 = "fe80::1"


class CniError(Exception):
    """A failure as the spec reports it: ``{cniVersion, code, msg, details}`` on stdout."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.details = code, msg, details

    def document(self, version: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            doc["details"] = self.details
        return doc


def parse_cni_args(text: str) -> dict[str, str]:
    """``CNI_ARGS``: ``K=V;K2=V2`` (Kubernetes puts K8S_POD_NAME and friends there)."""
    out: dict[str, str] = {}
    for part in filter(None, text.split(";")):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise CniError(INVALID_ENVIRONMENT, f"CNI_ARGS has a malformed pair {part!r}")
        out[key] = value
    return out


class Invocation(NamedTuple):
    """What the runtime said in the environment."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: dict[str, str] = {}  # a default shared by all, never mutated
    path: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, env: dict[str, str]) -> Invocation:
        """Raises: CniError (code 4) for a missing or malformed variable."""
        command = env.get("CNI_COMMAND", "")
        if command not in COMMANDS:
            raise CniError(
                INVALID_ENVIRONMENT,
                f"CNI_COMMAND must be one of {', '.join(COMMANDS)}",
                f"got {command!r}",
            )
        inv = cls(
            command=command,
            container_id=env.get("CNI_CONTAINERID", ""),
            netns=env.get("CNI_NETNS", ""),
            ifname=env.get("CNI_IFNAME", ""),
            args=parse_cni_args(env.get("CNI_ARGS", "")),
            path=tuple(p for p in env.get("CNI_PATH", "").split(":") if p),
        )
        inv._check_required()
        return inv

    def _check_required(self) -> None:
        needed = {
            "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
            "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
            "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),  # the netns may be gone already
        }.get(self.command, ())
        values = {
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": self.ifname,
            "CNI_PATH": ":".join(self.path),
        }
        missing = [name for name in needed if not values[name]]
        if missing:
            raise CniError(
                INVALID_ENVIRONMENT, f"{self.command} needs {', '.join(missing)} to be set"
            )
        if self.ifname and (len(self.ifname) > 15 or "/" in self.ifname or " " in self.ifname):
            raise CniError(INVALID_ENVIRONMENT, f"CNI_IFNAME {self.ifname!r} is no interface name")


def check_version(version: object, command: str) -> str:
    """The configuration's ``cniVersion``, if we speak it (and it knows the command)."""
    if not isinstance(version, str) or version not in SUPPORTED:
        raise CniError(
            INCOMPATIBLE_VERSION,
            f"cniVersion {version!r} is not supported",
            f"supported: {', '.join(SUPPORTED)}",
        )
    if command in NEEDS_1_1 and version != CURRENT:
        raise CniError(
            INCOMPATIBLE_VERSION, f"{command} needs cniVersion {CURRENT}, the config has {version}"
        )
    return version


def version_answer(requested: object) -> dict[str, Any]:
    """The answer to VERSION."""
    version = requested if isinstance(requested, str) and requested in SUPPORTED else CURRENT
    return {"cniVersion": version, "supportedVersions": list(SUPPORTED)}


class IpConfig(NamedTuple):
    """One address of a result: ``10.244.0.5/32`` and its gateway."""

    address: str
    gateway: str | None = None
    interface: int | None = None

    @property
    def family(self) -> int:
        return ipaddress.ip_interface(self.address).version

    @property
    def ip(self) -> str:
        return str(ipaddress.ip_interface(self.address).ip)


class Result(NamedTuple):
    """A result in its current form; ``document(version)`` writes it for a version."""

    ips: tuple[IpConfig, ...]
    routes: tuple[dict[str, str], ...] = ()
    interfaces: tuple[dict[str, str], ...] = ()
    dns: dict[str, Any] = {}  # a default shared by all, never mutated

    def document(self, version: str) -> dict[str, Any]:
        ips = []
        for ip in self.ips:
            entry: dict[str, Any] = {"address": ip.address}
            if version == "0.4.0":
                entry["version"] = str(ip.family)
            if ip.gateway:
                entry["gateway"] = ip.gateway
            if ip.interface is not None:
                entry["interface"] = ip.interface
            ips.append(entry)
        doc: dict[str, Any] = {"cniVersion": version}
        if self.interfaces:
            doc["interfaces"] = [dict(i) for i in self.interfaces]
        doc["ips"] = ips
        if self.routes:
            doc["routes"] = [dict(r) for r in self.routes]
        doc["dns"] = dict(self.dns)
        return doc


def parse_result(doc: object) -> Result:
    """A result of any supported version (an IPAM plugin's answer, a ``prevResult``).

    Raises: CniError (code 6) when it is not a result.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("ips", []), list):
        raise CniError(DECODE_FAILURE, "the result is not a CNI result (no list of ips)")
    ips = []
    for entry in doc.get("ips", []):
        try:
            address = str(ipaddress.ip_interface(entry["address"]))
        except (KeyError, TypeError, ValueError):
            raise CniError(DECODE_FAILURE, f"the result has a bad IP entry {entry!r}") from None
        ips.append(IpConfig(address, entry.get("gateway"), entry.get("interface")))
    routes = tuple(r for r in doc.get("routes") or () if isinstance(r, dict))
    interfaces = tuple(i for i in doc.get("interfaces") or () if isinstance(i, dict))
    return Result(tuple(ips), routes, interfaces, dict(doc.get("dns") or {}))
