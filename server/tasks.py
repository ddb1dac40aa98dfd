"""Background work: in-process threads by default, RQ workers on Redis at scale.

Work is named (``"validate_file"``) and takes plain arguments, so a worker in another
process can run it from the queue. Every task is safe to run twice: it re-reads the
database and does nothing when the work is already done.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.hub import Hub

log = logging.getLogger(__name__)


def _validate_file(hub: Hub, file_id: int) -> Any:
    from server.db import utcnow
    from server.designs.processing import validate_stored_file
    from server.orders.service import on_file_validated

    def release_orders(session: Any, done_id: int, status: str) -> None:
        on_file_validated(session, done_id, status, hub.rules, utcnow())

    return validate_stored_file(hub.db, hub.store, hub.limits, file_id, release_orders)


def _resume_pending(hub: Hub) -> Any:
    """Queue the work a stopped hub left unfinished (files still waiting for validation)."""
    from server.designs.service import pending_file_ids

    with hub.db.session() as session:
        ids = pending_file_ids(session)
    for file_id in ids:
        hub.tasks.enqueue("validate_file", file_id)
    return len(ids)


TASKS: dict[str, Callable[..., Any]] = {
    "validate_file": _validate_file,
    "resume_pending": _resume_pending,
}


class InlineRunner:
    """Runs tasks on a few threads of the hub process (the embedded default)."""

    def __init__(self, hub: Hub, workers: int) -> None:
        self.hub = hub
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cosmoloc-task")

    def enqueue(self, name: str, *args: Any) -> None:
        self.pool.submit(self._run, name, args)

    def _run(self, name: str, args: tuple[Any, ...]) -> None:
        try:
            TASKS[name](self.hub, *args)
        except Exception:
            log.exception("background task %s%r failed", name, args)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


class EagerRunner(InlineRunner):
    """Runs each task at once in the caller's thread (tests that want no waiting)."""

    def enqueue(self, name: str, *args: Any) -> None:
        self._run(name, args)


class RQRunner:
    """Puts tasks on an RQ queue; ``cosmoloc worker`` processes run them."""

    def __init__(self, redis_url: str) -> None:
        from redis import Redis
        from rq import Queue

        self.queue = Queue("cosmoloc", connection=Redis.from_url(redis_url))

    def enqueue(self, name: str, *args: Any) -> None:
        self.queue.enqueue("server.tasks.run_queued", name, *args, job_timeout=600)

    def shutdown(self) -> None:
        pass


_worker_hub: Hub | None = None


def run_queued(name: str, *args: Any) -> Any:
    """Entry point of an RQ job: build the hub once per worker process from the environment."""
    global _worker_hub
    if _worker_hub is None:
        from server.config import Settings
        from server.hub import Hub

        _worker_hub = Hub(Settings.from_env())
    return TASKS[name](_worker_hub, *args)
