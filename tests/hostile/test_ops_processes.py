"""A real ``cosmoloc serve``: metrics summed over its workers, JSON log lines carrying request ids."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server.test_metrics import parse, value

pytestmark = pytest.mark.slow


def _pids_with_counts(folder: Path) -> set[str]:
    """The workers that wrote request counts (prometheus-client names each file by its process id)."""
    return {m.group(1) for p in folder.glob("counter_*.db") if (m := re.fullmatch(r"counter_(\d+)\.db", p.name))}


def test_counts_from_both_workers_are_summed(start_hub: Any) -> None:
    hub = start_hub(workers=2)
    folder = Path(hub.env["COSMOLOC_DATA_DIR"]) / "prometheus"
    base = parse(requests.get(hub.url + "/metrics", timeout=10).text)
    sent = 0
    # a fresh connection each time, so the kernel hands requests to either worker
    while sent < 400 and (sent < 40 or len(_pids_with_counts(folder)) < 2):
        with requests.Session() as s:
            assert s.get(hub.url + "/healthz", headers={"Connection": "close"}, timeout=10).status_code == 200
        sent += 1
    assert len(_pids_with_counts(folder)) >= 2, "both workers should have answered some of the requests"
    seen = set()
    for _ in range(6):  # every scrape, whichever worker answers it, has all of them
        r = requests.get(hub.url + "/metrics", headers={"Connection": "close"}, timeout=10)
        samples = parse(r.text)
        counted = value(samples, "cosmoloc_http_requests_total", method="GET", route="/healthz", status="200") \
            - value(base, "cosmoloc_http_requests_total", method="GET", route="/healthz", status="200")
        seen.add(counted)
    assert seen == {sent}
    # the access log's lines end with each request's id
    assert re.search(r'"GET /healthz HTTP/1.1" 200 .* [0-9a-f]{32}$', hub.log.read_text(), re.M)
    assert value(samples, "cosmoloc_labs_online") == 0 and ("cosmoloc_orders", (("status", "matching"),)) in samples


def test_json_logs_carry_the_request_id_into_background_work(start_hub: Any) -> None:
    import json
    import time

    from tests.server.hubproc import Client, publish_cube

    hub = start_hub(workers=1, COSMOLOC_LOG_FORMAT="json")
    designer = Client(hub.url, "designer")
    designer.session.headers["X-Request-Id"] = "trace-me-1"
    publish_cube(designer)
    deadline = time.time() + 20
    lines: list[dict] = []
    while time.time() < deadline:
        text = hub.log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        if any("validated file" in rec["message"] for rec in lines):
            break
        time.sleep(0.3)
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(rec) for rec in lines)
    others = [line for line in hub.log.read_text().splitlines() if line.strip() and not line.startswith("{")]
    assert others == []  # every line the hub wrote is a JSON object, gunicorn's own and the access log too
    validated = [rec for rec in lines if "validated file" in rec["message"]]
    assert validated and validated[0]["request_id"] == "trace-me-1"
    access = [rec for rec in lines if rec["logger"] == "gunicorn.access" and "POST /api/v1/designs " in rec["message"]]
    assert access and access[0]["request_id"] == "trace-me-1"  # the access line names the request id too
