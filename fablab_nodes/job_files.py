"""The files a job brings to the lab, in ``state_dir/files/<job id>/``: the downloaded canonical
file and whatever a driver makes of it beside it (a slicer's G-code). A job's folder is kept while
the job is in hand (it may still be started, sliced or tried again) and removed once it has ended.
"""
from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from fablab_nodes.jobs import Job

log = logging.getLogger(__name__)

FILES_DIR = "files"


def job_folder(state_dir: Path, job_id: str) -> Path:
    """The folder of one job's files."""
    return state_dir / FILES_DIR / (re.sub(r"[^A-Za-z0-9_-]+", "_", job_id) or "_")


def download_path(state_dir: Path, job: Job) -> Path:
    """Where the job's canonical file is downloaded: its own name, made safe, in the job's folder.

    The extension is kept apart, so a name with no ASCII letters ('деталь.stl') becomes 'part.stl', not 'stl'
    (drivers and slicers go by the extension).
    """
    stem, dot, ext = job.file.filename.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", ext):
        stem, ext = job.file.filename, ""
    safe_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "part"
    return job_folder(state_dir, job.id) / (f"{safe_stem}.{ext}" if ext else safe_stem)


def remove_ended(state_dir: Path, in_hand: Iterable[str]) -> list[str]:
    """Remove the folder of every job not in ``in_hand`` (the ids of the jobs still active); returns
    the names of the folders removed. A folder that cannot be removed is logged and left."""
    root = state_dir / FILES_DIR
    if not root.is_dir():
        return []
    keep = {job_folder(state_dir, job_id).name for job_id in in_hand}
    removed = []
    for entry in sorted(root.iterdir()):
        if entry.name in keep:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as exc:
            log.warning("cannot remove %s: %s", entry, exc)
            continue
        removed.append(entry.name)
    if removed:
        log.info("removed the files of %d ended job(s): %s", len(removed), ", ".join(removed))
    return removed
