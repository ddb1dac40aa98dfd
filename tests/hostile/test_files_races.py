"""Hostile clients against design files: sandboxes, fair validation, quotas, stored bytes, blob races.

Each test attacks a real hub process on loopback (or, for pure input checks, the Flask test
client on SQLite and PostgreSQL), bounded in count and time, and checks what a user notices.
"""
from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import trimesh

from tests.server.hubproc import Client, HubProcess

LICENCE = "CERN-OHL-S-2.0"


def cube_stl(size: float = 20.0) -> bytes:
    return bytes(trimesh.creation.box(extents=(size, size, size)).export(file_type="stl"))


def slow_dxf(lines: int, salt: int = 0) -> bytes:
    """A valid DXF of ``lines`` LINE entities: 150,000 of them take seconds of CPU to validate."""
    parts = ["0\nSECTION\n2\nENTITIES\n"]
    for i in range(lines):
        x, y = i % 1000, i // 1000 + salt * 10_000
        parts.append(f"0\nLINE\n8\n0\n10\n{x}.0\n20\n{y}.0\n11\n{x}.5\n21\n{y}.0\n")
    parts.append("0\nENDSEC\n0\nEOF\n")
    return "".join(parts).encode()


def publish(client: Client, name: str, data: bytes, key: str | None = None, title: str = "Part") -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/designs", data={"title": title, "license": LICENCE}, files=[("files", (name, data))],
                       headers=headers)


