"""/v1/routers: fabric routers, their neighbours, their rendered configuration."""

from __future__ import annotations

from fastapi.testclient import TestClient

LEAF = {
    "name": "leaf1",
    "role": "leaf",
    "asn": 65101,
    "router_id": "10.255.1.1",
    "interfaces": [{"name": "eth3", "address": "10.1.1.0/31"}],
}


def test_router_lifecycle_and_config(client: TestClient) -> None:
    assert client.post("/v1/routers", json=LEAF).status_code == 201
    again = client.post("/v1/routers", json=LEAF)
    assert again.status_code == 409 and again.json()["code"] == "router_exists"
    client.post("/v1/hosts", json={"name": "h1", "address": "10.1.1.1", "asn": 65001})
    client.post(
        "/v1/peers",
        json={"name": "p1", "address": "10.1.1.0", "asn": 65101, "scope": "host", "host": "h1",
              "password": "hunter2"},
    )  # fmt: skip
    body = client.get("/v1/routers/leaf1").json()
    assert body["neighbors"] == [
        {"address": "10.1.1.1", "asn": 65001, "kind": "host", "name": "h1", "interface": "eth3",
         "password_set": True}
    ]  # fmt: skip
    assert "hunter2" not in client.get("/v1/routers").text
    config = client.get("/v1/routers/leaf1/config", params={"format": "frr"})
    assert config.headers["content-type"].startswith("text/plain")
    assert "router bgp 65101" in config.text and "neighbor 10.1.1.1 password hunter2" in config.text
    assert client.delete("/v1/routers/leaf1").status_code == 204
    missing = client.get("/v1/routers/leaf1/config")
    assert missing.status_code == 404 and missing.json()["code"] == "router_not_found"


def test_bad_router_gets_a_clear_4xx(client: TestClient) -> None:
    bad_role = client.post("/v1/routers", json={**LEAF, "role": "core"})
    assert bad_role.status_code == 422
    bad_format = client.get("/v1/routers/leaf1/config", params={"format": "junos"})
    assert bad_format.status_code == 422
    bad_iface = client.post(
        "/v1/routers", json={**LEAF, "interfaces": [{"name": "eth1", "address": "nope/31"}]}
    )
    assert bad_iface.status_code == 422 and bad_iface.json()["code"] == "invalid_interfaces"
