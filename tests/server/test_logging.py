"""Request ids and JSON log lines: a request and the background work it queued share one id."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from server import logging_setup
from server.config import ConfigError, Settings
from tests.conftest import ApiUser
from tests.server.opsapp import hub_app, local_redis
from tests.server.orderflow import cube_stl


def test_a_sane_request_id_is_kept_and_echoed(client: Any) -> None:
    r = client.get("/healthz", headers={"X-Request-Id": "lb-7f3a:42.x_y"})
    assert r.headers["X-Request-Id"] == "lb-7f3a:42.x_y"


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "semi;colon", "new\\nline"])
def test_an_unusable_request_id_is_replaced_by_a_new_one(client: Any, given: str) -> None:
    r = client.get("/healthz", headers={"X-Request-Id": given})
    echoed = r.headers["X-Request-Id"]
    assert echoed != given and len(echoed) == 32 and int(echoed, 16) >= 0
    assert client.get("/healthz").headers["X-Request-Id"] != echoed  # each request its own


def test_a_json_line_has_time_level_logger_message_and_request_id() -> None:
    logging_setup.configure("text")  # the record factory that stamps the request id
    with logging_setup.bound("abc-123"):
        record = logging.getLogger("cosmoloc.test").makeRecord("cosmoloc.test", logging.WARNING, __file__, 1,
                                                               "lab %s is \"late\"", ("Nairobi",), None)
    line = logging_setup.JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "WARNING" and out["logger"] == "cosmoloc.test" and out["request_id"] == "abc-123"
    assert out["message"] == 'lab Nairobi is "late"' and out["time"].endswith("+00:00")
    outside = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert json.loads(logging_setup.JsonFormatter().format(outside))["request_id"] is None


def test_an_unknown_log_format_stops_the_hub(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="COSMOLOC_LOG_FORMAT"):
        Settings.from_env(data_dir=tmp_path, log_format="xml")


def test_background_validation_logs_under_the_id_of_the_upload(database_url: str, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """In-process background threads (not eager): the validation's log line carries the upload's id."""
    import io

    with hub_app(tmp_path, database_url, eager_tasks=False) as app:
        designer = ApiUser(app.test_client(), "designer")
        caplog.set_level(logging.INFO, logger="server.designs.processing")
        r = designer.post("/api/v1/designs", headers={"X-Request-Id": "upload-42"}, content_type="multipart/form-data",
                          data={"title": "Cube", "license": "CERN-OHL-S-2.0", "files": [(io.BytesIO(cube_stl()), "c.stl")]})
        assert r.status_code == 201 and r.headers["X-Request-Id"] == "upload-42"
        deadline = time.time() + 60
        while time.time() < deadline and not any("validated file" in rec.getMessage() for rec in caplog.records):
            time.sleep(0.1)
    done = [rec for rec in caplog.records if "validated file" in rec.getMessage()]
    assert done, "the file was not validated in time"
    assert done[0].request_id == "upload-42" and done[0].threadName.startswith("cosmoloc-task-")


def test_rq_tasks_run_under_the_id_of_the_request_that_queued_them(tmp_path: Path, monkeypatch: Any) -> None:
    import redis

    url = local_redis(13)  # a database of its own: no other test's worker takes these jobs
    from server import tasks
    from server.hub import Hub

    redis.Redis.from_url(url).flushdb()
    hub = Hub(Settings.from_env(data_dir=tmp_path / "data", redis_url=url, secret_key="k"))
    seen: list[str | None] = []
    monkeypatch.setitem(tasks.TASKS, "probe", lambda _hub: seen.append(logging_setup.request_id.get()))
    monkeypatch.setattr(tasks, "_worker_hub", hub)
    try:
        with logging_setup.bound("queued-by-7"):
            hub.tasks.enqueue("probe")
        hub.tasks.enqueue("probe")  # queued outside any request
        assert logging_setup.request_id.get() is None
        tasks.run_next_fair()
        tasks.run_next_fair()
        assert seen == ["queued-by-7", None]
    finally:
        redis.Redis.from_url(url).flushdb()
        hub.close()
