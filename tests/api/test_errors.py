"""Bad input gets a clear 4xx with a machine-readable code; nothing is half-written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.api

BAD_POOLS = [
    ({"name": "p", "cidr": "10.0.0.0/33"}, 422, "invalid_cidr"),
    ({"name": "p", "cidr": "not-a-cidr"}, 422, "invalid_cidr"),
    ({"name": "p", "cidr": "10.0.0.1/24"}, 422, "host_bits_set"),
    ({"name": "p", "cidr": "10.0.0.0/24", "block_size": 20}, 422, "invalid_block_size"),
    ({"name": "p", "cidr": "10.0.0.0/24", "block_size": 33}, 422, "invalid_block_size"),
    ({"name": "P Q", "cidr": "10.0.0.0/24"}, 422, "invalid_name"),
    ({"name": "p", "cidr": "10.0.0.0/24", "reserved": ["10.1.0.0/30"]}, 422, "invalid_reserved"),
    ({"name": "p", "cidr": "10.0.0.0/24", "surprise": 1}, 422, "invalid_request"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_POOLS)
def test_bad_pools(client: TestClient, body: dict[str, object], status: int, code: str) -> None:
    r = client.post("/v1/pools", json=body)
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert r.json()["detail"]
    assert client.get("/v1/pools").json() == []


def test_overlap_malformed_json_and_unknown_things(client: TestClient) -> None:
    client.post("/v1/pools", json={"name": "a", "cidr": "10.0.0.0/16"})
    r = client.post("/v1/pools", json={"name": "b", "cidr": "10.0.128.0/24"})
    assert (r.status_code, r.json()["code"]) == (409, "pool_overlap")
    r = client.post(
        "/v1/pools", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.json()["code"]) == (400, "malformed_json")
    assert client.get("/v1/hosts/ghost").json()["code"] == "host_not_found"
    assert client.get("/v1/nowhere").json()["code"] == "not_found"
    r = client.post("/v1/allocations", json={"host": "ghost", "handle": "h"})
    assert (r.status_code, r.json()["code"]) == (404, "host_not_found")


@pytest.mark.parametrize("asn", [0, -1, 4294967296])
def test_asn_range(client: TestClient, asn: int) -> None:
    r = client.post("/v1/hosts", json={"name": "h", "address": "192.0.2.1", "asn": asn})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    assert client.get("/v1/hosts").json() == []


def test_requested_address_out_of_reach_writes_nothing(client: TestClient) -> None:
    client.post("/v1/pools", json={"name": "r1", "cidr": "10.0.0.0/24", "selector": {"rack": "r1"}})
    client.post(
        "/v1/hosts",
        json={"name": "h", "address": "192.0.2.1", "asn": 65001, "labels": {"rack": "r2"}},
    )
    r = client.post("/v1/allocations", json={"host": "h", "handle": "x", "address": "10.0.0.5"})
    assert (r.status_code, r.json()["code"]) == (422, "address_out_of_reach")
    r = client.post("/v1/allocations", json={"host": "h", "handle": "x", "address": "10.0.0.300"})
    assert r.json()["code"] == "invalid_address"
    assert client.get("/v1/pools/r1").json()["blocks_claimed"] == 0
    r = client.post("/v1/allocations", json={"host": "h", "handle": "bad\nhandle"})
    assert r.json()["code"] == "invalid_handle"
    r = client.post(
        "/v1/allocations", json={"host": "h", "handle": "x", "attributes": {"k": "v\x00"}}
    )
    assert r.json()["code"] == "invalid_attributes"
