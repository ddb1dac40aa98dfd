"""OKH-LOSH manifests (``okh.toml``) and their local part files into the commons, through the designs service.

Used by ``cosmoloc import-designs FILE_OR_DIR...`` and ``POST /api/v1/designs/import``. A manifest
becomes one design: ``name`` its title, ``function`` its description, ``license`` its licence
(refused licences are reported, nothing is stored), ``keywords`` its tags, ``fork-of`` /
``forkOf`` / ``derivative-of`` its parent when that is a design of this hub or a manifest of the
same import. Its files are the local ``source``, ``export`` and ``image`` files of the module
and its ``[[part]]`` tables, published as any upload (the designs service checks names, count and
the owner's quota; validation follows). Everything is bounded: the manifest's size, the number of
manifests and files, and paths, which must stay inside the manifest's folder (no ``..``, no
absolute paths, no symlink that leads out). Each manifest is imported in its own savepoint: one
that is refused leaves nothing behind.
"""
from __future__ import annotations

import os
import re
import stat
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.accounts.models import Account
from server.designs import service
from server.designs.models import Design
from server.errors import ApiError
from server.storage import BlobStore

MAX_MANIFEST_BYTES = 256 * 1024
MAX_MANIFESTS = 200
MAX_ARCHIVE_MEMBERS = 1000
MAX_DEPTH = 8  # folders below a directory argument searched for manifests
LINEAGE_KEYS = ("fork-of", "forkOf", "derivative-of")
FILE_KEYS = ("source", "export", "image")


class ImportFileError(Exception):
    """A path given to the import cannot be read at all (missing, not a file or folder): nothing is imported."""


