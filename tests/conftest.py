"""Shared fixtures: a fresh database per test, on SQLite and (when the test
command started one) on the real PostgreSQL server."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fabric.store import migrate
from fabric.store.database import Database, normalize_url

PG_URL_ENV = "FABRIC_TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    return os.environ.get(PG_URL_ENV)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fabric.db'}"


def _with_database(url: str, name: str) -> str:
    return make_url(normalize_url(url)).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[tuple[str, str]]:
    """A migrated template database: each test's database is a cheap copy of it."""
    admin = postgres_admin_url()
    if admin is None:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_URL_ENV} is not set: run the tests through `make test`")
        pytest.skip(f"{PG_URL_ENV} not set (make test starts a PostgreSQL server)")
    name = f"fabric_tpl_{uuid.uuid4().hex[:8]}"
    engine = create_engine(normalize_url(admin), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(_with_database(admin, name))
    migrate.upgrade(db.write_engine, db.url)
    db.dispose()
    yield admin, name
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def postgres_databases(postgres_template: tuple[str, str]) -> Iterator[Callable[[], str]]:
    """Fresh, migrated PostgreSQL databases, as many as the test asks for, dropped afterwards."""
    admin, template = postgres_template
    engine = create_engine(normalize_url(admin), isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"fabric_test_{uuid.uuid4().hex[:12]}"
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        made.append(name)
        return _with_database(admin, name)

    try:
        yield make
    finally:
        with engine.connect() as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def postgres_url(postgres_databases: Callable[[], str]) -> str:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards."""
    return postgres_databases()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], str]:
    """Fresh databases of one backend, as many as the test asks for (a property test: one
    for each example); each still to be migrated on SQLite."""
    if request.param == "postgres":
        make: Callable[[], str] = request.getfixturevalue("postgres_databases")
        return make
    where, count = tmp_path_factory.mktemp("db"), itertools.count()
    return lambda: f"sqlite:///{where / f'{next(count)}.db'}"


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite database (the domain tests run on it)."""
    database = Database(sqlite_url)
    migrate.upgrade(database.write_engine, database.url)
    yield database
    database.dispose()
