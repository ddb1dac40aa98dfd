"""Real hub processes for the hostile-client tests: one per database, started with the limits a test asks for.

Every test here attacks a hub the way a stranger on the internet could, on loopback only, bounded in
count and time, and checks what a user of that hub would notice.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_postgres_url
from tests.server.hubproc import HubProcess


@pytest.fixture(params=["sqlite", "postgres"])
def hub_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` for the embedded default (SQLite in the data dir), else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
    else:
        with fresh_postgres_url("cosmoloc_hostile") as url:
            yield url


@pytest.fixture
def start_hub(hub_database: str | None, tmp_path: Path) -> Iterator[Any]:
    """``start_hub(workers=1, limits={...}, **env)``: a running ``cosmoloc serve`` on this test's database.

    ``limits`` become ``COSMOLOC_LIMITS``; every hub started is stopped when the test ends.
    """
    started: list[HubProcess] = []

    def start(workers: int = 1, limits: dict[str, str] | None = None, **env: str) -> HubProcess:
        if limits:
            env["COSMOLOC_LIMITS"] = " ".join(f"{k}={v}" for k, v in limits.items())
        hub = HubProcess(tmp_path / f"data{len(started)}", hub_database, workers=workers, **env)
        started.append(hub)
        return hub.start()

    yield start
    for hub in started:
        hub.stop()
