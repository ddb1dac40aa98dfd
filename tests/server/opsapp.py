"""Hubs built in the test process with settings of their own (a Redis URL, a token, a database that is away)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from server.app import create_app
from server.config import Settings
from tests.conftest import ROOMY_LIMITS
from tests.server.hubproc import free_port


def unreachable_postgres() -> str:
    """A PostgreSQL URL on a loopback port nobody listens on."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"


@contextmanager
def hub_app(tmp_path: Path, database_url: str, **overrides: Any) -> Iterator[Any]:
    """A hub app on ``database_url`` with ``overrides`` of its settings, closed when the block ends."""
    chosen: dict[str, Any] = {"data_dir": tmp_path / "data", "database_url": database_url, "eager_tasks": True,
                              "sweeper_interval_s": 0, "secret_key": "test-secret", "limits": ROOMY_LIMITS, **overrides}
    settings = Settings.from_env(**chosen)
    app = create_app(settings)
    app.config["TESTING"] = True
    try:
        yield app
    finally:
        app.extensions["cosmoloc.hub"].close()


def local_redis(db: int = 0) -> str:
    """The URL of the Redis on loopback, or a skip saying it is not there."""
    import pytest

    redis = pytest.importorskip("redis")
    url = f"redis://127.0.0.1:6379/{db}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    return url


def unreachable_redis() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"
