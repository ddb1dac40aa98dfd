"""/healthz and /readyz: what a load balancer or systemd sees, on SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.server.opsapp import hub_app, local_redis, unreachable_postgres, unreachable_redis


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
    with hub_app(tmp_path, database_url) as app:
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


def test_readyz_is_not_ready_when_redis_is_unreachable(database_url: str, tmp_path: Path) -> None:
    with hub_app(tmp_path, database_url, redis_url=unreachable_redis()) as app:
        r = app.test_client().get("/readyz")
    body = r.get_json()
    assert r.status_code == 503
    assert body["checks"]["queue"]["ok"] is False and "ConnectionError" in body["checks"]["queue"]["detail"]
    assert body["checks"]["database"]["ok"] is True and body["checks"]["migrations"]["ok"] is True


def test_readyz_checks_a_reachable_redis(database_url: str, tmp_path: Path) -> None:
    with hub_app(tmp_path, database_url, redis_url=local_redis()) as app:
        r = app.test_client().get("/readyz")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["checks"]["queue"]["ok"] is True


def test_readyz_is_not_ready_when_the_disk_is_nearly_full(database_url: str, tmp_path: Path) -> None:
    with hub_app(tmp_path, database_url, min_free_disk_mb=1 << 40) as app:  # a petabyte free: no test disk has it
        r = app.test_client().get("/readyz")
    body = r.get_json()
    assert r.status_code == 503
    assert body["checks"]["disk"]["ok"] is False
    assert body["checks"]["disk"]["free_mb"] < body["checks"]["disk"]["min_free_mb"]


def test_readyz_is_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    with hub_app(tmp_path, unreachable_postgres()) as app:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200  # the process itself still answers
        r = client.get("/readyz")
    body = r.get_json()
    assert r.status_code == 503 and body["status"] == "not_ready"
    database = body["checks"]["database"]
    assert database["ok"] is False and database["detail"] == "OperationalError"
    assert body["checks"]["migrations"]["ok"] is False and body["checks"]["disk"]["ok"] is True
