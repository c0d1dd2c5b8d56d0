"""The network configuration a runtime passes on stdin, validated into typed values.

A config that cannot work is refused with code 7 and a sentence that names the key; keys
we do not know are left alone (runtimes add their own: ``runtimeConfig``, ``capabilities``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from pathlib import Path
from typing import Any, NamedTuple

from bgp.cni.spec import DECODE_FAILURE, INVALID_CONFIG, CniError

NETWORK_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")  # the spec's rule for ``name``
FAMILIES = {"4": "4", "6": "6", "dual": "dual", 4: "4", 6: "6"}
URL_SCHEMES = ("http://", "https://", "unix://")


def load(raw: bytes) -> dict[str, Any]:
    """The JSON document on stdin. Raises: CniError (code 6)."""
    try:
        doc = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CniError(DECODE_FAILURE, "the network configuration is not JSON", str(exc)) from None
    if not isinstance(doc, dict):
        raise CniError(DECODE_FAILURE, "the network configuration is not a JSON object")
    return doc


def _bad(key: str, why: str) -> CniError:
    return CniError(INVALID_CONFIG, f"network config: {key} {why}")


def _text(section: dict[str, Any], key: str, *, default: str | None = None) -> str | None:
    value = section.get(key, default)
    if value is not None and (not isinstance(value, str) or not value.isprintable()):
        raise _bad(key, "must be a string of printable characters")
    return value


def _number(section: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(key, f"must be a number from {low:g} to {high:g}")
    return float(value)


def network_name(doc: dict[str, Any]) -> str:
    name = doc.get("name")
    if not isinstance(name, str) or not NETWORK_NAME.match(name) or len(name) > 128:
        raise _bad("name", "must be letters, digits, '_', '.' or '-', led by a letter or digit")
    return name


def check_token_file(path: Path) -> None:
    """The token must be the owner's alone: an orchestrator token allocates fabric-wide."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise _bad("token_file", f"cannot be read ({exc.strerror})") from None
    if stat.S_IMODE(mode) & 0o077:
        raise _bad("token_file", f"{path} must not be readable by others (chmod 600)")


class IpamConfig(NamedTuple):
    """fabric-ipam's section (``ipam`` of the network config)."""

    network: str
    api_url: str
    token_file: Path
    host: str
    ca_file: Path | None = None
    pools: tuple[str, ...] = ()
    family: str = "4"
    timeout: float = 10.0
    gc_grace_seconds: float | None = None
    log_file: Path | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> IpamConfig:
        """Raises: CniError (code 7)."""
        section = doc.get("ipam")
        if not isinstance(section, dict):
            raise _bad("ipam", "must be an object")
        api_url = _text(section, "api_url")
        if not api_url or not api_url.startswith(URL_SCHEMES):
            raise _bad("ipam.api_url", "must be an http://, https:// or unix:// URL")
        token = _text(section, "token_file")
        if not token:
            raise _bad("ipam.token_file", "is required (a file holding an orchestrator token)")
        token_file = Path(token)
        check_token_file(token_file)
        ca = _text(section, "ca_file")
        pools = section.get("pools", [])
        if not isinstance(pools, list) or not all(isinstance(p, str) and p for p in pools):
            raise _bad("ipam.pools", "must be a list of pool names")
        family = FAMILIES.get(section.get("family", "4"))
        if family is None:
            raise _bad("ipam.family", "must be 4, 6 or dual")
        grace = section.get("gc_grace_seconds")
        log = _text(section, "log_file_path") or _text(doc, "log_file_path")
        return cls(
            network=network_name(doc),
            api_url=api_url,
            token_file=token_file,
            host=_text(section, "host") or socket.gethostname(),
            ca_file=Path(ca) if ca else None,
            pools=tuple(pools),
            family=family,
            timeout=_number(section, "timeout_seconds", 10.0, 0.1, 300.0),
            gc_grace_seconds=None
            if grace is None
            else _number(section, "gc_grace_seconds", 0, 0, 10 * 365 * 86400),
            log_file=Path(log) if log else None,
        )

    def token(self) -> str:
        try:
            return self.token_file.read_text().strip()
        except OSError as exc:
            raise _bad("ipam.token_file", f"cannot be read ({exc.strerror})") from None


class PluginConfig(NamedTuple):
    """fabric-cni's own keys."""

    network: str
    ipam_type: str
    mtu: int = 1500
    log_file: Path | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PluginConfig:
        """Raises: CniError (code 7)."""
        section = doc.setdefault("ipam", {"type": "fabric-ipam"})
        if not isinstance(section, dict):
            raise _bad("ipam", "must be an object")
        ipam_type = section.setdefault("type", "fabric-ipam")
        if not isinstance(ipam_type, str) or not NETWORK_NAME.match(ipam_type):
            raise _bad("ipam.type", "must name a plugin (letters, digits, '_', '.', '-')")
        log = _text(doc, "log_file_path")
        return cls(
            network=network_name(doc),
            ipam_type=ipam_type,
            mtu=int(_number(doc, "mtu", 1500, 68, 65535)),
            log_file=Path(log) if log else None,
        )


def log_file_of(doc: dict[str, Any]) -> Path | None:
    """Where to log, before the rest of the config is known to be valid."""
    section = doc.get("ipam")
    ipam: dict[str, Any] = section if isinstance(section, dict) else {}
    for value in (doc.get("log_file_path"), ipam.get("log_file_path")):
        if isinstance(value, str) and value and os.path.isabs(value):
            return Path(value)
    return None