class Refused(Exception):
    """A manifest that gives no design, with a stable ``code`` and the reason for people."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Imported:
    manifest: str
    design: Design
    files: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class Skipped:
    manifest: str
    code: str
    reason: str


@dataclass
class Summary:
    """What an import did: the designs made and the manifests skipped, each with why."""

    imported: list[Imported] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"imported {len(self.imported)} designs, skipped {len(self.skipped)} manifests"]
        for item in self.imported:
            out.append(f"  {item.manifest}: design {item.design.id} '{item.design.title}', "
                       f"{len(item.files)} files ({', '.join(item.files)})")
            out += [f"    note: {note}" for note in item.notes]
        out += [f"  skipped {s.manifest}: {s.reason} [{s.code}]" for s in self.skipped]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"imported": [{"manifest": i.manifest, "design_id": i.design.id, "title": i.design.title,
                              "files": i.files, "notes": i.notes} for i in self.imported],
                "skipped": [{"manifest": s.manifest, "code": s.code, "reason": s.reason} for s in self.skipped]}


def is_manifest_name(name: str) -> bool:
    """``okh.toml``, ``okh-<part>.toml`` and ``<name>.okh.toml``, as OKH-LOSH projects name them."""
    lower = name.lower()
    return lower == "okh.toml" or (lower.startswith("okh-") and lower.endswith(".toml")) or lower.endswith(".okh.toml")


def find_manifests(paths: Iterable[Path]) -> list[Path]:
    """The manifests named or found below the folders named (symlinked folders are not followed).

    ImportFileError for a path that does not exist, or past :data:`MAX_MANIFESTS` manifests.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            base_depth = len(path.parts)
            for folder, dirs, files in os.walk(path):  # os.walk does not follow symlinked folders
                deep = len(Path(folder).parts) - base_depth >= MAX_DEPTH
                dirs[:] = [] if deep else sorted(d for d in dirs if not d.startswith("."))
                found += [Path(folder) / f for f in sorted(files) if is_manifest_name(f)]
        else:
            raise ImportFileError(f"{path}: no such file or folder")
        if len(found) > MAX_MANIFESTS:
            raise ImportFileError(f"more than {MAX_MANIFESTS} manifests: import them in smaller batches")
    return list(dict.fromkeys(found))


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest's TOML as a table; Refused when it is too large, not TOML, or lacks a name or licence."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise Refused("unreadable", f"cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise Refused("manifest_too_large", f"larger than {MAX_MANIFEST_BYTES // 1024} KB")
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Refused("not_toml", f"not a TOML manifest ({str(exc).splitlines()[0]})") from None
    for key in ("name", "license"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise Refused(f"no_{key}", f"the manifest has no {key}")
    return data


def _entries(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (v for v in value if isinstance(v, str))


def local_files(root: Path, data: dict[str, Any], limit: int = service.MAX_FILES) -> tuple[list[Path], list[str]]:
    """The files a manifest names that lie in its folder ``root``, and notes on the entries left out.

    Remote URLs are not fetched; absolute paths, ``..`` and symlinks that lead outside ``root`` are
    refused; missing files are noted. Refused (``too_many_files``) past ``limit`` files.
    """
    tables = [data] + [p for p in data.get("part") or [] if isinstance(p, dict)]
    entries = [e.strip() for t in tables for k in FILE_KEYS for e in _entries(t.get(k)) if e.strip()]
    top = root.resolve()
    files: list[Path] = []
    notes: list[str] = []
    for entry in dict.fromkeys(entries):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", entry):
            notes.append(f"{entry}: a remote file, not fetched")
            continue
        relative = entry.replace("\\", "/").lstrip("/")  # "/docs/x.md" is repo-relative in OKH-LOSH
        if entry.startswith("//") or ".." in Path(relative).parts:
            notes.append(f"{entry}: outside the manifest's folder, left out")
            continue
        target = (top / relative).resolve()
        if not target.is_relative_to(top):
            notes.append(f"{entry}: leads outside the manifest's folder, left out")
        elif not target.is_file():
            notes.append(f"{entry}: no such file beside the manifest")
        elif target not in files:
            files.append(target)
    if len(files) > limit:
        raise Refused("too_many_files", f"names {len(files)} local files; a design holds at most {limit}")
    return files, notes


def _parent(session: Session, data: dict[str, Any], base_url: str, known: dict[str, int]) -> tuple[int | None, str]:
    """The parent design's id (on this hub or imported just before), or None and the outside URL."""
    for key in LINEAGE_KEYS:
        for url in _entries(data.get(key)):
            url = url.strip().rstrip("/")
            if url in known:
                return known[url], ""
            prefix = base_url.rstrip("/") + "/designs/"
            if url.startswith(prefix) and url[len(prefix):].isdigit():
                design_id = int(url[len(prefix):])
                if design_id <= 2**31 - 1 and session.get(Design, design_id) is not None:
                    return design_id, ""
            if url:
                return None, url
    return None, ""


def _description(data: dict[str, Any], outside_parent: str) -> str:
    """The ``function``, then where the design comes from: its licensor, repository and version."""
    lines = [str(data.get("function") or "").strip()]
    licensor = data.get("licensor")
    names = [v if isinstance(v, str) else v.get("name") for v in (licensor if isinstance(licensor, list) else [licensor])
             if isinstance(v, str) or isinstance(v, dict)]
    credit = ", ".join(str(n).strip() for n in names if n and str(n).strip())
    origin = []
    if credit:
        origin.append(f"Licensor: {credit}.")
    if isinstance(data.get("repo"), str) and data["repo"].strip():
        version = data.get("version")
        origin.append(f"Imported from {data['repo'].strip()}" + (f" (version {version})." if version else "."))
    if outside_parent:
        origin.append(f"Fork of {outside_parent}.")
    return "\n\n".join(p for p in (lines[0], " ".join(origin)) if p)


def _tags(data: dict[str, Any]) -> str:
    words = [w.replace(",", " ").strip().lower()[:64] for w in _entries(data.get("keywords"))]
    return ",".join(list(dict.fromkeys(w for w in words if w))[:service.MAX_TAGS])


def _already_imported(session: Session, owner: Account, title: str, description: str) -> Design | None:
    if "Imported from " not in description:
        return None
    return session.scalar(select(Design).where(Design.owner_id == owner.id, Design.title == title,
                                               Design.description == description).limit(1))


def import_manifest(session: Session, store: BlobStore, owner: Account, path: Path, shown: str, base_url: str,
                    known: dict[str, int], quota: service.Quota | None = None,
                    max_description: int = 20_000) -> Imported:
    """One manifest as a design, published by ``owner`` inside a savepoint; Refused with the reason otherwise."""
    data = read_manifest(path)
    licence = data["license"].strip()
    try:
        service.check_licence(licence)
    except ApiError as exc:
        raise Refused(exc.code, f"licence {licence!r} refused: {exc.detail}") from None
    files, notes = local_files(path.parent, data)
    if not files:
        raise Refused("no_local_files", "none of the files it names is beside it" +
                      (f" ({'; '.join(notes[:5])})" if notes else ""))
    parent_id, outside = _parent(session, data, base_url, known)
    if outside:
        notes.append(f"fork of {outside}, which is not a design of this hub: noted in the description")
    title = data["name"].strip()[:200]
    description = _description(data, outside)[:max_description]
    if (earlier := _already_imported(session, owner, title, description)) is not None:
        raise Refused("already_imported", f"already imported as design {earlier.id}")
    okhv = data.get("okhv")
    if okhv != "OKH-LOSHv1.0":
        notes.append(f"okhv is {okhv!r}, not 'OKH-LOSHv1.0': read as OKH-LOSH all the same")
    with ExitStack() as stack:
        uploads = [service.Upload(f.name, stack.enter_context(f.open("rb"))) for f in files]
        try:
            with session.begin_nested():
                design = service.publish(session, store, owner, title, licence, description, _tags(data),
                                         str(parent_id) if parent_id else None, "mm", uploads, max_description,
                                         quota=quota)
        except ApiError as exc:
            raise Refused(exc.code, exc.detail) from None
    repo = data.get("repo")
    if isinstance(repo, str) and repo.strip():
        known[repo.strip().rstrip("/")] = design.id
    return Imported(shown, design, [f.relative_to(path.parent.resolve()).as_posix() for f in files], notes)


def _copy_capped(source: IO[bytes], target: Path, budget: int) -> int:
    """Copy at most ``budget`` bytes; Refused (``too_large``) when the source holds more."""
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(1 << 16):
            written += len(chunk)
            if written > budget:
                raise Refused("too_large", "the files are larger than an upload may be")
            out.write(chunk)
    return written


def _safe_parts(name: str) -> tuple[str, ...]:
    """The folders and name of an archive member or uploaded file; Refused for one that would leave the folder."""
    posix = PurePosixPath(name.replace("\\", "/"))
    parts = tuple(p for p in posix.parts if p not in ("", "."))
    if posix.is_absolute() or not parts or ".." in parts or ":" in parts[0]:
        raise Refused("unsafe_path", f"{name!r} would lie outside the import's folder")
    return parts


def unpack_zip(stream: IO[bytes], dest: Path, max_bytes: int, max_members: int = MAX_ARCHIVE_MEMBERS) -> None:
    """Unpack a zip archive of manifests and their files into ``dest``, bounded.

    At most ``max_members`` entries and ``max_bytes`` unpacked bytes (counted as they are
    written, whatever the archive declares); symlink entries are left out; a member whose path
    would leave ``dest`` refuses the whole archive (Refused ``unsafe_path``).
    """
    try:
        archive = zipfile.ZipFile(stream)
        members = archive.infolist()
        if len(members) > max_members:
            raise Refused("too_many_files", f"the archive holds {len(members)} entries; at most {max_members}")
        budget = max_bytes
        for info in members:
            if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
                continue
            target = dest.joinpath(*_safe_parts(info.filename))
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source:
                budget -= _copy_capped(source, target, budget)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise Refused("bad_archive", f"not a readable zip archive ({exc})") from None


def place_uploads(manifest: tuple[str, IO[bytes]], files: list[tuple[str, IO[bytes]]], dest: Path,
                  max_bytes: int) -> None:
    """A manifest and its files sent one by one: each file lands at the path its name gives, below ``dest``."""
    if len(files) > MAX_ARCHIVE_MEMBERS:
        raise Refused("too_many_files", f"{len(files)} files; at most {MAX_ARCHIVE_MEMBERS}")
    budget = max_bytes - _copy_capped(manifest[1], dest / "okh.toml", min(max_bytes, MAX_MANIFEST_BYTES))
    for name, stream in files:
        target = dest.joinpath(*_safe_parts(name))
        if target == dest / "okh.toml":
            raise Refused("unsafe_path", "a file may not take the manifest's place")
        target.parent.mkdir(parents=True, exist_ok=True)
        budget -= _copy_capped(stream, target, budget)


def _parents_first(plans: list[tuple[Path, dict[str, Any] | None]]) -> list[Path]:
    """Manifests ordered so that one whose lineage names another's ``repo`` comes after it."""
    repos = {str(d.get("repo", "")).strip().rstrip("/"): p for p, d in plans if d and isinstance(d.get("repo"), str)}
    done: list[Path] = []

    def visit(path: Path, data: dict[str, Any] | None, trail: set[Path]) -> None:
        if path in done or path in trail:
            return
        for key in LINEAGE_KEYS:
            for url in _entries((data or {}).get(key)):
                parent = repos.get(url.strip().rstrip("/"))
                if parent is not None:
                    visit(parent, dict(plans)[parent], trail | {path})
        done.append(path)

    for path, data in plans:
        visit(path, data, set())
    return done


def import_manifests(session: Session, store: BlobStore, owner: Account, manifests: list[Path], base_url: str,
                     shown: Callable[[Path], str] = str, quota: service.Quota | None = None,
                     max_description: int = 20_000, progress: Callable[[int], None] = lambda _n: None,
                     after_each: Callable[[], None] = lambda: None) -> Summary:
    """Import each manifest (parents before their forks); ``after_each`` runs after each one (the CLI commits)."""
    peeked: list[tuple[Path, dict[str, Any] | None]] = []
    for path in manifests:
        try:
            peeked.append((path, read_manifest(path)))
        except Refused:
            peeked.append((path, None))
    summary = Summary()
    known: dict[str, int] = {}
    for path in _parents_first(peeked):
        try:
            summary.imported.append(import_manifest(session, store, owner, path, shown(path), base_url, known,
                                                    quota, max_description))
        except Refused as exc:
            summary.skipped.append(Skipped(shown(path), exc.code, exc.reason))
        after_each()
        progress(1)
    return summary