def wait_validated(client: Client, design_id: int, timeout: float) -> dict[str, Any]:
    """The design's first file once it is no longer pending (AssertionError after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        f = client.get(f"/designs/{design_id}").json()["versions"][-1]["files"][0]
        if f["validation"]["status"] != "pending":
            return dict(f)
        time.sleep(0.1)
    raise AssertionError(f"design {design_id} still pending after {timeout} s")


# --- 1. sandboxes bounded per process ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("hub_database", ["sqlite"], indirect=True)
def test_anonymous_validate_cannot_run_more_sandboxes_than_the_bound(start_hub: Any) -> None:
    """6 strangers each send a slow file to /validate at once: only one sandbox runs, the others get
    503 busy with Retry-After within the short wait, and once the flood ends a cube is checked."""
    hub = start_hub(limits={"sandboxes": "1", "sandbox_wait_s": "1", "sandbox_seconds": "3"})
    slow = slow_dxf(150_000)

    def check(data: bytes, name: str) -> tuple[int, float, str | None, str]:
        start = time.monotonic()
        r = requests.post(hub.url + "/api/v1/validate", files={"file": (name, data)}, timeout=60)
        code = r.json().get("code") if r.headers.get("Content-Type", "").startswith("application/problem") else ""
        return r.status_code, time.monotonic() - start, r.headers.get("Retry-After"), code

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: check(slow, "slow.dxf"), range(6)))
    busy = [a for a in answers if a[0] == 503]
    assert len(busy) >= 4, answers
    assert all(a[3] == "busy" and a[2] is not None and int(a[2]) >= 1 for a in busy), busy
    assert all(a[1] < 10 for a in busy), busy  # refused after the short wait, not queued behind the slow files
    status, _elapsed, _retry, _code = check(cube_stl(), "cube.stl")
    assert status == 200


# --- 2. per-account bounds and the fair queue ---------------------------------------------------------

@pytest.fixture
def held_app(database_url: str, tmp_path: Path) -> Any:
    """The hub (test client) with small per-account bounds and background validation held back."""
    from server.app import create_app
    from server.config import Settings

    settings = Settings.from_env(data_dir=tmp_path / "data", database_url=database_url, eager_tasks=True,
                                 sweeper_interval_s=0, max_upload_mb=5, secret_key="test-secret",
                                 limits={"pending_validations_per_account": "2", "stored_mb_per_account": "1"})
    app = create_app(settings)

    class Held:
        def enqueue(self, name: str, *args: Any) -> None:
            pass

        def shutdown(self) -> None:
            pass

    app.extensions["cosmoloc.hub"]._tasks = Held()
    yield app
    app.extensions["cosmoloc.hub"].close()


def _stored_files(app: Any) -> set[str]:
    return {sha for sha, _mtime in app.extensions["cosmoloc.store"].stored()}


def test_an_account_cannot_queue_or_store_without_bound(held_app: Any) -> None:
    from tests.conftest import ApiUser

    client = held_app.test_client()
    greedy, other = ApiUser(client, "greedy"), ApiUser(client, "other")

    def send(user: ApiUser, files: list[tuple[str, bytes]]) -> Any:
        data = {"title": "Part", "license": LICENCE, "files": [(io.BytesIO(c), n) for n, c in files]}
        return user.post("/api/v1/designs", data=data, content_type="multipart/form-data")

    assert send(greedy, [("a.stl", cube_stl(10)), ("b.stl", cube_stl(11))]).status_code == 201
    before = _stored_files(held_app)
    r = send(greedy, [("c.stl", cube_stl(12))])
    assert r.status_code == 429 and r.get_json()["code"] == "too_many_pending_validations", r.get_json()
    assert r.headers["Content-Type"].startswith("application/problem+json")
    # documentation files need no validation and still go in; another account is not affected
    assert send(greedy, [("notes.md", b"# notes")]).status_code == 201
    assert send(other, [("d.stl", cube_stl(13))]).status_code == 201
    # more meshes in one version than may ever wait at once: a clear refusal, not "try again later"
    big = send(ApiUser(client, "bulk"), [(f"p{i}.stl", cube_stl(20 + i)) for i in range(3)])
    assert big.status_code == 422 and big.get_json()["code"] == "too_many_files_to_check", big.get_json()
    # 1 MB per account: 600 kB fits once, not twice, and the refused bytes are not stored
    blob_a, blob_b = b"A" * 600_000, b"B" * 600_000
    assert send(other, [("a.bin", blob_a)]).status_code == 201
    stored = _stored_files(held_app)
    r = send(other, [("b.bin", blob_b)])
    assert r.status_code == 413 and r.get_json()["code"] == "storage_quota_exceeded", r.get_json()
    assert _stored_files(held_app) == stored and len(stored) == len(before) + 3


@pytest.mark.slow
@pytest.mark.parametrize("hub_database", ["sqlite"], indirect=True)
def test_slow_files_of_one_account_do_not_push_back_another_accounts_cube(start_hub: Any) -> None:
    """An account publishes 4 slow drawings; a second account's cube is still checked at once."""
    hub = start_hub(limits={"sandbox_seconds": "3"})
    attacker, victim = Client(hub.url, "attacker"), Client(hub.url, "victim")
    for i in range(4):
        assert publish(attacker, f"slow{i}.dxf", slow_dxf(150_000, salt=i), title=f"Slow {i}").status_code == 201
    start = time.monotonic()
    r = publish(victim, "cube.stl", cube_stl())
    assert r.status_code == 201, r.text
    wait_validated(victim, r.json()["id"], timeout=60)
    waited = time.monotonic() - start
    assert waited < 3.0, f"the victim's cube waited {waited:.1f} s behind another account's files"


def test_the_shared_fair_queue_on_redis_takes_accounts_in_turn() -> None:
    """RQ workers take the next task from one Redis queue per account, in turn (the scale-out path)."""
    import redis

    from server.tasks import _FAIR_KEYS, RedisFairQueue

    conn = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        conn.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is needed for this test: {exc}")
    conn.delete(_FAIR_KEYS[1], _FAIR_KEYS[2], *(f"{_FAIR_KEYS[0]}{k}" for k in ("a", "b", "c")))
    queue = RedisFairQueue(conn)
    for i in range(4):
        queue.put("a", f"a{i}")
    queue.put("b", "b0")
    queue.put("c", "c0")
    taken = [queue.take() for _ in range(7)]
    assert taken == ["a0", "b0", "c0", "a1", "a2", "a3", None]


