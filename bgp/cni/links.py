"""The kernel side of a container, Calico's way, through iproute2 (``ip -batch``).

Container: one /32 (/128) on its interface, a default route via 169.254.1.1 (fe80::1),
reached on-link. Host: the other end of the veth (``fab`` + a hash of the attachment) with
proxy ARP (and no proxy delay) answering for that gateway, and a /32 (/128) route to the
container, marked with our own protocol number (``RTPROT_CNI``): the agent's blackholes
(``bgp.kernel``, proto 77) and everything else on the host are never touched.

Not pyroute2, as ``bgp.kernel`` is: its package import alone costs far more than the two
``ip`` processes an ADD runs (bench/README.md, CNI).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

from bgp.cni.spec import CHECK_FAILED, IO_FAILURE, UNKNOWN_CONTAINER, CniError, IpConfig

RTPROT_CNI = 78  # ``ip route show proto 78``: the routes to our containers
HOST_MAC = "ee:ee:ee:ee:ee:ee"  # every host end alike: a container's ARP cache survives a re-plumb
SYS_NET = Path("/sys/class/net")
PROC_NET = Path("/proc/sys/net")
TIMEOUT = 20.0


def host_ifname(container_id: str, ifname: str) -> str:
    """The host end's name: stable per attachment, 14 characters (the kernel allows 15)."""
    return "fab" + hashlib.sha1(f"{container_id}/{ifname}".encode()).hexdigest()[:11]


