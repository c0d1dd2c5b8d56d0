"""Dual-stack through the API: a host's IPv6 address, its next hops, its speaker, its ToR."""

from __future__ import annotations

from fastapi.testclient import TestClient

LEAF = {
    "name": "leaf1", "role": "leaf", "asn": 65101, "router_id": "10.255.1.1",
    "interfaces": [
        {"name": "eth1", "address": "10.1.1.0/31", "address6": "fd00:0:1::1/64"},
        {"name": "eth2", "address": "10.1.2.0/31", "address6": "fd00:0:2::1/64"},
    ],
}  # fmt: skip


def seed(client: TestClient) -> None:
    assert client.post("/v1/pools", json={"name": "p4", "cidr": "10.244.0.0/16"}).status_code == 201
    made = client.post("/v1/pools", json={"name": "p6", "cidr": "fd00:244::/56", "block_size": 122})
    assert made.status_code == 201, made.text
    assert client.post("/v1/routers", json=LEAF).status_code == 201
    for i, address6 in ((1, "fd00:0:1::2"), (2, None)):
        host = {"name": f"h{i}", "address": f"10.1.{i}.1", "asn": 65000 + i}
        if address6:
            host["address6"] = address6
        assert client.post("/v1/hosts", json=host).status_code == 201
    peers = [("p1", "10.1.1.0", "h1"), ("p2", "fd00:0:2::1", "h2"), ("p2v4", "10.1.2.0", "h2")]
    for name, address, host in peers:
        body = {"name": name, "address": address, "asn": 65101, "scope": "host", "host": host}
        assert client.post("/v1/peers", json=body).status_code == 201


def test_host_ipv6_address_is_checked_kept_and_removable(client: TestClient) -> None:
    seed(client)
    assert client.get("/v1/hosts/h1").json()["address6"] == "fd00:0:1::2"
    for bad, code in (
        ("10.9.9.9", "invalid_address"),
        ("nonsense", "invalid_address"),
        ("fd00:0:1::2", "host_address_in_use"),
        ("10.1.1.1", "host_address_in_use"),
    ):
        r = client.patch("/v1/hosts/h2", json={"address6": bad})
        assert r.status_code in (400, 409, 422) and r.json()["code"] == code, r.text
        assert client.get("/v1/hosts/h2").json()["address6"] is None  # nothing half-written
    # PATCH without address6 keeps it; null removes it.
    assert client.patch("/v1/hosts/h1", json={"asn": 65011}).json()["address6"] == "fd00:0:1::2"
    assert client.patch("/v1/hosts/h1", json={"address6": None}).json()["address6"] is None
    v6only = {"name": "h9", "address": "fd00:9::9", "asn": 65009, "address6": "fd00:9::10"}
    refused = client.post("/v1/hosts", json=v6only)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_address"


def test_next_hops_and_speaker_carry_both_families(client: TestClient) -> None:
    seed(client)
    client.post("/v1/allocations", json={"host": "h1", "handle": "c1", "family": "dual"})
    state = client.get("/v1/hosts/h1/advertisements").json()
    assert (state["next_hop"], state["next_hop6"]) == ("10.1.1.1", "fd00:0:1::2")
    assert sorted(":" in a["prefix"] for a in state["advertisements"]) == [False, True]
    assert client.get("/v1/hosts/h2/advertisements").json()["next_hop6"] is None
    speaker = client.get("/v1/hosts/h1/speaker").json()
    assert speaker["address6"] == "fd00:0:1::2"


