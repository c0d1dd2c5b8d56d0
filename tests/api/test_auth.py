"""Tokens, roles and the audit log: who may do what, and a record of what they did."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.auth import OPEN, permission_for
from tests.harness.servers import ApiServer

pytestmark = pytest.mark.api


def token(client: TestClient, name: str, role: str, host: str | None = None) -> dict[str, str]:
    r = client.post("/v1/tokens", json={"name": name, "role": role, "host": host})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def fabric(client: TestClient) -> TestClient:
    client.post("/v1/pools", json={"name": "p", "cidr": "10.0.0.0/24"}).raise_for_status()
    for i in (1, 2):
        host = {"name": f"h{i}", "address": f"192.0.2.{i}", "asn": 65000 + i}
        client.post("/v1/hosts", json=host).raise_for_status()
    peer = {"name": "tor", "address": "192.0.2.254", "asn": 65000, "password": "s3cret-pw"}
    client.post("/v1/peers", json=peer).raise_for_status()
    return client


def test_no_token_or_a_bad_one_is_401(fabric: TestClient) -> None:
    anon = {"Authorization": ""}
    missing = fabric.get("/v1/pools", headers=anon)
    assert missing.status_code == 401 and missing.json()["code"] == "token_missing"
    bad = fabric.get("/v1/pools", headers={"Authorization": "Bearer rft_nope"})
    assert bad.status_code == 401 and bad.json()["code"] == "token_invalid"
    assert fabric.get("/healthz", headers=anon).status_code == 200
    assert fabric.get("/openapi.json", headers=anon).status_code == 200


@pytest.mark.parametrize(
    ("role", "host", "method", "path", "status", "code"),
    [
        ("viewer", None, "GET", "/v1/pools", 200, None),
        ("viewer", None, "GET", "/v1/peers/status", 200, None),
        ("viewer", None, "POST", "/v1/pools", 403, "forbidden_role"),
        ("viewer", None, "POST", "/v1/allocations", 403, "forbidden_role"),
        ("viewer", None, "GET", "/v1/hosts/h1/speaker", 403, "forbidden_role"),
        ("viewer", None, "GET", "/v1/tokens", 403, "forbidden_role"),
        ("orchestrator", None, "POST", "/v1/allocations", 201, None),
        ("orchestrator", None, "GET", "/v1/allocations", 200, None),
        ("orchestrator", None, "POST", "/v1/hosts", 403, "forbidden_role"),
        ("orchestrator", None, "DELETE", "/v1/peers/tor", 403, "forbidden_role"),
        ("agent", "h1", "GET", "/v1/hosts/h1/speaker", 200, None),
        ("agent", "h1", "GET", "/v1/hosts/h1/advertisements", 200, None),
        ("agent", "h1", "PUT", "/v1/hosts/h1/peers/status", 200, None),
        ("agent", "h1", "GET", "/v1/hosts/h2/speaker", 403, "forbidden_host"),
        ("agent", "h1", "PUT", "/v1/hosts/h2/peers/status", 403, "forbidden_host"),
        ("agent", "h1", "GET", "/v1/pools", 403, "forbidden_role"),
        ("agent", "h1", "POST", "/v1/allocations", 403, "forbidden_role"),
    ],
)
def test_roles(
    fabric: TestClient, role: str, host: str | None, method: str, path: str, status: int,
    code: str | None,
) -> None:  # fmt: skip
    headers = token(fabric, f"t-{role}", role, host)
    bodies = {
        "/v1/pools": {"name": "q", "cidr": "10.1.0.0/24"},
        "/v1/allocations": {"host": "h1", "handle": "w1"},
        "/v1/hosts": {"name": "h9", "address": "192.0.2.9", "asn": 65009},
        "/v1/hosts/h1/peers/status": {"sessions": []},
        "/v1/hosts/h2/peers/status": {"sessions": []},
    }
    r = fabric.request(method, path, headers=headers, json=bodies.get(path))
    assert r.status_code == status, r.text
    if code:
        assert r.json()["code"] == code
    assert "s3cret-pw" not in r.text or (role, path) == ("agent", "/v1/hosts/h1/speaker")


def test_a_router_token_reads_and_reports_its_own_router_only(fabric: TestClient) -> None:
    """tor-sync's least privilege: its router's configuration (with the BGP passwords) and the
    report of what it applied; not another router's, not the rest of the API. The token goes
    with its router."""
    for i in (1, 2):
        leaf = {"name": f"leaf{i}", "role": "leaf", "asn": 65100 + i,
                "router_id": f"10.255.1.{i}", "interfaces": [{"name": "eth1",
                "address": f"192.0.2.{252 + i - 1}/31"}]}  # fmt: skip
        fabric.post("/v1/routers", json=leaf).raise_for_status()
    made = fabric.post("/v1/tokens", json={"name": "sync1", "role": "router", "router": "leaf1"})
    assert made.status_code == 201 and made.json()["router"] == "leaf1", made.text
    headers = {"Authorization": f"Bearer {made.json()['token']}"}
    config = fabric.get("/v1/routers/leaf1/config", headers=headers)
    assert config.status_code == 200, config.text
    report = {"format": "frr", "filters": True, "digest": config.headers["X-Fabric-Config-Digest"],
              "revision": int(config.headers["X-Fabric-Revision"])}  # fmt: skip
    applied = fabric.put("/v1/routers/leaf1/applied", json=report, headers=headers)
    assert applied.status_code == 200 and applied.json()["config"]["in_sync"], applied.text
    for method, path, code in [
        ("GET", "/v1/routers/leaf2/config", "forbidden_router"),
        ("PUT", "/v1/routers/leaf2/applied", "forbidden_router"),
        ("GET", "/v1/routers/leaf1", "forbidden_role"),
        ("GET", "/v1/pools", "forbidden_role"),
        ("GET", "/v1/hosts/h1/speaker", "forbidden_role"),
        ("POST", "/v1/allocations", "forbidden_role"),
        ("DELETE", "/v1/routers/leaf1", "forbidden_role"),
    ]:
        r = fabric.request(method, path, headers=headers, json=report if method == "PUT" else None)
        assert (r.status_code, r.json()["code"]) == (403, code), (method, path, r.text)
    listed = {t["name"]: t for t in fabric.get("/v1/tokens").json()}
    assert (listed["sync1"]["role"], listed["sync1"]["router"]) == ("router", "leaf1")
    assert fabric.delete("/v1/routers/leaf1").status_code == 204
    assert "sync1" not in {t["name"] for t in fabric.get("/v1/tokens").json()}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"role": "router"}, 422, "invalid_token_router"),
        ({"role": "viewer", "router": "leaf1"}, 422, "invalid_token_router"),
        ({"role": "agent", "host": "h1", "router": "leaf1"}, 422, "invalid_token_router"),
        ({"role": "router", "router": "nope"}, 404, "router_not_found"),
    ],
)
def test_a_router_token_is_bound_to_exactly_one_router(
    fabric: TestClient, body: dict[str, str], status: int, code: str
) -> None:
    leaf = {"name": "leaf1", "role": "leaf", "asn": 65101, "router_id": "10.255.1.1",
            "interfaces": [{"name": "eth1", "address": "192.0.2.252/31"}]}  # fmt: skip
    fabric.post("/v1/routers", json=leaf).raise_for_status()
    r = fabric.post("/v1/tokens", json={"name": "bad", **body})
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert "bad" not in {t["name"] for t in fabric.get("/v1/tokens").json()}


def test_the_openapi_description_declares_the_token_per_route(fabric: TestClient) -> None:
    """/docs gets its Authorize button and generated clients send the token: a bearer scheme,
    on every operation but the open ones, with the permission the policy table gives it."""
    schema = fabric.get("/openapi.json").json()
    bearer = schema["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    seen = 0
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            if path in OPEN:
                assert op["security"] == [], (method, path)
                continue
            seen += 1
            assert op["security"] == [{"bearer": []}], (method, path)
            assert op["x-fabric-permission"] == permission_for(method.upper(), path)
    assert seen > 20
    allocate = schema["paths"]["/v1/allocations"]["post"]
    assert "Needs `allocate`: roles admin, orchestrator." in allocate["description"]
    assert fabric.get("/openapi.json").json() == schema  # built once, described once


def test_the_roles_the_description_names_are_the_ones_let_in(fabric: TestClient) -> None:
    schema = fabric.get("/openapi.json").json()
    speaker = schema["paths"]["/v1/hosts/{name}/speaker"]["get"]["description"]
    assert "roles admin, agent" in speaker and "orchestrator" not in speaker.split("Needs")[-1]
    config = schema["paths"]["/v1/routers/{name}/config"]["get"]["description"]
    assert "roles admin, router (a router token only for its own router)." in config
    for role in ("viewer", "orchestrator"):
        got = fabric.get("/v1/hosts/h1/speaker", headers=token(fabric, f"d-{role}", role))
        assert got.status_code == 403, role
    agent = token(fabric, "d-agent", "agent", "h1")
    assert fabric.get("/v1/hosts/h1/speaker", headers=agent).status_code == 200


def test_secret_shown_once_stored_hashed_and_revocation_is_immediate(
    fabric: TestClient, database_url: str
) -> None:
    created = fabric.post("/v1/tokens", json={"name": "ci", "role": "viewer"}).json()
    secret = created["token"]
    assert secret.startswith("rft_") and len(secret) > 40
    assert secret not in fabric.get("/v1/tokens").text
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens WHERE name='ci'")).scalar()
    engine.dispose()
    assert stored and secret not in stored and len(stored) == 64
    headers = {"Authorization": f"Bearer {secret}"}
    assert fabric.get("/v1/pools", headers=headers).status_code == 200
    assert fabric.delete("/v1/tokens/ci").status_code == 204
    assert fabric.get("/v1/pools", headers=headers).status_code == 401
    bad = fabric.post("/v1/tokens", json={"name": "x", "role": "agent"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_token_host"


def test_audit_says_who_changed_what_with_before_and_after(fabric: TestClient) -> None:
    ops = token(fabric, "ops", "admin")
    fabric.patch("/v1/peers/tor", json={"hold_time": 30, "keepalive": 10}, headers=ops)
    fabric.patch("/v1/peers/tor", json={"password": "n3w-secret"}, headers=ops)
    fabric.post("/v1/allocations", json={"host": "h1", "handle": "w1"}).raise_for_status()
    log = fabric.get("/v1/audit", params={"key": "peers/tor"})
    assert "s3cret-pw" not in log.text and "n3w-secret" not in log.text
    entries = log.json()
    assert [e["action"] for e in entries] == ["update", "update", "create"]
    update = entries[1]
    assert update["token_name"] == "ops" and update["role"] == "admin"
    assert update["request"] == "PATCH /v1/peers/tor"
    assert (update["before"]["hold_time"], update["after"]["hold_time"]) == (90, 30)
    assert entries[2]["token_name"] == "admin" and entries[2]["after"]["password"] == "(set)"
    alloc = fabric.get("/v1/audit", params={"key": "allocations/10.0.0.0"}).json()
    assert alloc and alloc[0]["action"] == "create" and alloc[0]["after"]["handle"] == "w1"
    # The second allocation fits h1's block: the Core fast path, audited the same way.
    fabric.post("/v1/allocations", json={"host": "h1", "handle": "w2"}, headers=ops)
    fast = fabric.get("/v1/audit", params={"key": "allocations/10.0.0.1"}).json()
    assert [(e["action"], e["token_name"], e["request"]) for e in fast] == [
        ("create", "ops", "POST /v1/allocations")
    ]
    assert fast[0]["after"]["handle"] == "w2" and fast[0]["after"]["host_id"] is not None
    # Both paths log a creation as written: the new row's id and defaults included.
    for entry in (alloc[0], fast[0]):
        assert set(entry["after"]) == set(fast[0]["after"])
        assert entry["after"]["id"] is not None and entry["after"]["created_at"] is not None
    viewer = token(fabric, "v", "viewer")
    assert fabric.get("/v1/audit", headers=viewer).status_code == 200


def test_first_start_prints_an_admin_token_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    env = {"FABRIC_BOOTSTRAP_TOKEN": ""}
    first = ApiServer(url, tmp_path / "first.log", env=env).wait_ready()
    first.stop()
    printed = [
        ln for ln in (tmp_path / "first.log").read_text().splitlines() if "FABRIC_TOKEN=" in ln
    ]
    assert len(printed) == 1
    secret = printed[0].split("FABRIC_TOKEN=")[1].strip()
    second = ApiServer(url, tmp_path / "second.log", env=env).wait_ready()
    try:
        assert "FABRIC_TOKEN=" not in (tmp_path / "second.log").read_text()
        import httpx

        ok = httpx.get(f"{second.url}/v1/pools", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200
    finally:
        second.stop()
