"""The hub's shared services for one process: settings, database, file store, background work."""
from __future__ import annotations

from typing import Any

from design_commons.limits import Limits
from design_commons.sandbox import SandboxSlots
from server.config import Settings
from server.db import Database
from server.storage import BlobStore

TIDY_INTERVAL_S = 600.0  # how often a hub process removes old idempotency records and expired sessions


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.store = BlobStore(settings.files_dir)
        self.limits = Limits(max_bytes=settings.max_upload_mb * 1024 * 1024,
                             parse_seconds=settings.limit_int("sandbox_seconds"))
        # every sandboxed child of this process (the anonymous check and background validation) takes a slot
        self.sandboxes = SandboxSlots(settings.limit_int("sandboxes"))
        self._tasks: Any = None
        self._sweeper: Any = None
        self._blob_sweeper: Any = None
        self._tidy: Any = None

    @property
    def upload_quota(self) -> Any:
        """What one account may have waiting for validation and stored (designs.service.Quota)."""
        from server.designs.service import Quota

        return Quota(pending_validations=self.settings.limit_int("pending_validations_per_account"),
                     stored_bytes=self.settings.limit_int("stored_mb_per_account") * 1024 * 1024)

    @property
    def rules(self) -> Any:
        from server.orders.service import Rules

        return Rules(offer_ttl_s=self.settings.offer_ttl_s, stale_after_s=self.settings.node_stale_after_s,
                     open_orders_per_account=self.settings.limit_int("open_orders_per_account"),
                     orders_per_account_hour=self.settings.limit_int("orders_per_account_hour"))

    def start_sweeper(self, interval_s: float = 2.0) -> None:
        """The background rounds of this process: expire offers and retry unmatched orders every few seconds,
        sweep unreferenced files, remove old idempotency records and expired sessions."""
        from server.designs.blobs import sweep_orphans
        from server.orders.sweeper import sweep
        from server.periodic import Periodic, tidy

        if self._sweeper is None:
            rules = self.rules
            self._sweeper = Periodic("order sweep", interval_s, lambda: sweep(self.db, rules))
            self._sweeper.start()
        if self._blob_sweeper is None:
            grace_s = self.settings.limit_int("orphan_blob_grace_s")
            self._blob_sweeper = Periodic("blob sweep", self.settings.limit_int("blob_sweep_interval_s"),
                                          lambda: sweep_orphans(self.db, self.store, grace_s))
            self._blob_sweeper.start()
        if self._tidy is None:
            self._tidy = Periodic("tidy-up", TIDY_INTERVAL_S, lambda: tidy(self.db))
            self._tidy.start()

    @property
    def tasks(self) -> Any:
        """The task runner, made on first use (so a worker process never starts threads it won't use)."""
        if self._tasks is None:
            from server import tasks

            if self.settings.redis_url:
                self._tasks = tasks.RQRunner(self.settings.redis_url, self)
            elif self.settings.eager_tasks:
                self._tasks = tasks.EagerRunner(self, 1)
            else:
                self._tasks = tasks.InlineRunner(self, self.settings.inline_workers)
        return self._tasks

    def close(self) -> None:
        for thread in (self._sweeper, self._blob_sweeper, self._tidy):
            if thread is not None:
                thread.stop()
        if self._tasks is not None:
            self._tasks.shutdown()
        self.db.dispose()
