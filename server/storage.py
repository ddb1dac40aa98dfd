"""Files on disk, stored once by sha256 (content-addressed).

Layout: ``<root>/ab/cd/abcd...``. Writes go to a temporary file in the same folder and are
renamed into place, so a reader never sees half a file.

Nothing here deletes a file because a request failed: another request may be about to commit
a row pointing at the same bytes. Every write renames a fresh copy into place, even when the
content was already there, so a stored file's mtime says when a request last needed it; the
periodic sweep (``server.designs.blobs.sweep_orphans``) removes only files older than some
minutes that no row points at.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

CHUNK = 1024 * 1024


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put_bytes(self, data: bytes) -> tuple[str, bool]:
        """Store ``data``; return ``(sha256, created)``. ``created`` is False when it was there."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        existed = target.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)  # even when it existed: a fresh mtime keeps the sweep away
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha, not existed

    def put_stream(self, stream: IO[bytes]) -> tuple[str, int, bool]:
        """Store a stream; return ``(sha256, size, created)``."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            target = self.path(sha)
            existed = target.exists()
            target.parent.mkdir(parents=True, exist_ok=True)
            # Replace even when it existed: the sweep may be removing the old copy right now, and
            # a fresh mtime tells it this content is wanted again.
            os.replace(tmp, target)
            return sha, size, not existed
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        with self.path(sha256).open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def stored(self) -> Iterator[tuple[str, float]]:
        """Every stored file as ``(sha256, mtime)`` (seconds since the epoch); temporary files skipped."""
        for path in self.root.glob("??/??/*"):
            name = path.name
            if len(name) == 64 and not name.startswith("."):
                try:
                    yield name, path.stat().st_mtime
                except FileNotFoundError:
                    continue

    def remove_if_older(self, sha256: str, cutoff: float) -> bool:
        """Remove the stored file unless it was written at or after ``cutoff`` (epoch seconds).

        The file is first renamed aside, so a writer that puts the same bytes meanwhile gets a
        new file at the usual place; a copy found young after the rename is put back.
        """
        target = self.path(sha256)
        aside = target.with_name(f".sweep-{sha256}")
        try:
            if target.stat().st_mtime >= cutoff:
                return False
            os.rename(target, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime >= cutoff:
            if not target.exists():
                os.replace(aside, target)
            else:
                aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return True
