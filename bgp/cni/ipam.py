"""fabric-ipam: the CNI IPAM plugin backed by the controller's REST API.

One allocation per attachment, its handle ``<network>/<container id>/<ifname>``: a retried
ADD gets the same address back (the API is idempotent per handle), DEL releases by handle
(and is a success when nothing is held), GC releases this network's handles on this host
that the runtime no longer lists, through the API's grace-period GC.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from bgp.cni.api import Api, NotFound, segment
from bgp.cni.config import IpamConfig
from bgp.cni.spec import (
    CHECK_FAILED,
    GATEWAY_V4,
    GATEWAY_V6,
    INVALID_CONFIG,
    LIMITED_CONNECTIVITY,
    NOT_AVAILABLE,
    CniError,
    Invocation,
    IpConfig,
    Result,
    parse_result,
)

# CNI_ARGS that Kubernetes sets, kept on the allocation as its attributes.
K8S_ATTRIBUTES = {"K8S_POD_NAMESPACE": "namespace", "K8S_POD_NAME": "pod", "K8S_POD_UID": "pod_uid"}
OUR_MAIN = "fabric-cni"
DEFAULT_ROUTES = {4: {"dst": "0.0.0.0/0", "gw": GATEWAY_V4}, 6: {"dst": "::/0", "gw": GATEWAY_V6}}


def handle_of(network: str, container_id: str, ifname: str) -> str:
    return f"{network}/{container_id}/{ifname}"


def attributes(inv: Invocation, config: IpamConfig) -> dict[str, str]:
    attrs = {"network": config.network, "container_id": inv.container_id, "ifname": inv.ifname}
    for arg, name in K8S_ATTRIBUTES.items():
        if inv.args.get(arg):
            attrs[name] = inv.args[arg]
    return attrs


def _allocate(api: Api, config: IpamConfig, handle: str, attrs: dict[str, str]) -> Any:
    body: dict[str, Any] = {"host": config.host, "handle": handle, "family": config.family,
                            "attributes": attrs}  # fmt: skip
    if config.pools:
        body["pools"] = list(config.pools)
    return api.call("POST", "/v1/allocations", body)["allocations"]


def add(inv: Invocation, config: IpamConfig, api: Api, main_plugin: str = OUR_MAIN) -> Result:
    """The attachment's addresses. For fabric-cni: /32 and /128 behind a link-local gateway.
    For any other main plugin, a result it can apply as it is (see ``_subnet_form``)."""
    handle = handle_of(config.network, inv.container_id, inv.ifname)
    allocations = _allocate(api, config, handle, attributes(inv, config))
    if main_plugin != OUR_MAIN:
        return _subnet_form(api, config, allocations)
    ips, routes = [], []
    for allocation in allocations:
        family = int(allocation["family"])
        gateway = GATEWAY_V4 if family == 4 else GATEWAY_V6
        ips.append(IpConfig(f"{allocation['address']}/{32 if family == 4 else 128}", gateway))
        routes.append(DEFAULT_ROUTES[family])
    return Result(tuple(ips), tuple(routes))


def _subnet_form(api: Api, config: IpamConfig, allocations: list[dict[str, Any]]) -> Result:
    """What a plugin such as the reference ptp needs: a gateway inside the address's prefix
    (it routes via the gateway without an on-link flag, and puts the gateway on the host end
    of every veth). The gateway is an address of the fabric too, held by the host under
    ``gateway/<network>/<host>`` (never a container's, never collected by GC); the prefix is
    the smallest that holds the container's block and the gateway's."""
    gateways = {
        int(g["family"]): g
        for g in _allocate(api, config, f"gateway/{config.network}/{config.host}",
                           {"network": config.network, "role": "gateway"})  # fmt: skip
    }
    ips, routes = [], []
    for allocation in allocations:
        family = int(allocation["family"])
        gateway = gateways[family]
        prefix = _common_prefix(allocation["block"], gateway["block"])
        ips.append(IpConfig(f"{allocation['address']}/{prefix}", gateway["address"]))
        routes.append({"dst": DEFAULT_ROUTES[family]["dst"], "gw": gateway["address"]})
    return Result(tuple(ips), tuple(routes))


def _common_prefix(block_a: str, block_b: str) -> int:
    a, b = ipaddress.ip_network(block_a), ipaddress.ip_network(block_b)
    prefix = min(a.prefixlen, b.prefixlen)
    while not a.supernet(new_prefix=prefix).overlaps(b):
        prefix -= 1
    return prefix


def delete(inv: Invocation, config: IpamConfig, api: Api) -> None:
    handle = handle_of(config.network, inv.container_id, inv.ifname)
    api.call("POST", "/v1/allocations/release", {"handle": handle})


def check(inv: Invocation, config: IpamConfig, api: Api, doc: dict[str, Any]) -> None:
    """Every address of ``prevResult`` is still this attachment's, on this host."""
    if "prevResult" not in doc:
        raise CniError(INVALID_CONFIG, "CHECK needs prevResult in the network config")
    handle = handle_of(config.network, inv.container_id, inv.ifname)
    for ip in parse_result(doc["prevResult"]).ips:
        try:
            owner = api.call("GET", f"/v1/allocations/{segment(ip.ip)}")
        except NotFound:
            raise CniError(CHECK_FAILED, f"{ip.ip} is allocated to nobody any more") from None
        if owner["handle"] != handle or owner["host"] != config.host:
            raise CniError(
                CHECK_FAILED,
                f"{ip.ip} belongs to {owner['handle']!r} on {owner['host']}, not to {handle!r}",
            )


def gc(config: IpamConfig, api: Api, doc: dict[str, Any]) -> None:
    """Release this network's allocations on this host that no valid attachment holds."""
    attachments = doc.get("cni.dev/valid-attachments")
    if not isinstance(attachments, list):
        raise CniError(INVALID_CONFIG, "GC needs cni.dev/valid-attachments (a list)")
    try:
        handles = [handle_of(config.network, a["containerID"], a["ifname"]) for a in attachments]
    except (KeyError, TypeError):
        raise CniError(
            INVALID_CONFIG, "each valid attachment needs containerID and ifname"
        ) from None
    body: dict[str, Any] = {
        "host": config.host,
        "handles": handles,
        "handle_prefix": f"{config.network}/",
    }
    if config.gc_grace_seconds is not None:
        body["grace_seconds"] = config.gc_grace_seconds
    api.call("POST", "/v1/ipam/gc", body)


def status(config: IpamConfig, api: Api) -> None:
    """50 when an ADD could not be served (no API, unknown host, no room in its pools);
    51 when the host's speaker reports no established session (its containers are cut off)."""
    try:
        host = api.call("GET", f"/v1/hosts/{segment(config.host)}")
        usage = api.call("GET", "/v1/pools")
        sessions = api.call("GET", "/v1/peers/status", host=config.host)
    except CniError as exc:
        raise CniError(
            NOT_AVAILABLE, f"fabric IPAM is not available: {exc.msg}", exc.details
        ) from None
    families = {"4": {4}, "6": {6}, "dual": {4, 6}}[config.family]
    room = {u["pool"]["family"] for u in usage if _has_room(u, host, config, families)}
    if families - room:
        wanted = ", ".join(f"IPv{f}" for f in sorted(families - room))
        raise CniError(NOT_AVAILABLE, f"host {config.host}'s pools have no {wanted} address left")
    if not any(s["state"] == "established" for s in sessions):
        raise CniError(
            LIMITED_CONNECTIVITY,
            f"host {config.host} reports no established BGP session: its containers are "
            "not announced to the fabric",
        )


def _has_room(
    usage: dict[str, Any], host: dict[str, Any], config: IpamConfig, families: set[int]
) -> bool:
    """Whether the pool can give this host an address: a free one, in a block of its own
    when the pool is disabled (no new blocks) or the host does not match its selector."""
    pool = usage["pool"]
    if pool["family"] not in families or (config.pools and pool["name"] not in config.pools):
        return False
    if usage["free"] <= 0:
        return False
    eligible = not pool["disabled"] and all(
        host["labels"].get(k) == v for k, v in pool["selector"].items()
    )
    size = 2 ** ((32 if pool["family"] == 4 else 128) - pool["block_size"])
    own = next((h for h in usage["by_host"] if h["host"] == config.host), None)
    return eligible or (own is not None and own["blocks"] * size > own["allocated"])


def serve(inv: Invocation, doc: dict[str, Any]) -> dict[str, Any] | None:
    """Run one command; the result document's current form (None when there is none)."""
    config = IpamConfig.from_doc(doc)
    api = Api(config)
    try:
        if inv.command == "ADD":
            main_plugin = str(doc.get("type", OUR_MAIN))
            return add(inv, config, api, main_plugin).document(doc["cniVersion"])
        if inv.command == "DEL":
            delete(inv, config, api)
        elif inv.command == "CHECK":
            check(inv, config, api, doc)
        elif inv.command == "GC":
            gc(config, api, doc)
        elif inv.command == "STATUS":
            status(config, api)
        return None
    finally:
        api.close()


def main() -> None:
    from bgp.cni.run import run

    run(serve, "fabric-ipam")
