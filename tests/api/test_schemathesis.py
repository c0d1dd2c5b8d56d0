"""Hostile input generated from our own OpenAPI schema (schemathesis) against a real server.

Every operation, with valid and invalid data: never a 5xx, never a response
outside the schema, always a JSON error body with a code. Long-polls are capped
at a fraction of a second so a generated ``wait`` cannot stall the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.harness.servers import ADMIN, ApiServer

pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    tmp = tmp_path_factory.mktemp("fuzz")
    env = {"FABRIC_LONGPOLL_MAX_SECONDS": "0.1", "FABRIC_GC_MIN_GRACE_SECONDS": "0"}
    server = ApiServer(f"sqlite:///{tmp / 'f.db'}", tmp / "api.log", env=env).wait_ready()
    try:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    finally:
        server.stop()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_5xx_and_answers_match_the_schema(case: schemathesis.Case) -> None:
    response = case.call(headers=ADMIN)
    case.validate_response(
        response,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("code"), str) and isinstance(body.get("detail"), str), body


def test_schema_file_is_served_without_a_token(tmp_path: Path) -> None:
    server = ApiServer(f"sqlite:///{tmp_path / 'f.db'}", tmp_path / "api.log").wait_ready()
    try:
        import httpx

        assert httpx.get(f"{server.url}/openapi.json").json()["info"]["title"] == "routed-fabric"
    finally:
        server.stop()