def test_a_task_that_fails_on_a_worker_is_queued_again_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """A validation whose worker fails (an error, RQ's job timeout) goes back to its line, a bounded number of times."""
    import redis

    from server import tasks

    url = "redis://127.0.0.1:6379/15"
    conn = redis.Redis.from_url(url)
    try:
        conn.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is needed for this test: {exc}")
    conn.flushdb()
    runs: list[int] = []

    def flaky(_hub: Any, n: int) -> str:
        runs.append(n)
        if len(runs) < 2:
            raise RuntimeError("the worker lost its database connection")
        return "done"

    def hopeless(_hub: Any, n: int) -> None:
        runs.append(n)
        raise RuntimeError("always fails")

    runner = tasks.RQRunner(url)

    class WorkerHub:
        tasks = runner

    monkeypatch.setitem(tasks.TASKS, "flaky", flaky)
    monkeypatch.setitem(tasks.TASKS, "hopeless", hopeless)
    monkeypatch.setattr(tasks, "_worker_hub", WorkerHub())
    try:
        runner.enqueue("flaky", 7)
        with pytest.raises(RuntimeError):
            tasks.run_next_fair()
        assert tasks.run_next_fair() == "done" and runs == [7, 7]
        runs.clear()
        runner.enqueue("hopeless", 8)
        for _ in range(tasks.FAIR_ATTEMPTS):
            with pytest.raises(RuntimeError):
                tasks.run_next_fair()
        assert tasks.run_next_fair() is None and runs == [8] * tasks.FAIR_ATTEMPTS
    finally:
        conn.flushdb()


# --- 3. races between processes on PostgreSQL ------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("hub_database", ["postgres"], indirect=True)
def test_same_new_bytes_published_at_once_all_succeed_and_all_get_validated(start_hub: Any) -> None:
    """8 accounts publish the same new cube at the same moment on 4 processes: every publish is a 201,
    and every file gets its verdict (none stays pending because another worker wrote the canonical file)."""
    hub = start_hub(workers=4)
    clients = [Client(hub.url, f"twin{i}") for i in range(8)]
    data = cube_stl(17.5)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda c: publish(c, "cube.stl", data), clients))
    assert [r.status_code for r in answers] == [201] * 8, [r.text[:200] for r in answers if r.status_code != 201]
    verdicts = [wait_validated(c, r.json()["id"], timeout=60)["validation"]["status"]
                for c, r in zip(clients, answers, strict=True)]
    assert set(verdicts) == {"passed"}, verdicts


@pytest.mark.slow
@pytest.mark.parametrize("hub_database", ["postgres"], indirect=True)
def test_one_idempotency_key_sent_50_times_at_once_creates_one_design(start_hub: Any) -> None:
    hub = start_hub(workers=4)
    designer = Client(hub.url, "retrier")
    data = cube_stl(18.5)
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: publish(designer, "cube.stl", data, key="one-key"), range(50)))
    assert [r.status_code for r in answers] == [201] * 50, [r.text[:200] for r in answers if r.status_code != 201]
    assert len({r.json()["id"] for r in answers}) == 1


@pytest.mark.slow
@pytest.mark.parametrize("hub_database", ["postgres"], indirect=True)
def test_a_failing_upload_never_removes_bytes_a_concurrent_upload_keeps(start_hub: Any) -> None:
    """Rounds of a good upload racing a failing upload of the same new bytes: every good file downloads."""
    hub = start_hub(workers=4)
    good, bad = Client(hub.url, "good"), Client(hub.url, "bad")
    lost = []
    for round_ in range(12):
        data = cube_stl(30 + round_ * 0.5)

        def failing(data: bytes = data) -> requests.Response:  # a nameless second file: refused
            return bad.post("/designs", data={"title": "Bad", "license": LICENCE},
                            files=[("files", ("cube.stl", data)), ("files", ("", b"x"))])

        with ThreadPoolExecutor(2) as pool:
            ok = pool.submit(publish, good, "cube.stl", data)
            refused = pool.submit(failing)
        assert refused.result().status_code == 422
        r = ok.result()
        assert r.status_code == 201, r.text
        file_id = r.json()["versions"][0]["files"][0]["id"]
        content = good.get(f"/files/{file_id}/content")
        if content.status_code != 200 or content.content != data:
            lost.append((round_, content.status_code))
    assert not lost, f"good uploads lost their bytes: {lost}"


