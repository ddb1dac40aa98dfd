"""A real hub with four worker processes on PostgreSQL: designs published and remixed at once from many clients
leave one chain that `cosmoloc ledger verify --hub` replays clean."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trimesh

from tests.conftest import fresh_postgres_url
from tests.server.hubproc import REPO, Client, HubProcess

pytestmark = pytest.mark.slow

CUBE = bytes(trimesh.creation.box(extents=(20, 20, 20)).export(file_type="stl"))


def _publish(designer: Client, i: int, parent: int | None) -> int:
    form = {"title": f"Part {i}", "license": "CERN-OHL-S-2.0"} | ({"derived_from": str(parent)} if parent else {})
    r = designer.post("/designs", data=form, files=[("files", (f"part{i}.stl", CUBE))],
                      headers={"Idempotency-Key": f"part-{i}"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_concurrent_publications_on_four_processes_leave_one_verifiable_chain(tmp_path: Path) -> None:
    with fresh_postgres_url("cosmoloc_ledger_hub") as url:
        hub = HubProcess(tmp_path / "data", url, workers=4).start()
        try:
            designers = [Client(hub.url, f"designer{i}") for i in range(4)]
            roots = [_publish(designers[i], i, None) for i in range(4)]
            with ThreadPoolExecutor(max_workers=8) as pool:
                jobs = [pool.submit(_publish, designers[i % 4], 100 + i, roots[i % 4] if i % 2 else None)
                        for i in range(40)]
                ids = [j.result() for j in jobs]
            assert len(set(ids)) == 40
            result = subprocess.run([sys.executable, "-m", "server.cli", "ledger", "verify", "--hub", hub.url],
                                    cwd=str(REPO), capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stdout + result.stderr
            # 44 designs published, 20 of them remixes citing their parent
            assert "64 events, 0 receipts recomputed" in result.stdout and "intact" in result.stdout
            chain = designers[0].get("/ledger/events?limit=1000").json()
            assert [e["seq"] for e in chain["items"]] == list(range(1, 65))
        finally:
            hub.stop()