def test_tor_activates_ipv6_on_the_ipv4_session_or_uses_the_ipv6_one(client: TestClient) -> None:
    """h1 (IPv6 address on the link, one IPv4 session) gets IPv6 over its IPv4 session; h2
    has an IPv6 session as well, which carries its IPv6 (no second copy over IPv4)."""
    seed(client)
    client.patch("/v1/hosts/h2", json={"address6": "fd00:0:2::2"})
    client.post("/v1/allocations", json={"host": "h1", "handle": "c1", "family": "dual"})
    neighbors = {(n["address"], tuple(n["families"]))
                 for n in client.get("/v1/routers/leaf1").json()["neighbors"]}  # fmt: skip
    assert neighbors == {("10.1.1.1", (4, 6)), ("10.1.2.1", (4,)), ("fd00:0:2::2", (6,))}
    frr = client.get("/v1/routers/leaf1/config", params={"format": "frr"}).text
    v6_family = frr[frr.index("address-family ipv6 unicast") :]
    assert " ipv6 address fd00:0:1::1/64" in frr
    assert (
        "neighbor 10.1.1.1 activate" in v6_family and "neighbor 10.1.2.1 activate" not in v6_family
    )
    assert "neighbor fd00:0:2::2 activate" in v6_family
    block6 = next(b for b in client.get("/v1/hosts/h1/advertisements").json()["blocks"] if ":" in b)
    assert f"ipv6 prefix-list host-h1-in-v6 seq 10 permit {block6} le 128" in frr
    # IPv6 prefixes a host can own: the block (1) and its 64 addresses.
    assert "neighbor 10.1.1.1 maximum-prefix 65" in v6_family
    bird = client.get("/v1/routers/leaf1/config", params={"format": "bird"}).text
    assert "protocol bgp host_h2_v6 {" in bird and "neighbor fd00:0:2::2 as 65002;" in bird
    h1 = bird[bird.index("protocol bgp host_h1 {") :]
    assert "ipv6 {\n    import filter host_h1_in_v6;" in h1[: h1.index("\n}\n")]


def test_an_ipv6_address_off_the_link_says_why_the_session_stays_ipv4_only(
    client: TestClient,
) -> None:
    """h1's IPv6 address is not on leaf1's eth1 subnet: its next hop would not resolve there,
    so the session carries IPv4 only, and both rendered configs say so above the neighbour."""
    seed(client)
    assert client.patch("/v1/hosts/h1", json={"address6": "fd00:9::2"}).status_code == 200
    neighbors = {n["address"]: n["families"] for n in client.get("/v1/routers/leaf1").json()[
        "neighbors"]}  # fmt: skip
    assert neighbors["10.1.1.1"] == [4]
    why = "IPv4 only: the host's IPv6 address fd00:9::2 is not on eth1's fd00:0:1::/64"
    frr = client.get("/v1/routers/leaf1/config", params={"format": "frr"}).text
    assert f" ! {why}\n neighbor 10.1.1.1 remote-as 65001" in frr
    bird = client.get("/v1/routers/leaf1/config", params={"format": "bird"}).text
    assert f"# {why}\nprotocol bgp host_h1 {{" in bird


def test_session_reports_carry_per_family_counts_to_the_views_and_metrics(
    client: TestClient,
) -> None:
    seed(client)
    both = {"ipv4": {"sent": 3, "received": 0}, "ipv6": {"sent": 2, "received": 1}}
    report = {"sessions": [
        {"peer_address": "10.1.1.0", "state": "established", "prefixes_sent": 5, "families": both},
    ]}  # fmt: skip
    assert client.put("/v1/hosts/h1/peers/status", json=report).status_code == 200
    rows = {r["host"]: r for r in client.get("/v1/peers/status").json() if r["peer"] == "p1"}
    assert rows["h1"]["families"] == both
    metrics = client.get("/metrics").text
    assert 'fabric_bgp_family_prefixes_sent{family="ipv6",host="h1",peer="10.1.1.0"} 2.0' in metrics
    assert 'fabric_bgp_family_prefixes_received{family="ipv6",host="h1",peer="10.1.1.0"} 1.0' in (
        metrics
    )
    # A family that is not unicast IPv4/IPv6, or a negative count, is refused whole.
    for families in ({"l2vpn": {"sent": 1}}, {"ipv6": {"sent": -1}}):
        bad = {"sessions": [{"peer_address": "10.1.1.0", "state": "established",
                             "families": families}]}  # fmt: skip
        r = client.put("/v1/hosts/h1/peers/status", json=bad)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
    assert client.get("/v1/peers/status?host=h1").json()[0]["families"] == both
