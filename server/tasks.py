"""Background work: in-process threads by default, RQ workers on Redis at scale.

Work is named (``"validate_file"``) and takes plain arguments, so a worker in another
process can run it from the queue. Every task is safe to run twice: it re-reads the
database and does nothing when the work is already done.

Validation is queued fairly: each account has its own line and the runners take from the
lines in turn, so one account's many slow files cannot push another account's file back.
In-process, an account also runs at most ``validations_running_per_account`` files at once,
so the other threads stay free for everybody else.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.hub import Hub

log = logging.getLogger(__name__)

#: a validation that raises is tried this many times in all (a lost race, a database hiccup), then failed
VALIDATION_ATTEMPTS = 3


def _validate_file(hub: Hub, file_id: int) -> Any:
    """Validate one file; retried on errors, then marked failed with the reason: never left pending."""
    from server.db import utcnow
    from server.designs.processing import mark_failed, validate_stored_file
    from server.orders.service import on_file_validated

    def release_orders(session: Any, done_id: int, status: str) -> None:
        on_file_validated(session, done_id, status, hub.rules, utcnow())

    reason = ""
    for attempt in range(1, VALIDATION_ATTEMPTS + 1):
        try:
            status = validate_stored_file(hub.db, hub.store, hub.limits, file_id, release_orders, hub.sandboxes)
            if status in ("passed", "warnings"):
                hub.tasks.enqueue("slice_file", file_id)  # its reference slices, for quotes
            return status
        except Exception as exc:
            log.exception("validating file %s failed (attempt %d of %d)", file_id, attempt, VALIDATION_ATTEMPTS)
            reason = f"{type(exc).__name__}"
            if attempt < VALIDATION_ATTEMPTS:
                time.sleep(0.5 * 2 ** (attempt - 1))
    return mark_failed(hub.db, file_id, f"the check failed {VALIDATION_ATTEMPTS} times: {reason}", release_orders)


def _resume_pending(hub: Hub) -> Any:
    """Queue the work a stopped hub left unfinished (files still waiting for validation)."""
    from server.designs.service import pending_file_ids

    with hub.db.session() as session:
        ids = pending_file_ids(session)
    for file_id in ids:
        hub.tasks.enqueue("validate_file", file_id)
    return len(ids)


def _slice_file(hub: Hub, file_id: int) -> Any:
    """Slice a validated file for quotes (server.quotes.slices); a failed slice is kept with its reason."""
    from server.quotes.slices import slice_file

    return slice_file(hub, file_id)


TASKS: dict[str, Callable[..., Any]] = {
    "validate_file": _validate_file,
    "slice_file": _slice_file,
    "resume_pending": _resume_pending,
}


def fair_key(hub: Hub, name: str, args: tuple[Any, ...]) -> str:
    """The line a task waits in: the account owning the file for a validation or a slice, one shared line
    otherwise."""
    if name in ("validate_file", "slice_file"):
        from server.designs.service import file_owner_id

        with hub.db.session() as session:
            owner = file_owner_id(session, int(args[0]))
        return f"account:{owner}"
    return "hub"


class FairQueue:
    """Items in one line per key, taken in turn across keys (round-robin), thread-safe.

    ``take`` skips a key that already has ``per_key_running`` items running (``done`` releases one).
    """

    def __init__(self, per_key_running: int) -> None:
        self.per_key_running = max(1, per_key_running)
        self._lines: OrderedDict[Hashable, deque[Any]] = OrderedDict()
        self._running: Counter[Hashable] = Counter()
        self._cond = threading.Condition()

    def put(self, key: Hashable, item: Any) -> None:
        with self._cond:
            self._lines.setdefault(key, deque()).append(item)
            self._cond.notify()

    def take(self, timeout: float) -> tuple[Hashable, Any] | None:
        """The next item of the first key in turn that may run one more; None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for key, line in self._lines.items():
                    if self._running[key] < self.per_key_running:
                        item = line.popleft()
                        if line:
                            self._lines.move_to_end(key)  # its next item waits for the others' turn
                        else:
                            del self._lines[key]
                        self._running[key] += 1
                        return key, item
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return sum(len(line) for line in self._lines.values())


