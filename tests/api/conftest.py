from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from fabric.settings import Settings
from tests.harness.servers import ADMIN, ADMIN_TOKEN


def make_settings(url: str, **overrides: object) -> Settings:
    return Settings(
        database_url=url, revision_poll_seconds=0.5, bootstrap_token=ADMIN_TOKEN, **overrides
    )  # type: ignore[arg-type]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """The API on a fresh database: SQLite and the real PostgreSQL."""
    app = create_app(make_settings(database_url, gc_min_grace_seconds=0))
    with TestClient(app, headers=ADMIN) as c:
        yield c