def test_the_sweep_removes_orphans_only(app: Any, make_user: Any) -> None:
    """A stored file nothing points at goes once old; a referenced one and a young orphan stay."""
    import os

    from server.designs.blobs import sweep_orphans

    hub = app.extensions["cosmoloc.hub"]
    designer = make_user("keeper")
    data = cube_stl(21)
    r = designer.post("/api/v1/designs", data={"title": "Kept", "license": LICENCE,
                                               "files": [(io.BytesIO(data), "cube.stl")]},
                      content_type="multipart/form-data")
    assert r.status_code == 201
    kept = r.get_json()["versions"][0]["files"][0]["sha256"]
    old_orphan, _ = hub.store.put_bytes(b"left by a failed upload")
    young_orphan, _ = hub.store.put_bytes(b"an upload still on its way")
    an_hour_ago = time.time() - 3600
    for sha in (kept, old_orphan):
        os.utime(hub.store.path(sha), (an_hour_ago, an_hour_ago))
    assert sweep_orphans(hub.db, hub.store, grace_s=600) == 1
    assert not hub.store.exists(old_orphan)
    assert hub.store.exists(kept) and hub.store.exists(young_orphan)
    file_id = r.get_json()["versions"][0]["files"][0]["id"]
    assert designer.get(f"/api/v1/files/{file_id}/content").data == data


# --- 5. verdicts reached at a bound are not reused -------------------------------------------------

@pytest.mark.slow
def test_a_time_out_verdict_is_not_copied_to_the_next_upload(hub_database: str | None, tmp_path: Path) -> None:
    """A drawing times out on a hub allowed 1 s; on the same hub allowed 60 s, the same bytes are checked
    again and pass, instead of inheriting the time-out."""
    data = slow_dxf(150_000, salt=7)
    env = {"COSMOLOC_SECRET_KEY": "hostile-test"}
    first = HubProcess(tmp_path / "data", hub_database, COSMOLOC_LIMITS="sandbox_seconds=1", **env).start()
    try:
        designer = Client(first.url, "loaded")
        r = publish(designer, "plate.dxf", data)
        assert r.status_code == 201
        timed_out = wait_validated(designer, r.json()["id"], timeout=60)
        assert timed_out["validation"]["status"] == "failed"
        assert timed_out["validation"]["issues"][0]["code"] == "too_large"
    finally:
        first.stop()
    second = HubProcess(tmp_path / "data", hub_database, port=None, COSMOLOC_LIMITS="sandbox_seconds=60", **env).start()
    try:
        designer = Client(second.url, "quiet")
        r = publish(designer, "plate.dxf", data)
        assert r.status_code == 201
        again = wait_validated(designer, r.json()["id"], timeout=90)
        assert again["validation"]["status"] in ("passed", "warnings"), again["validation"]
    finally:
        second.stop()


def test_a_validation_that_keeps_failing_is_marked_failed_not_left_pending(app: Any, make_user: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A background check that raises every time (a lost race, a broken worker) ends as a failed file with
    the reason after a few tries; it never stays pending."""
    import server.designs.processing as processing
    import server.tasks as tasks

    calls = []

    def broken(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        raise RuntimeError("duplicate key value violates unique constraint")

    monkeypatch.setattr(processing, "validate_stored_file", broken)
    monkeypatch.setattr(tasks.time, "sleep", lambda _s: None)
    designer = make_user("unlucky")
    r = designer.post("/api/v1/designs", data={"title": "Unlucky", "license": LICENCE,
                                               "files": [(io.BytesIO(cube_stl(23)), "cube.stl")]},
                      content_type="multipart/form-data")
    assert r.status_code == 201
    f = designer.get(f"/api/v1/designs/{r.get_json()['id']}").get_json()["versions"][0]["files"][0]
    assert len(calls) == tasks.VALIDATION_ATTEMPTS
    assert f["validation"]["status"] == "failed" and f["validation"]["issues"][0]["code"] == "validation_error"