class InlineRunner:
    """Runs tasks on a few threads of the hub process (the embedded default), fairly across accounts."""

    def __init__(self, hub: Hub, workers: int) -> None:
        self.hub = hub
        self.queue = FairQueue(hub.settings.limit_int("validations_running_per_account"))
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name=f"cosmoloc-task-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    def enqueue(self, name: str, *args: Any) -> None:
        self.queue.put(fair_key(self.hub, name, args), (name, args))

    def _loop(self) -> None:
        while not self._stop.is_set():
            taken = self.queue.take(timeout=0.5)
            if taken is None:
                continue
            key, (name, args) = taken
            try:
                self._run(name, args)
            finally:
                self.queue.done(key)

    def _run(self, name: str, args: tuple[Any, ...]) -> None:
        try:
            TASKS[name](self.hub, *args)
        except Exception:
            log.exception("background task %s%r failed", name, args)

    def shutdown(self) -> None:
        """Finish what was queued, then stop the threads."""
        while len(self.queue) and any(t.is_alive() for t in self._threads):
            time.sleep(0.05)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


class EagerRunner(InlineRunner):
    """Runs each task at once in the caller's thread (tests that want no waiting)."""

    def __init__(self, hub: Hub, workers: int) -> None:
        self.hub = hub

    def enqueue(self, name: str, *args: Any) -> None:
        self._run(name, args)

    def shutdown(self) -> None:
        pass


# Push an item on its key's line; a key enters the ring of keys with work when its line starts.
_PUSH = """
redis.call('RPUSH', KEYS[1] .. ARGV[1], ARGV[2])
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then redis.call('RPUSH', KEYS[3], ARGV[1]) end
"""
# Pop the next item of the key at the head of the ring; the key goes to the back if it has more.
_POP = """
local key = redis.call('LPOP', KEYS[3])
if not key then return false end
local item = redis.call('LPOP', KEYS[1] .. key)
if redis.call('LLEN', KEYS[1] .. key) > 0 then redis.call('RPUSH', KEYS[3], key)
else redis.call('SREM', KEYS[2], key) end
return item
"""
_FAIR_KEYS = ("cosmoloc:fair:line:", "cosmoloc:fair:keys", "cosmoloc:fair:ring")


class RedisFairQueue:
    """The fair queue shared by every hub and worker process: one Redis list per key, a ring of keys."""

    def __init__(self, redis: Any) -> None:
        self._push = redis.register_script(_PUSH)
        self._pop = redis.register_script(_POP)

    def put(self, key: str, item: str) -> None:
        self._push(keys=list(_FAIR_KEYS), args=[key, item])

    def take(self) -> str | None:
        item = self._pop(keys=list(_FAIR_KEYS))
        return item.decode() if isinstance(item, bytes) else item


class RQRunner:
    """Puts tasks on an RQ queue; ``cosmoloc worker`` processes run them.

    The RQ job does not carry the task: it says "run the next task in turn", and the task is
    taken from the :class:`RedisFairQueue` when a worker gets to it, so the accounts take turns.
    """

    def __init__(self, redis_url: str, hub: Hub | None = None) -> None:
        from redis import Redis
        from rq import Queue

        self.hub = hub
        redis = Redis.from_url(redis_url)
        self.queue = Queue("cosmoloc", connection=redis)
        self.fair = RedisFairQueue(redis)

    def enqueue(self, name: str, *args: Any, attempt: int = 0) -> None:
        import json

        key = fair_key(self.hub, name, args) if self.hub is not None else "hub"
        self.fair.put(key, json.dumps([name, list(args), attempt]))
        self.queue.enqueue("server.tasks.run_next_fair", job_timeout=600)

    def shutdown(self) -> None:
        pass


_worker_hub: Hub | None = None


def _hub_of_worker() -> Hub:
    global _worker_hub
    if _worker_hub is None:
        from server.config import Settings
        from server.hub import Hub

        _worker_hub = Hub(Settings.from_env())
    return _worker_hub


def run_queued(name: str, *args: Any) -> Any:
    """Entry point of an RQ job naming its task (jobs queued before the fair queue existed)."""
    return TASKS[name](_hub_of_worker(), *args)


FAIR_ATTEMPTS = 3  # a task taken from the fair queue that fails (or times out) goes back this many times in all


def run_next_fair() -> Any:
    """Entry point of an RQ job: run the next task in turn from the fair queue (one job per queued task).

    The task has left the queue when it runs; if it fails (an error, RQ's job timeout), it is put back
    at the end of its line, up to ``FAIR_ATTEMPTS`` runs, so a worker's failure does not lose it.
    """
    import json

    hub = _hub_of_worker()
    raw = hub.tasks.fair.take()
    if raw is None:
        return None
    name, args, *rest = json.loads(raw)
    attempt = int(rest[0]) if rest else 0
    try:
        return TASKS[name](hub, *args)
    except Exception:
        if attempt + 1 < FAIR_ATTEMPTS:
            log.warning("task %s%r failed; queued again (run %d of %d)", name, tuple(args), attempt + 2, FAIR_ATTEMPTS)
            hub.tasks.enqueue(name, *args, attempt=attempt + 1)
        raise
