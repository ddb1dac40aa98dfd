"""Shared fixtures: the hub on a real SQLite file and on the real PostgreSQL, built by the migrations."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO.parent / "shared" / "corpus").resolve()
POSTGRES_URL = os.environ.get("COSMOLOC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_pg_state: dict[str, Any] = {}

#: Room for test hubs that sign up and sign in many accounts from 127.0.0.1; the production defaults
#: (server/config.py DEFAULT_LIMITS) stay strict, and the tests of those limits set their own.
ROOMY_LIMITS = {"signin_per_address": "100000/minute", "signin_per_account": "100000/minute",
                "signup_per_address": "100000/minute", "validate_per_address": "100000/minute",
                "open_orders_per_account": "100000", "orders_per_account_hour": "100000"}


def corpus_dir(name: str) -> Path:
    path = CORPUS / name
    if not path.is_dir():
        pytest.skip(f"the shared corpus is not at {path}")
    return path


def _postgres_admin() -> Any:
    """An engine on the server's maintenance database, or the reason it is unreachable."""
    if "engine" in _pg_state or "reason" in _pg_state:
        return _pg_state.get("engine")
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        _pg_state["engine"] = engine
    except Exception as exc:  # any failure to connect means: skip with the reason
        _pg_state["reason"] = f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}"
    return _pg_state.get("engine")


@contextmanager
def fresh_postgres_url(prefix: str = "cosmoloc_test") -> Iterator[str]:
    """A new, empty PostgreSQL database for the block (skipping with the reason when PostgreSQL is away)."""
    admin = _postgres_admin()
    if admin is None:
        pytest.skip(_pg_state["reason"])
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head; dropped at the end."""
    from server.db import make_engine
    from server.schema import upgrade

    with fresh_postgres_url() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def _truncate_all(url: str) -> None:
    from sqlalchemy import create_engine, text

    import server.models  # noqa: F401
    from server.db import Base

    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes this runs twice: on a fresh migrated SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
        from server.db import make_engine
        from server.schema import upgrade

        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    else:
        url = request.getfixturevalue("postgres_database")
        yield url
        _truncate_all(url)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Any]:
    from server.app import create_app
    from server.config import Settings

    settings = Settings.from_env(data_dir=tmp_path / "data", database_url=database_url, eager_tasks=True, sweeper_interval_s=0,
                                 max_upload_mb=5, secret_key="test-secret", limits=ROOMY_LIMITS,
                                 slicer="off")  # quotes rest on the geometry formula; tests/server/test_quote_slices.py slices
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    application.extensions["cosmoloc.hub"].close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


class ApiUser:
    """A signed-up account and its bearer header, for calling the API in tests."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.email = f"{name}-{uuid.uuid4().hex[:6]}@example.org"
        r = client.post("/api/v1/accounts", json={"email": self.email, "password": "correct horse battery", "name": name})
        assert r.status_code == 201, r.get_json()
        self.id = r.get_json()["id"]
        r = client.post("/api/v1/auth/tokens", json={"email": self.email, "password": "correct horse battery"})
        self.token = r.get_json()["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.post(url, headers=headers, **kw)


@pytest.fixture
def make_user(client: Any) -> Any:
    return lambda name="someone": ApiUser(client, name)
