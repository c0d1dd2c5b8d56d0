"""The lean routes (api/lean_route.py) answer exactly as FastAPI's own handler would.

The same endpoints are mounted a second time as plain FastAPI routes (the "twins"), and
every request, good or bad, is sent to both: same status, same content type, same body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Request, Response
from fastapi.routing import APIRouter
from fastapi.testclient import TestClient

from api.auth import authorize
from api.lean_route import LeanJsonRoute, LeanRoutes
from api.main import create_app
from api.routes import allocations
from api.schemas.allocations import AllocationCreate, AllocationResult, ReleaseResult
from tests.api.conftest import make_settings
from tests.harness.servers import ADMIN

pytestmark = pytest.mark.api

LEAN = {"allocate": "/v1/allocations", "release": "/v1/allocations/release"}
TWIN = {"allocate": "/twin/allocations", "release": "/twin/allocations/release"}
JSON = {"content-type": "application/json"}
# Valid bodies whose answer does not depend on which route served them first.
VALID = {"allocate": b'{"host": "nowhere", "handle": "w1"}', "release": b'{"handle": "nobody"}'}

# (endpoint, body, headers): every way in which a body can be wrong, and some right ones.
REQUESTS: list[tuple[str, bytes, dict[str, str]]] = [
    *[
        (kind, body, JSON)
        for kind in ("allocate", "release")
        for body in (
            b"", b"{", b"[]", b"null", b'"text"', b"[" * 100_000 + b"]" * 100_000,
            b'{"host": 5, "handle": "x"}', b'{"host": "h1", "handle": "x", "bogus": 1}',
            b'{"host": "h1", "handle": "' + b"a" * 300 + b'"}',
            b'{"host": "h1", "handle": "x", "family": "7"}',
            b'{"host": "h1", "handle": "x", "attributes": {"a": {"b": 1}}}',
            b'{"host": "h1", "handle": "x\\ud800"}', b'{"host": "nowhere", "handle": "x"}',
            b'{"host": "h1", "handle": "x\\n;announce"}', b'{"handle": 7}', b"{}",
            b'{"handle": "nobody"}', b'{"family": 5}', b'{"address": "10.0.0.300"}',
        )
    ],
    *[
        (kind, VALID[kind], headers)
        for kind in ("allocate", "release")
        for headers in (
            {"content-type": "text/plain"}, {}, {"content-type": "application/json; charset=utf-8"},
            {"content-type": "application/merge-patch+json"}, {"content-type": "application/x/y+json"},
            {"content-type": "APPLICATION/JSON"}, {"content-type": "json"},
            {"content-type": "application/notjson"},
        )
    ],
]  # fmt: skip


def _answer(client: TestClient, path: str, body: bytes, headers: dict[str, str]) -> Any:
    r = client.post(path, content=body, headers=headers)
    return r.status_code, r.headers.get("content-type"), r.json()


@pytest.fixture
def twins(sqlite_url: str) -> Iterator[TestClient]:
    """The app, with the lean endpoints also mounted as FastAPI's ordinary routes. On SQLite
    alone: what is compared is the handling of the request, the same on either backend."""
    with TestClient(create_app(make_settings(sqlite_url)), headers=ADMIN) as client:
        yield _with_twins(client)


def _with_twins(client: TestClient) -> TestClient:
    client.post("/v1/pools", json={"name": "p", "cidr": "10.0.0.0/24"}).raise_for_status()
    client.post("/v1/hosts", json={"name": "h1", "address": "192.0.2.1", "asn": 65001})
    twin = APIRouter(include_in_schema=False)
    twin.add_api_route(TWIN["allocate"], allocations.allocate, methods=["POST"],
                       status_code=201, response_model=AllocationResult)  # fmt: skip
    twin.add_api_route(TWIN["release"], allocations.release_allocations, methods=["POST"],
                       response_model=ReleaseResult)  # fmt: skip
    client.app.include_router(twin)  # type: ignore[attr-defined]
    return client


@pytest.mark.parametrize(("kind", "body", "headers"), REQUESTS, ids=range(len(REQUESTS)))
def test_a_bad_request_gets_the_answer_fastapi_gives(
    twins: TestClient, kind: str, body: bytes, headers: dict[str, str]
) -> None:
    lean = _answer(twins, LEAN[kind], body, headers)
    assert lean == _answer(twins, TWIN[kind], body, headers)
    assert lean[0] < 500


def test_a_good_request_too(twins: TestClient) -> None:
    """Allocated, asked again, released, released again: the same answers from both routes,
    but for the addresses and times themselves."""

    def shape(status: int, kind: str, answer: dict[str, Any]) -> Any:
        rows = answer["allocations"] if "allocations" in answer else answer["released"]
        return status, kind, answer.get("created"), [sorted(r) for r in rows]

    seen = []
    for paths in (LEAN, TWIN):
        handle = f"w-{paths['allocate'].split('/')[1]}"
        answers = []
        for kind, body in (("allocate", {"host": "h1", "handle": handle}),) * 2 + (
            ("release", {"handle": handle}),
        ) * 2:
            r = twins.post(paths[kind], json=body)
            answers.append(shape(r.status_code, r.headers["content-type"], r.json()))
        seen.append(answers)
    assert seen[0] == seen[1]
    assert [a[0] for a in seen[0]] == [201, 200, 200, 200]
    assert [len(a[3]) for a in seen[0]] == [1, 1, 1, 0]


def test_the_token_is_checked_before_the_body_is_read(twins: TestClient) -> None:
    """Deliberately unlike FastAPI's handler, which parses the body before its dependencies:
    without a valid token even a malformed body gets 401, so nothing of it is parsed."""
    anon = {**JSON, "Authorization": ""}
    assert _answer(twins, LEAN["allocate"], b"{", anon)[0] == 401
    assert _answer(twins, TWIN["allocate"], b"{", anon)[0] == 400


def test_documented_as_any_route(twins: TestClient) -> None:
    operation = twins.get("/openapi.json").json()["paths"]["/v1/allocations"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AllocationCreate"}
    assert operation["operationId"] == "allocate"
    assert {"201", "401", "409"} <= set(operation["responses"])


def test_only_the_shape_it_serves_and_only_the_dependency_it_calls(twins: TestClient) -> None:
    app: Any = twins.app
    assert [d.dependency for d in app.router.dependencies] == [authorize]
    lean = [r for r in app.routes if isinstance(r, LeanJsonRoute)]
    assert {r.path for r in lean} == set(LEAN.values())
    assert all([d.dependency for d in r.dependencies] == [authorize] for r in lean)

    async def takes_a_query(body: AllocationCreate, request: Request, limit: int) -> Response:
        raise AssertionError

    async def no_model(body: dict[str, str], request: Request) -> Response:
        raise AssertionError

    for endpoint in (takes_a_query, no_model):
        with pytest.raises(TypeError, match="lean route"):
            LeanRoutes("/x", []).post("")(endpoint)
