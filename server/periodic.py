"""Work a hub process repeats in the background (expiring offers, sweeping unreferenced files)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Periodic:
    """A daemon thread calling ``work()`` every ``interval_s`` seconds until stopped (``interval_s <= 0``: never).

    A failing round is logged and the next one tries again: a database hiccup must not end the loop.
    """

    def __init__(self, name: str, interval_s: float, work: Callable[[], object]) -> None:
        self.name, self.interval_s, self.work = name, interval_s, work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"cosmoloc-{name}", daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.work()
            except Exception:
                log.exception("%s failed", self.name)


def tidy(database: Any) -> tuple[int, int]:
    """Remove what is kept only for a while: idempotency records past a day, expired web sessions."""
    from server import idempotency
    from server.accounts import sessions

    with database.session() as session:
        answers, ended = idempotency.prune(session), sessions.prune_expired(session)
    if answers or ended:
        log.info("tidy-up: %d idempotency records, %d expired sessions removed", answers, ended)
    return answers, ended
