"""Backups of a hub: a consistent copy of its database and its file store, with a manifest of sha256s.

A backup is a folder::

    manifest.json        what is in it: each file's path, size and sha256, the database's kind and revision
    database.sqlite3     SQLite: made with SQLite's online backup API (consistent while the hub runs)
    database.pgdump      PostgreSQL: ``pg_dump --format=custom`` (one snapshot), restored with ``pg_restore``
    secret_key           the hub's session key, when it was generated into the data dir
    files/ab/cd/<sha>    the content-addressed file store, each file checked against its name

The database is copied first, then the files: a row in the copy points at a file that was stored
before it, and the periodic sweep only removes files no row has pointed at for
``orphan_blob_grace_s``, so every file the copy names is still there to be copied. Files that arrive
afterwards are copied too and are simply unreferenced in a restore (the sweep removes them).

A backup is written into a sibling folder and renamed into place once complete: a failed backup
leaves nothing at ``DEST``. A restore checks the whole backup first and writes only into a fresh
data dir and an empty database.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from server.config import Settings

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_NAME = "database.sqlite3"
PG_NAME = "database.pgdump"
CHUNK = 1024 * 1024

Progress = Callable[[int], None]


class BackupError(Exception):
    """The backup or restore cannot be done (bad path, missing tool, a backup that fails its check)."""


@dataclass
class Entry:
    path: str  # relative, POSIX
    size: int
    sha256: str


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashing(src: Path, dst: Path, progress: Progress) -> str:
    """Copy ``src`` to ``dst`` (owner-only), returning the sha256 of what was written."""
    dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with src.open("rb") as fin, os.fdopen(fd, "wb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            progress(len(chunk))
    return digest.hexdigest()


def _is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URL for pg_dump/pg_restore, the password passed in the environment (never in ``ps``)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed: PostgreSQL backups are made with pg_dump and restored with "
                          f"pg_restore (Debian: apt-get install postgresql-client)")
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _revision(url: str) -> str | None:
    from alembic.migration import MigrationContext

    from server.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    return heads[0] if heads else None


def blob_paths(files_dir: Path) -> list[Path]:
    """The stored files of a file store (its ``ab/cd/<sha256>`` layout; temporary ``.incoming-`` files left out)."""
    if not files_dir.is_dir():
        return []
    return sorted(p for p in files_dir.glob("??/??/*") if p.is_file() and not p.name.startswith("."))


def make_backup(settings: Settings, dest: Path, progress: Progress = lambda _n: None,
                files_total: Callable[[int], None] = lambda _n: None) -> dict[str, Any]:
    """Write a backup of the hub of ``settings`` to ``dest`` (which must not exist, or be an empty folder).

    ``files_total`` hears the bytes of stored files to copy once they are known, ``progress`` each chunk copied.
    Returns the manifest.
    """
    dest = Path(dest).resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty folder")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a folder")
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        entries: list[Entry] = []
        if not _is_postgres(settings.database_url):
            from sqlalchemy.engine import make_url

            source = Path(make_url(settings.database_url).database or "")
            if not source.is_file():  # checked before any connection, which would make an empty one
                raise BackupError(f"the SQLite database {source} does not exist")
        database: dict[str, Any] = {"revision": _revision(settings.database_url)}
        if _is_postgres(settings.database_url):
            url, env = _libpq(settings.database_url)
            target = work / PG_NAME
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
                  f"--dbname={url}"], env)
            database["kind"] = "postgresql"
            name = PG_NAME
        else:
            target = work / SQLITE_NAME
            _sqlite_copy(source, target)
            database["kind"] = "sqlite"
            name = SQLITE_NAME
        target.chmod(0o600)
        entries.append(Entry(name, target.stat().st_size, _sha256_of(target)))
        database["file"] = name
        key_file = settings.data_dir / "secret_key"
        if key_file.is_file():
            entries.append(Entry("secret_key", key_file.stat().st_size,
                                 _copy_hashing(key_file, work / "secret_key", lambda _n: None)))
        blobs = blob_paths(settings.files_dir)
        files_total(sum(p.stat().st_size for p in blobs))
        for blob in blobs:
            rel = blob.relative_to(settings.files_dir).as_posix()
            sha = _copy_hashing(blob, work / "files" / rel, progress)
            if sha != blob.name:
                raise BackupError(f"the stored file {rel} does not hold what its name says (sha256 {sha})")
            entries.append(Entry(f"files/{rel}", (work / "files" / rel).stat().st_size, sha))
        manifest = {"format": FORMAT, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "database": database, "entries": [e.__dict__ for e in entries]}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if dest.exists():
            dest.rmdir()
        work.rename(dest)
        return manifest
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy of ``source`` while others write to it, owner-only."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
    out = sqlite3.connect(target)
    try:
        with out:
            src.backup(out)
    finally:
        out.close()
        src.close()


def _safe_relative(path: str) -> bool:
    p = PurePosixPath(path)
    return bool(path) and not p.is_absolute() and ".." not in p.parts and "\\" not in path


def check_backup(src: Path, progress: Progress = lambda _n: None,
                 total: Callable[[int], None] = lambda _n: None) -> dict[str, Any]:
    """Read the manifest and every file of the backup at ``src``; raise BackupError naming what is wrong."""
    src = Path(src)
    if not src.is_dir():
        raise BackupError(f"{src} is not a folder")
    try:
        manifest = json.loads((src / MANIFEST).read_text())
        entries = [Entry(str(e["path"]), int(e["size"]), str(e["sha256"])) for e in manifest["entries"]]
        database = manifest["database"]
        kind, file = database["kind"], database["file"]
    except FileNotFoundError:
        raise BackupError(f"{src} has no {MANIFEST}: not a cosmoloc backup") from None
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{src / MANIFEST} is not a readable backup manifest") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{src} is a backup of format {manifest.get('format')!r}; this hub reads format {FORMAT}")
    if kind not in ("sqlite", "postgresql") or file not in {e.path for e in entries}:
        raise BackupError(f"{src / MANIFEST} does not name its database file")
    problems: list[str] = []
    total(sum(e.size for e in entries))
    for entry in entries:
        if not _safe_relative(entry.path):
            problems.append(f"{entry.path}: not a path inside the backup")
            continue
        path = src / entry.path
        if not path.is_file():
            problems.append(f"{entry.path}: missing")
        elif path.stat().st_size != entry.size:
            problems.append(f"{entry.path}: {path.stat().st_size} bytes, the manifest says {entry.size}")
        elif _sha256_of(path) != entry.sha256:
            problems.append(f"{entry.path}: its sha256 differs from the manifest's")
        progress(entry.size)
    if problems:
        shown = "; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
        raise BackupError(f"the backup at {src} fails its check: {shown}")
    return manifest


def _database_is_empty(url: str) -> bool:
    from sqlalchemy import inspect

    from server.db import make_engine

    engine = make_engine(url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def restore_backup(settings: Settings, src: Path, progress: Progress = lambda _n: None,
                   files_total: Callable[[int], None] = lambda _n: None) -> dict[str, Any]:
    """Restore the backup at ``src`` into the (fresh) data dir and database of ``settings``; checked first.

    The files are copied into a folder beside the file store first, the database restored next (SQLite:
    into a file renamed into place; PostgreSQL: one transaction), and the files' folder renamed into
    place last: a restore that fails leaves the data dir and the database as they were.
    """
    src = Path(src)
    manifest = check_backup(src)
    kind = manifest["database"]["kind"]
    wanted = "postgresql" if _is_postgres(settings.database_url) else "sqlite"
    if kind != wanted:
        raise BackupError(f"the backup holds a {kind} database and this hub is configured for {wanted} "
                          "(COSMOLOC_DATABASE_URL)")
    files_dir = settings.files_dir
    if files_dir.exists() and any(files_dir.iterdir()):
        raise BackupError(f"{files_dir} already holds stored files: restore into a fresh data dir")
    target = Path()
    if kind == "sqlite":
        from sqlalchemy.engine import make_url

        target = Path(make_url(settings.database_url).database or "")
        if target.exists() and target.stat().st_size > 0 and not _database_is_empty(settings.database_url):
            raise BackupError(f"{target} already holds a database: restore into a fresh data dir")
    elif not _database_is_empty(settings.database_url):
        raise BackupError("the PostgreSQL database of COSMOLOC_DATABASE_URL is not empty: restore into a new one")
    entries = manifest["entries"]
    blobs = [e for e in entries if e["path"].startswith("files/")]
    files_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".files.restoring-", dir=files_dir.parent))
    try:
        files_total(sum(int(e["size"]) for e in blobs))
        for entry in blobs:
            rel = entry["path"].removeprefix("files/")
            if _copy_hashing(src / entry["path"], staging / rel, progress) != entry["sha256"]:
                raise BackupError(f"{entry['path']} changed while it was restored")
        if kind == "sqlite":
            _restore_sqlite(src / SQLITE_NAME, target)
        else:
            url, env = _libpq(settings.database_url)
            _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                  f"--dbname={url}", str(src / PG_NAME)], env)
        if files_dir.exists():
            files_dir.rmdir()  # empty, checked above
        staging.rename(files_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    key = next((e for e in entries if e["path"] == "secret_key"), None)
    if key is not None and not os.environ.get("COSMOLOC_SECRET_KEY"):
        # the key a fresh data dir generated for itself signs nothing yet; the backup's keeps sessions valid
        key_file = settings.data_dir / "secret_key"
        key_file.unlink(missing_ok=True)
        _copy_hashing(src / "secret_key", key_file, lambda _n: None)
    return manifest


def _restore_sqlite(backup: Path, target: Path) -> None:
    """Copy the backup's SQLite database to ``target`` through a partial file renamed into place."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".restoring")
    partial.unlink(missing_ok=True)
    _sqlite_copy(backup, partial)
    for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(partial, target)