def container_mac(container_id: str, ifname: str) -> str:
    """A locally administered unicast MAC derived from the attachment (stable across retries)."""
    digest = hashlib.sha1(f"mac/{container_id}/{ifname}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02 | (digest[0] & 0xFC), *digest[1:6]))


def _ip(
    commands: list[str], netns: str | None = None, *, json_out: bool = False, v6: bool = False
) -> str:
    # Options such as -6 are the command line's, not a batch line's.
    argv = ["ip", *(["-j"] if json_out else []), *(["-6"] if v6 else []), "-batch", "-"]
    if netns:
        argv = ["nsenter", f"--net={netns}", *argv]
    try:
        proc = subprocess.run(
            argv, input="\n".join(commands) + "\n", capture_output=True, text=True, timeout=TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CniError(IO_FAILURE, "iproute2 could not be run", str(exc)) from None
    if proc.returncode != 0:
        where = f"in {netns}" if netns else "on the host"
        raise CniError(IO_FAILURE, f"configuring the interface {where} failed", proc.stderr.strip())
    return proc.stdout


def _sysctl(path: str, value: str) -> None:
    target = PROC_NET / path
    try:
        if target.read_text().strip() != value:
            target.write_text(value)
    except OSError as exc:
        raise CniError(IO_FAILURE, f"cannot set net.{path.replace('/', '.')}", str(exc)) from None


class Attachment(NamedTuple):
    """One container interface: where it lives and what it gets."""

    netns: str
    container_id: str
    ifname: str
    ips: tuple[IpConfig, ...]
    mtu: int = 1500

    @property
    def host_if(self) -> str:
        return host_ifname(self.container_id, self.ifname)

    @property
    def mac(self) -> str:
        return container_mac(self.container_id, self.ifname)

    def families(self) -> set[int]:
        return {ip.family for ip in self.ips}


def exists(ifname: str) -> bool:
    """Whether the host (the namespace we run in) has this interface."""
    return (SYS_NET / ifname).exists()


def remove(host_if: str) -> None:
    """Delete the veth (both ends go); nothing to do when it is gone already."""
    if exists(host_if):
        _ip([f"link del {host_if}"])


def create(att: Attachment) -> list[dict[str, str]]:
    """Plumb the attachment; the result's interfaces (host end, container end).

    A stale veth of the same attachment (an ADD retried) is replaced.
    Raises: CniError (3 no such namespace; 5 the kernel refused).
    """
    if not os.path.exists(att.netns):
        raise CniError(UNKNOWN_CONTAINER, f"the network namespace {att.netns} does not exist")
    remove(att.host_if)
    # Two ``ip`` runs in all: the host end with its routes (a route over a
    # link without carrier yet is taken, flagged linkdown until the container end is up),
    # then the container end.
    _ip([
        f"link add {att.host_if} mtu {att.mtu} address {HOST_MAC} type veth peer name "
        f"{att.ifname} mtu {att.mtu} address {att.mac} netns {att.netns}",
        f"link set {att.host_if} up",
        *_host_route_commands(att),
    ])  # fmt: skip
    families = att.families()
    if 4 in families:
        _sysctl(f"ipv4/conf/{att.host_if}/proxy_arp", "1")
        _sysctl(f"ipv4/neigh/{att.host_if}/proxy_delay", "0")  # else ~0.8 s before the 1st ARP
        _sysctl("ipv4/ip_forward", "1")
    if 6 in families:
        _sysctl(f"ipv6/conf/{att.host_if}/accept_ra", "0")
        _sysctl("ipv6/conf/all/forwarding", "1")
    _ip(_container_commands(att), att.netns)
    return [
        {"name": att.host_if, "mac": HOST_MAC},
        {"name": att.ifname, "mac": att.mac, "sandbox": att.netns},
    ]


def _container_commands(att: Attachment) -> list[str]:
    out = ["link set lo up", f"link set {att.ifname} up"]
    for ip in att.ips:
        if ip.family == 4:
            out += [
                f"addr add {ip.ip}/32 dev {att.ifname}",
                f"route replace {ip.gateway} dev {att.ifname} scope link",
                f"route replace default via {ip.gateway} dev {att.ifname} onlink",
            ]
        else:
            out += [
                f"addr add {ip.ip}/128 dev {att.ifname} nodad",
                # The family follows the gateway's.
                f"route replace default via {ip.gateway} dev {att.ifname}",
            ]
    return out


def _host_route_commands(att: Attachment) -> list[str]:
    out = []
    for ip in att.ips:
        plen = 32 if ip.family == 4 else 128
        if ip.family == 6:
            out.append(f"addr replace {ip.gateway}/64 dev {att.host_if} nodad")
        out.append(
            f"route replace {ip.ip}/{plen} dev {att.host_if} scope link proto {RTPROT_CNI}"
        )
    return out


def check(att: Attachment) -> None:
    """The container and the host as ``create`` left them. Raises: CniError (105)."""
    problems = _host_problems(att) + _container_problems(att)
    if problems:
        raise CniError(CHECK_FAILED, f"{att.ifname} of {att.container_id}: " + "; ".join(problems))


def _host_problems(att: Attachment) -> list[str]:
    if not exists(att.host_if):
        return [f"the host end {att.host_if} is gone"]
    out = []
    routes = [
        route
        for family in att.families()
        for route in _json(_ip([f"route show proto {RTPROT_CNI}"], json_out=True, v6=family == 6))
    ]
    for ip in att.ips:
        if not any(r.get("dst") == ip.ip and r.get("dev") == att.host_if for r in routes):
            out.append(f"the host has no route to {ip.ip} via {att.host_if}")
    if 4 in att.families():
        proxy = (PROC_NET / f"ipv4/conf/{att.host_if}/proxy_arp").read_text().strip()
        if proxy != "1":
            out.append(f"proxy ARP is off on {att.host_if}")
    return out


def _container_problems(att: Attachment) -> list[str]:
    if not os.path.exists(att.netns):
        return [f"the network namespace {att.netns} is gone"]
    try:
        docs = _json(_ip([f"addr show dev {att.ifname}", "route show default"], att.netns,
                         json_out=True))  # fmt: skip
        if 6 in att.families():
            docs += _json(_ip(["route show default"], att.netns, json_out=True, v6=True))
    except CniError as exc:
        return [f"{att.ifname} cannot be read in the container ({exc.details})"]
    have = {(a.get("local"), a.get("prefixlen")) for d in docs for a in d.get("addr_info", [])}
    problems = []
    for ip in att.ips:
        plen = 32 if ip.family == 4 else 128
        if (ip.ip, plen) not in have:
            problems.append(f"{ip.ip}/{plen} is not on {att.ifname}")
        if not any(d.get("dst") == "default" and d.get("gateway") == ip.gateway for d in docs):
            problems.append(f"no default route via {ip.gateway}")
    return problems


def _json(text: str) -> list[dict[str, Any]]:
    """``ip -j -batch`` prints one JSON array per command, one after the other."""
    out: list[dict[str, Any]] = []
    decoder, pos, text = json.JSONDecoder(), 0, text.strip()
    while pos < len(text):
        doc, end = decoder.raw_decode(text, pos)
        out += doc if isinstance(doc, list) else [doc]
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out
