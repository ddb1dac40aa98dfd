"""Health for load balancers and systemd: ``/healthz`` (the process answers) and ``/readyz`` (it can serve).

``/readyz`` runs each check with a short bound and answers 200 when all pass, else 503, with every
check's verdict in the body, so an operator reading it sees which part is away:

- ``database``: a ``SELECT 1`` on the hub's database;
- ``migrations``: the database's Alembic revision is the head the code ships (a hub started before
  ``cosmoloc serve`` migrated, or a database restored from an older backup, is not ready);
- ``queue``: Redis answers a ``PING`` (only when ``COSMOLOC_REDIS_URL`` is set);
- ``disk``: the file store's disk has at least ``COSMOLOC_MIN_FREE_DISK_MB`` free.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)

#: Redis is asked with this bound (seconds): a balancer polls often and must not hang on a lost host
REDIS_TIMEOUT_S = 1.0


def _hub() -> Any:
    return current_app.extensions["cosmoloc.hub"]


def check_database(hub: Any) -> dict[str, Any]:
    from sqlalchemy import text

    with hub.db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"ok": True}


@cache
def migration_heads() -> frozenset[str]:
    """The head revisions of the migrations this code ships (read once: they do not change under a process)."""
    from alembic.script import ScriptDirectory

    from server.schema import MIGRATIONS, alembic_config

    config = alembic_config("sqlite://")
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def check_migrations(hub: Any) -> dict[str, Any]:
    # read the version table itself: Alembic's MigrationContext logs two lines at each look, every poll
    from sqlalchemy import inspect, text

    with hub.db.engine.connect() as conn:
        current = (set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
                   if inspect(conn).has_table("alembic_version") else set())
    heads = migration_heads()
    result: dict[str, Any] = {"ok": current == heads, "current": sorted(current), "head": sorted(heads)}
    if not result["ok"]:
        result["detail"] = "the database schema is not at the code's migration head (cosmoloc serve migrates it)"
    return result


def check_queue(hub: Any) -> dict[str, Any]:
    from redis import Redis

    client = Redis.from_url(hub.settings.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                            socket_connect_timeout=REDIS_TIMEOUT_S)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def check_disk(hub: Any) -> dict[str, Any]:
    free = shutil.disk_usage(hub.settings.files_dir).free
    need = hub.settings.min_free_disk_mb * 1024 * 1024
    result: dict[str, Any] = {"ok": free >= need, "free_mb": free // (1024 * 1024),
                              "min_free_mb": hub.settings.min_free_disk_mb}
    if not result["ok"]:
        result["detail"] = "less free disk space for stored files than COSMOLOC_MIN_FREE_DISK_MB"
    return result


def readiness(hub: Any) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Every check's verdict; a check that raises is a failed check with the error's kind, never a 500."""
    checks: dict[str, Callable[[Any], dict[str, Any]]] = {"database": check_database, "migrations": check_migrations}
    if hub.settings.redis_url:
        checks["queue"] = check_queue
    checks["disk"] = check_disk
    out: dict[str, dict[str, Any]] = {}
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            verdict = check(hub)
        except Exception as exc:  # the reason a dependency is away, without its internals
            verdict = {"ok": False, "detail": f"{type(exc).__name__}"}
        verdict["ms"] = round((time.perf_counter() - started) * 1000, 1)
        out[name] = verdict
    return all(v["ok"] for v in out.values()), out


def _uncached(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Any:
    return _uncached(jsonify({"status": "ok"}))


@bp.get("/readyz")
def readyz() -> Any:
    ready, checks = readiness(_hub())
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return _uncached(response)
