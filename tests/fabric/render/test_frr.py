"""Router neighbours from addressing, and the FRR configuration rendered from them."""

from __future__ import annotations

import pytest

from fabric import hosts, peers, routers
from fabric.errors import InvalidInput
from fabric.render import frr
from fabric.store.database import Database


def test_neighbours_follow_addressing_and_peers(db: Database) -> None:
    with db.write() as s:
        routers.create_router(
            s, name="leaf1", role="leaf", asn=65101, router_id="10.255.1.1",
            interfaces=[{"name": "eth1", "address": "10.0.11.1/31"},
                        {"name": "eth3", "address": "10.1.1.0/31"},
                        {"name": "eth4", "address": "10.1.2.0/31"},
                        {"name": "eth6", "address": "fd00:1::/127"}],
        )  # fmt: skip
        routers.create_router(
            s, name="spine1", role="spine", asn=65100, router_id="10.255.0.1",
            interfaces=[{"name": "eth1", "address": "10.0.11.0/31"}],
        )  # fmt: skip
        hosts.create_host(s, name="h1", address="10.1.1.1", asn=65001)
        hosts.create_host(s, name="h2", address="10.1.2.1", asn=65002)  # no peer: not a neighbour
        hosts.create_host(s, name="h6", address="fd00:1::1", asn=65006)
        peers.create_peer(
            s, name="leaf1-h1", address="10.1.1.0", asn=65101, scope="host", host="h1",
            password="s3cret", ttl_security=1, hold_time=9, keepalive=3,
        )  # fmt: skip
        peers.create_peer(s, name="leaf1-h6", address="fd00:1::", asn=65101, scope="global")
    with db.read() as s:
        leaf = routers.get_router(s, "leaf1")
        found = routers.neighbors(s, leaf)
        conf = frr.render(leaf, found)
    assert [(n.kind, n.name, n.address) for n in found] == [
        ("router", "spine1", "10.0.11.0"),
        ("host", "h1", "10.1.1.1"),
        ("host", "h6", "fd00:1::1"),
    ]
    for line in (
        " neighbor 10.0.11.0 remote-as 65100",
        " neighbor 10.1.1.1 remote-as 65001",
        " neighbor 10.1.1.1 timers 3 9",
        " neighbor 10.1.1.1 password s3cret",
        " neighbor 10.1.1.1 ttl-security hops 1",
        " ipv6 address fd00:1::/127",
        "  maximum-paths 8",
    ):
        assert line in conf.splitlines(), line
    v4, v6 = conf.split(" address-family ipv4 unicast")[1].split(" address-family ipv6 unicast")
    assert "neighbor 10.1.1.1 activate" in v4 and "fd00:1::1 activate" not in v4
    assert "neighbor fd00:1::1 activate" in v6 and "10.1.1.1 activate" not in v6
    assert "10.1.2.1" not in conf


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("role", "core", "invalid_role"),
        ("router_id", "fd00::1", "invalid_router_id"),
        ("interfaces", [{"name": "eth1;reboot", "address": "10.0.0.0/31"}], "invalid_interfaces"),
        ("interfaces", [{"name": "eth1", "address": "10.0.0.0"}], "invalid_interfaces"),
        ("interfaces", [{"name": "eth1", "address": "10.0.0.0/31"}] * 2, "invalid_interfaces"),
    ],
)
def test_bad_router_input_is_refused(db: Database, field: str, value: object, code: str) -> None:
    values: dict[str, object] = {
        "name": "r1", "role": "leaf", "asn": 65000, "router_id": "10.0.0.1", field: value,
    }  # fmt: skip
    with pytest.raises(InvalidInput) as caught, db.write() as s:
        routers.create_router(s, **values)  # type: ignore[arg-type]
    assert caught.value.code == code
