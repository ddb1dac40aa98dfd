"""/healthz and /readyz: what a load balancer or systemd sees, on SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from server.app import create_app
from server.config import Settings
from tests.conftest import ROOMY_LIMITS


def _app(tmp_path: Path, database_url: str, **overrides: Any) -> Any:
    settings = Settings.from_env(data_dir=tmp_path / "data", database_url=database_url, eager_tasks=True,
                                 sweeper_interval_s=0, secret_key="test-secret", limits=ROOMY_LIMITS, **overrides)
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def test_healthz_answers_while_the_process_runs(client: Any) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_on_a_migrated_database(client: Any) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "disk"}  # no Redis configured: no queue check
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]


def test_readyz_is_not_ready_when_migrations_are_behind(database_url: str, tmp_path: Path) -> None:
    app = _app(tmp_path, database_url)
    engine = app.extensions["cosmoloc.db"].engine
    with engine.begin() as conn:
        (head,) = conn.execute(text("SELECT version_num FROM alembic_version")).one()
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        r = app.test_client().get("/readyz")
        body = r.get_json()
        assert r.status_code == 503
        assert body["status"] == "not_ready"
        assert body["checks"]["migrations"]["ok"] is False
        assert body["checks"]["migrations"]["current"] == ["0001"]
        assert body["checks"]["database"]["ok"] is True
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        app.extensions["cosmoloc.hub"].close()


def test_readyz_is_not_ready_when_redis_is_unreachable(database_url: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = _app(tmp_path, database_url, redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        r = app.test_client().get("/readyz")
        body = r.get_json()
        assert r.status_code == 503
        assert body["checks"]["queue"]["ok"] is False and "ConnectionError" in body["checks"]["queue"]["detail"]
        assert body["checks"]["database"]["ok"] is True and body["checks"]["migrations"]["ok"] is True
    finally:
        app.extensions["cosmoloc.hub"].close()


def test_readyz_checks_a_reachable_redis(database_url: str, tmp_path: Path) -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    app = _app(tmp_path, database_url, redis_url="redis://127.0.0.1:6379/0")
    try:
        r = app.test_client().get("/readyz")
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["checks"]["queue"]["ok"] is True
    finally:
        app.extensions["cosmoloc.hub"].close()


def test_readyz_is_not_ready_when_the_disk_is_nearly_full(database_url: str, tmp_path: Path) -> None:
    app = _app(tmp_path, database_url, min_free_disk_mb=1 << 40)  # a petabyte free: no test disk has it
    try:
        r = app.test_client().get("/readyz")
        body = r.get_json()
        assert r.status_code == 503
        assert body["checks"]["disk"]["ok"] is False
        assert body["checks"]["disk"]["free_mb"] < body["checks"]["disk"]["min_free_mb"]
    finally:
        app.extensions["cosmoloc.hub"].close()


def test_readyz_is_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = _app(tmp_path, f"postgresql+psycopg://postgres@127.0.0.1:{port}/nowhere")
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200  # the process itself still answers
        r = client.get("/readyz")
        body = r.get_json()
        assert r.status_code == 503 and body["status"] == "not_ready"
        assert body["checks"]["database"] == {"ok": False, "detail": "OperationalError", "ms": body["checks"]["database"]["ms"]}
        assert body["checks"]["migrations"]["ok"] is False and body["checks"]["disk"]["ok"] is True
    finally:
        app.extensions["cosmoloc.hub"].close()
