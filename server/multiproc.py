"""Where the workers of ``cosmoloc serve`` keep their metrics (prometheus-client's multiprocess mode).

Kept apart from :mod:`server.metrics` and free of prometheus-client at import: the folder must be
named in the environment before prometheus-client is first imported in any process, since it picks
its way of storing values then.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(data_dir: Path) -> Path:
    """Name ``data_dir/prometheus`` as the metrics folder and empty it (``cosmoloc serve`` and ``demo``, at start)."""
    folder = Path(data_dir) / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def join(data_dir: Path) -> None:
    """A process beside ``cosmoloc serve`` on this host (``cosmoloc worker``) adds to its folder, emptying nothing."""
    folder = Path(data_dir) / "prometheus"
    if folder.is_dir():
        os.environ.setdefault(MULTIPROC_ENV, str(folder))


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit``: a dead worker's live gauges leave the sum; its counts stay."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
