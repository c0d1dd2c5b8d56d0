"""fabric-cni: the main plugin that puts a container on the fabric.

ADD asks the IPAM plugin for addresses first, so a failure there leaves nothing behind;
then plumbs (``links``); if plumbing fails, the veth is removed and the addresses released
(the IPAM's DEL) before the error is returned. DEL removes the veth, then releases: a DEL
that cannot reach the API fails with 11, and the runtime's retry finishes it. Whatever the
IPAM plugin answers with, the container gets its addresses as /32 and /128 behind a
link-local gateway: the fabric routes to hosts, never to subnets.
"""

from __future__ import annotations

import os
from typing import Any

from bgp.cni import delegate, links, log
from bgp.cni.config import PluginConfig
from bgp.cni.spec import (
    GATEWAY_V4,
    GATEWAY_V6,
    INVALID_CONFIG,
    UNKNOWN_CONTAINER,
    CniError,
    Invocation,
    IpConfig,
    Result,
    parse_result,
)


def _host_ips(result: Result) -> tuple[IpConfig, ...]:
    """The IPAM's addresses as we plumb them: full-length prefix, link-local gateway."""
    out = []
    for ip in result.ips:
        if ip.family == 4:
            out.append(IpConfig(f"{ip.ip}/32", GATEWAY_V4, interface=1))
        else:
            out.append(IpConfig(f"{ip.ip}/128", GATEWAY_V6, interface=1))
    return tuple(out)


def _routes(ips: tuple[IpConfig, ...]) -> tuple[dict[str, str], ...]:
    families = sorted({ip.family for ip in ips})
    return tuple(
        {"dst": "0.0.0.0/0", "gw": GATEWAY_V4} if f == 4 else {"dst": "::/0", "gw": GATEWAY_V6}
        for f in families
    )


def add(inv: Invocation, config: PluginConfig, doc: dict[str, Any]) -> Result:
    if not os.path.exists(inv.netns):  # before the IPAM: nothing to undo
        raise CniError(UNKNOWN_CONTAINER, f"the network namespace {inv.netns} does not exist")
    got = delegate.ipam(inv, doc)
    allocated = parse_result(got)
    if not allocated.ips:
        _release(inv, doc)
        raise CniError(INVALID_CONFIG, f"IPAM plugin {config.ipam_type} gave no address")
    ips = _host_ips(allocated)
    attachment = links.Attachment(inv.netns, inv.container_id, inv.ifname, ips, config.mtu)
    try:
        interfaces = links.create(attachment)
    except BaseException:
        _undo(inv, doc, attachment)
        raise
    return Result(ips, _routes(ips), tuple(interfaces), allocated.dns)


def _undo(inv: Invocation, doc: dict[str, Any], attachment: links.Attachment) -> None:
    try:
        links.remove(attachment.host_if)
    except CniError as exc:
        log.warning("removing %s after a failed ADD: %s", attachment.host_if, exc.details)
    _release(inv, doc)


def _release(inv: Invocation, doc: dict[str, Any]) -> None:
    try:
        delegate.ipam(inv, doc, "DEL")
    except CniError as exc:  # the runtime calls DEL after a failed ADD: that one retries it
        log.warning("releasing after a failed ADD: %s (%s)", exc.msg, exc.details)


def delete(inv: Invocation, doc: dict[str, Any]) -> None:
    links.remove(links.host_ifname(inv.container_id, inv.ifname))
    delegate.ipam(inv, doc)


def check(inv: Invocation, config: PluginConfig, doc: dict[str, Any]) -> None:
    if "prevResult" not in doc:
        raise CniError(INVALID_CONFIG, "CHECK needs prevResult in the network config")
    previous = parse_result(doc["prevResult"])
    delegate.ipam(inv, doc)
    ips = _host_ips(previous)
    links.check(links.Attachment(inv.netns, inv.container_id, inv.ifname, ips, config.mtu))


def serve(inv: Invocation, doc: dict[str, Any]) -> dict[str, Any] | None:
    config = PluginConfig.from_doc(doc)
    if inv.command == "ADD":
        return add(inv, config, doc).document(doc["cniVersion"])
    if inv.command == "DEL":
        delete(inv, doc)
    elif inv.command == "CHECK":
        check(inv, config, doc)
    else:  # GC and STATUS are the IPAM's to answer (spec 1.1: a main plugin delegates them)
        delegate.ipam(inv, doc)
    return None


def main() -> None:
    from bgp.cni.run import run

    run(serve, "fabric-cni")
