"""Publishing, versioning, browsing and lineage of designs. Services flush; the request edge commits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from design_commons import licences
from design_commons.limits import Limits
from design_commons.sandbox import IsolatedResult, SandboxBusy, SandboxSlots, validate_isolated
from design_commons.units import STATED_UNITS, normalise_unit
from design_commons.validation import PROCESSES, detect_format
from server.accounts.models import Account
from server.db import utcnow
from server.designs import parents as design_parents
from server.designs.blobs import ensure_blob
from server.designs.models import Design, DesignFile, DesignTag, DesignVersion, FileProcess, ValidationStatus
from server.errors import ApiError, invalid, not_found
from server.input_rules import check_name, clean_filename
from server.ledger import service as ledger
from server.storage import BlobStore

MAX_TAGS = 20
MAX_FILES = 50


@dataclass
class Upload:
    """One uploaded file as the edge hands it over: its name and a readable stream."""

    filename: str
    stream: IO[bytes]


def check_unstored(path: Path, filename: str, unit: str, limits: Limits, slots: SandboxSlots,
                   wait_s: float) -> IsolatedResult:
    """Validate a file without storing it, in one of the process's sandboxes.

    Waits ``wait_s`` seconds at most for a free sandbox, then raises a 503 ``busy`` with ``Retry-After``: strangers are
    never queued without bound behind each other.
    """
    try:
        with slots.hold(wait_s):
            return validate_isolated(path, filename, unit, limits, thumbnail=False)
    except SandboxBusy:
        raise ApiError(503, "busy", "Every sandbox of the hub is checking a file; try again in a few seconds.",
                       headers={"Retry-After": str(max(1, min(30, limits.parse_seconds // 4)))}) from None


@dataclass(frozen=True)
class Quota:
    """What one account may have waiting and stored; None: no bound (the hub's own tools)."""

    pending_validations: int | None = None
    stored_bytes: int | None = None


@dataclass
class StoredUpload:
    filename: str
    sha256: str
    size_bytes: int
    created: bool


def parse_tags(raw: str | None) -> list[str]:
    tags = sorted({t.strip().lower() for t in (raw or "").split(",") if t.strip()})
    if len(tags) > MAX_TAGS:
        raise invalid(f"At most {MAX_TAGS} tags.", {"tags": [f"at most {MAX_TAGS}"]})
    for tag in tags:
        if len(tag) > 64:
            raise invalid("A tag is at most 64 characters.", {"tags": [f"too long: {tag[:20]}..."]})
    return tags


def parse_unit(raw: str | None) -> str:
    try:
        unit = normalise_unit(raw or "mm")
    except ValueError:
        unit = ""
    if unit not in STATED_UNITS:
        raise invalid(f"unit must be one of {', '.join(STATED_UNITS)}.", {"unit": ["unknown unit"]}, code="invalid_unit")
    return unit


def check_licence(raw: str | None) -> str:
    """Return the canonical SPDX id of an open licence; 422 with the reason for any other."""
    if not raw or not raw.strip():
        raise invalid("Choose an open licence.", {"license": ["required"]}, code="licence_required")
    try:
        return licences.check_open(raw.strip()).id
    except licences.LicenceRefused as exc:
        raise ApiError(422, exc.code, exc.reason, {"license": [exc.reason]}) from None


def _measure(up: Upload) -> tuple[int, str]:
    """Size in bytes and kind (mesh | drawing | other) of an upload, read without storing it."""
    stream = up.stream
    head = stream.read(256)
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size, detect_format(up.filename, head)[0]


def check_quota(session: Session, owner: Account, uploads: list[Upload], quota: Quota) -> None:
    """Refuse uploads that would put the account past its quota, before anything is stored.

    429 ``too_many_pending_validations`` while the account already has its bound of files waiting for
    validation (they finish; then it may upload again); 413 ``storage_quota_exceeded`` past the bytes an
    account may keep. The account row is locked so two uploads of one account are counted one after
    the other.
    """
    if quota.pending_validations is None and quota.stored_bytes is None:
        return
    session.get(Account, owner.id, with_for_update=True)
    measured = [_measure(up) for up in uploads]
    mine = (select(DesignFile).join(DesignFile.version).join(DesignVersion.design)
            .where(Design.owner_id == owner.id))
    if quota.pending_validations is not None:
        checked = sum(1 for _size, kind in measured if kind != "other")
        pending = session.scalar(select(func.count()).select_from(
            mine.where(DesignFile.validation_status == ValidationStatus.PENDING).subquery())) or 0
        if checked > quota.pending_validations:  # waiting would never help: say so, not "try later"
            raise ApiError(422, "too_many_files_to_check",
                           f"This version holds {checked} meshes and drawings to check and an account may have at "
                           f"most {quota.pending_validations} waiting for validation; publish them in smaller "
                           "versions.", {"files": [f"at most {quota.pending_validations} to check at once"]})
        if checked and pending + checked > quota.pending_validations:
            raise ApiError(429, "too_many_pending_validations",
                           f"{pending} of your files are still waiting for validation and an account may have at most "
                           f"{quota.pending_validations}; upload again when they are checked.")
    if quota.stored_bytes is not None:
        files = mine.subquery()
        kept = session.scalar(select(func.coalesce(func.sum(files.c.size_bytes), 0))) or 0
        adding = sum(size for size, _kind in measured)
        if kept + adding > quota.stored_bytes:
            raise ApiError(413, "storage_quota_exceeded",
                           f"An account may keep {quota.stored_bytes // (1024 * 1024)} MB of files; yours hold "
                           f"{kept // (1024 * 1024)} MB and these add {-(-adding // (1024 * 1024))} MB.")


def store_uploads(session: Session, store: BlobStore, uploads: list[Upload], owner: Account | None = None,
                  quota: Quota | None = None) -> list[StoredUpload]:
    """Check the uploads (count, names, the owner's ``quota``), then write them to the store and add their blob rows."""
    if not uploads:
        raise invalid("Attach at least one file.", {"files": ["required"]}, code="no_files")
    if len(uploads) > MAX_FILES:
        raise invalid(f"At most {MAX_FILES} files per version.", {"files": [f"at most {MAX_FILES}"]})
    names = [clean_filename(up.filename or "") for up in uploads]  # no path, no control characters
    if not all(names):
        raise invalid("Every file needs a name.", {"files": ["a file has no name"]})
    if owner is not None and quota is not None:
        check_quota(session, owner, uploads, quota)
    stored = []
    for name, up in zip(names, uploads, strict=True):
        sha, size, created = store.put_stream(up.stream)
        stored.append(StoredUpload(name[:255], sha, size, created))
        ensure_blob(session, sha, size)  # another request may store the same bytes at the same moment
    return stored


def _add_files(session: Session, store: BlobStore, version: DesignVersion, stored: list[StoredUpload],
               unit: str) -> None:
    for position, up in enumerate(stored):
        with store.path(up.sha256).open("rb") as f:
            head = f.read(256)
        kind, fmt = detect_format(up.filename, head)
        row = DesignFile(filename=up.filename, kind=kind, format=fmt, unit=unit, sha256=up.sha256,
                         size_bytes=up.size_bytes, position=position)
        if kind == "other":
            row.validation_status = ValidationStatus.PASSED
            row.report = {"status": "passed", "issues": [{"code": "not_manufacturable", "severity": "info",
                          "message": "Kept as documentation; only meshes and DXF drawings are checked and made."}],
                          "metrics": {}}
            row.requirements = {"processes": []}
            row.validated_at = utcnow()
        else:
            _reuse_earlier_validation(session, row)
        version.files.append(row)


def _reuse_earlier_validation(session: Session, row: DesignFile) -> None:
    """The same bytes in the same unit were checked before: take that verdict instead of redoing it.

    Only a verdict that depends on the bytes alone is taken; one reached at a bound (a time-out,
    a memory refusal, a task that kept failing) says more about the hub's load then than about
    the file, so the new upload is checked again.
    """
    candidates = session.scalars(
        select(DesignFile).where(DesignFile.sha256 == row.sha256, DesignFile.unit == row.unit,
                                 DesignFile.format == row.format,
                                 DesignFile.validation_status != ValidationStatus.PENDING)
        .order_by(DesignFile.validated_at.desc()).limit(20))
    earlier = next((c for c in candidates if not (c.report or {}).get("resource_limited")), None)
    if earlier is None:
        return
    for attr in ("validation_status", "report", "requirements", "canonical_sha256", "canonical_format",
                 "thumbnail_sha256", "validated_at"):
        setattr(row, attr, getattr(earlier, attr))
    row.processes = [FileProcess(process=p.process) for p in earlier.processes]


def publish(session: Session, store: BlobStore, owner: Account, title: str, license_raw: str,
            description: str = "", tags_raw: str | None = None, derived_from: str | None = None,
            unit_raw: str | None = None, uploads: list[Upload] | None = None,
            max_description: int = 20_000, quota: Quota | None = None, parent_weights: str | None = None) -> Design:
    """Publish a new design with its first version. Raises ApiError (422; 413/429 past the owner's
    ``quota``) before storing anything.

    ``derived_from``: the id of the design it remixes, or several, comma-separated; ``parent_weights``: one
    positive decimal per parent (else equal shares), see :mod:`server.designs.parents`.

    ``max_description``: the longest description in characters (the ``description_chars`` limit).
    """
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise invalid("A design needs a title of 1 to 200 characters.", {"title": ["required, at most 200 characters"]})
    check_name(title, "title", "The title")
    description = (description or "").strip()
    if len(description) > max_description:
        raise invalid(f"A description is at most {max_description} characters.",
                      {"description": [f"at most {max_description} characters"]})
    licence_id = check_licence(license_raw)
    tags = parse_tags(tags_raw)
    unit = parse_unit(unit_raw)
    parents = design_parents.parse(session, derived_from, parent_weights)
    parent_id = parents[0][0] if parents else None
    stored = store_uploads(session, store, uploads or [], owner, quota)
    design = Design(owner=owner, title=title, description=(description or "").strip(), license_id=licence_id,
                    derived_from_id=parent_id, tags=[DesignTag(tag=t) for t in tags])
    version = DesignVersion(number=1, changelog="First version")
    design.versions.append(version)
    _add_files(session, store, version, stored, unit)
    session.add(design)
    session.flush()
    design_parents.store(session, design.id, parents)
    ledger.design_published(session, design, parents)
    return design


def add_version(session: Session, store: BlobStore, owner: Account, design: Design, changelog: str | None,
                unit_raw: str | None, uploads: list[Upload], quota: Quota | None = None) -> Design:
    """Add a version to the owner's design; refused like :func:`publish` before anything is stored."""
    if design.owner_id != owner.id:
        raise ApiError(403, "not_owner", "Only the designer who published this design can add versions.")
    unit = parse_unit(unit_raw)
    stored = store_uploads(session, store, uploads, owner, quota)
    number = max((v.number for v in design.versions), default=0) + 1
    version = DesignVersion(number=number, changelog=(changelog or "").strip()[:5000])
    design.versions.append(version)
    _add_files(session, store, version, stored, unit)
    design.updated_at = utcnow()
    session.flush()
    ledger.design_versioned(session, design, number)
    return design


def get_design(session: Session, design_id: int) -> Design:
    design = session.get(Design, design_id, options=[selectinload(Design.versions).selectinload(DesignVersion.files)])
    if design is None:
        raise not_found("design")
    return design


MAKEABLE_KINDS = ("mesh", "drawing")


def order_file(session: Session, design_id: int, file_id: int | None = None) -> DesignFile | None:
    """The design's file ``file_id``, or by default the file an order of the design makes: the first
    manufacturable file (by position) of the latest version that has not failed validation. Loaded with its
    version and design in one query; None when the design has no such file (or no such design exists)."""
    query = (select(DesignFile).join(DesignFile.version).join(DesignVersion.design)
             .options(contains_eager(DesignFile.version).contains_eager(DesignVersion.design))
             .where(DesignVersion.design_id == design_id))
    if file_id is not None:
        return session.scalar(query.where(DesignFile.id == file_id))
    latest = (select(DesignVersion.id).where(DesignVersion.design_id == design_id)
              .order_by(DesignVersion.number.desc()).limit(1).scalar_subquery())
    return session.scalar(query.where(DesignFile.version_id == latest, DesignFile.kind.in_(MAKEABLE_KINDS),
                                      DesignFile.validation_status != ValidationStatus.FAILED)
                          .order_by(DesignFile.position, DesignFile.id).limit(1))


def get_file(session: Session, file_id: int) -> DesignFile:
    row = session.get(DesignFile, file_id)
    if row is None:
        raise not_found("file")
    return row


def search_query(q: str | None = None, tag: str | None = None, process: str | None = None,
                 license_id: str | None = None) -> Select[Any]:
    """Designs matching a text (title, description, tags), a tag, a process and a licence, newest first."""
    query = select(Design)
    if q:
        like = f"%{q.strip()}%"
        tagged = select(DesignTag.design_id).where(DesignTag.tag.ilike(like))
        query = query.where(or_(Design.title.ilike(like), Design.description.ilike(like), Design.id.in_(tagged)))
    if tag:
        query = query.where(Design.id.in_(select(DesignTag.design_id).where(DesignTag.tag == tag.strip().lower())))
    if process:
        if process not in PROCESSES:
            raise invalid(f"process must be one of {', '.join(PROCESSES)}.", {"process": ["unknown process"]},
                          code="invalid_query")
        makeable = (select(DesignVersion.design_id).join(DesignFile).join(FileProcess)
                    .where(FileProcess.process == process))
        query = query.where(Design.id.in_(makeable))
    if license_id:
        try:
            license_id = licences.lookup(license_id).id
        except licences.LicenceRefused:
            pass
        query = query.where(Design.license_id == license_id)
    return query.order_by(Design.created_at.desc(), Design.id.desc())


def derivatives(session: Session, design: Design) -> list[Design]:
    return list(session.scalars(select(Design).where(Design.derived_from_id == design.id).order_by(Design.id)))


def ancestry(design: Design, limit: int = 20) -> list[Design]:
    """The chain of designs this one was derived from, parent first."""
    chain: list[Design] = []
    seen = {design.id}
    parent = design.derived_from
    while parent is not None and parent.id not in seen and len(chain) < limit:
        chain.append(parent)
        seen.add(parent.id)
        parent = parent.derived_from
    return chain


def pending_file_ids(session: Session) -> list[int]:
    return list(session.scalars(select(DesignFile.id).where(DesignFile.validation_status == ValidationStatus.PENDING)))


def file_owner_id(session: Session, file_id: int) -> int | None:
    """The account that published the file's design (None for no such file)."""
    return session.scalar(select(Design.owner_id).join(Design.versions).join(DesignVersion.files)
                          .where(DesignFile.id == file_id))
