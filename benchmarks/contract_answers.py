"""What building the hub's answers through the contract's models costs: `python benchmarks/contract_answers.py [--quick]`.

The hub builds each answer as a dict from its rows, reads it into the contract's model and writes it
back (``Model.model_validate(d).to_json()``) before Flask serialises it. This measures, for the
largest answers the API gives (a design with versions and file reports, a page of 100 jobs, a page
of 100 directory entries with their machines), the time of (a) the baseline, ``json.dumps`` of the
dict, which the hub paid before, and (b) the model's read and write plus ``json.dumps``, as a ratio.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosmoloc_contract import designs, fablabs, orders  # noqa: E402

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC).isoformat()


def _file(i: int) -> dict[str, Any]:
    return {"id": i, "filename": f"part-{i}.stl", "kind": "mesh", "format": "stl", "size_bytes": 684, "sha256": "ab" * 32,
            "unit": "mm", "validation": {"status": "warnings", "issues": [
                {"code": "suspicious_scale", "severity": "warning", "message": "The part is 2 mm across.", "hint": "Check"}],
                "metrics": {"triangles": 12, "bodies": 1, "watertight": True, "bbox_mm": [20.0, 20.0, 20.0]}},
            "requirements": {"processes": ["fdm", "sla"], "bbox_mm": [20.0, 20.0, 20.0], "volume_mm3": 8000.0},
            "content_url": f"/api/v1/files/{i}/content", "design_id": 1, "version": 1,
            "thumbnail_url": f"/api/v1/files/{i}/thumbnail.png"}


def design() -> dict[str, Any]:
    return {"id": 1, "title": "Cube", "description": "A cube.", "tags": ["test", "calibration"],
            "license": {"id": "CERN-OHL-S-2.0", "name": "CERN OHL S", "open": True, "commercial_use": True,
                        "share_alike": True, "url": "https://ohwr.org", "summary": "Anyone may.", "kind": "hardware"},
            "owner": {"id": 1, "name": "Dee"}, "derived_from": None, "created_at": NOW, "updated_at": NOW,
            "latest_version": 5,
            "versions": [{"number": v, "created_at": NOW, "changelog": "", "files": [_file(v * 10 + f) for f in range(4)]}
                         for v in range(1, 6)],
            "lineage": {"ancestors": [], "derivatives": [{"id": 2, "title": "Remix"}]}, "okh_url": "/api/v1/designs/1/okh"}


def _job(i: int) -> dict[str, Any]:
    return {"id": i, "state": "offered", "expires_at": NOW, "machine_key": None, "progress": None, "order_id": i,
            "quantity": 1, "material": "PLA", "process": None, "thickness_mm": None, "distance_km": 3.2,
            "delivery": {"latitude": 41.4, "longitude": 2.2, "address": None, "approximate": True}, "reason": None,
            "created_at": NOW, "updated_at": NOW, "design": {"id": 1, "title": "Cube", "license": "CERN-OHL-S-2.0"},
            "file": {"id": i, "filename": "cube.stl", "format": "stl", "sha256": "ab" * 32, "size_bytes": 684,
                     "original_filename": "cube.stl",
                     "requirements": {"processes": ["fdm"], "bbox_mm": [20.0, 20.0, 20.0], "volume_mm3": 8000.0}}}


def jobs() -> dict[str, Any]:
    return {"items": [_job(i) for i in range(100)], "page": 1, "per_page": 100, "total": 100}


def _lab(i: int) -> dict[str, Any]:
    machines = [{"key": f"m{k}", "name": f"Printer {k}", "process": "fdm", "build_volume_mm": [250.0, 210.0, 220.0],
                 "materials": ["PLA", "PETG"], "state": "idle", "state_reported_at": NOW, "queue_length": 0}
                for k in range(10)]
    return {"id": i, "name": f"Lab {i}", "kind": "fablab", "description": "", "latitude": 41.4, "longitude": 2.2,
            "address": None, "city": "Barcelona", "country": "ES", "location_approximate": False,
            "accepting_orders": True, "online": True, "last_seen_at": NOW, "operator": {"id": 1, "name": "Olga"},
            "claimed": True, "source": None, "machines": machines, "machines_truncated": False,
            "machine_summary": {"count": 10, "available": 10, "processes": {"fdm": 10}, "materials": ["PETG", "PLA"],
                                "materials_total": 2}, "distance_km": 1.234}


def labs() -> dict[str, Any]:
    return {"items": [_lab(i) for i in range(100)], "page": 1, "per_page": 100, "total": 100}


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    repeats = 5 if "--quick" in sys.argv else 30
    cases = [("design, 5 versions x 4 files", design(), designs.Design),
             ("page of 100 jobs", jobs(), orders.JobList),
             ("page of 100 labs x 10 machines", labs(), fablabs.FablabList)]
    print(f"{'answer':34} {'json.dumps (a)':>16} {'model + dumps (b)':>18} {'b / a':>7}")
    for name, body, model in cases:
        assert model.model_validate(body).to_json() == body  # the model writes back what it read
        base = best_of(lambda body=body: json.dumps(body), repeats)
        through = best_of(lambda body=body, model=model: json.dumps(model.model_validate(body).to_json()), repeats)
        print(f"{name:34} {base * 1e3:13.3f} ms {through * 1e3:15.3f} ms {through / base:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
