"""Add labs to the directory from other people's lists: OKW facility records and CSV directories.

``cosmoloc import-labs FILE...`` reads every file first (:func:`read_sources`; an unreadable file
or an unknown format raises :class:`ImportFileError` before anything is written), then
:func:`import_sources` turns each record into a :class:`Candidate` or a :class:`Skip` with its
reason, de-duplicates it against the directory and writes labs in batches, one commit per batch.

Imported labs have ``source="import"``, no operator and no node token: they are listed in the
directory but cannot receive orders until someone claims them (matching says ``unclaimed``).
The parsers live beside this module: ``importing_csv`` and ``importing_okw``.
"""
from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, defer, selectinload

from cosmoloc_contract.fablabs import MachineIn
from server.db import Database, utcnow
from server.fablabs import geocoding
from server.fablabs.models import Fablab, LabKind, Machine
from server.fablabs.service import Location, new_machine, place_lab

BATCH_SIZE = 500
SAME_PLACE_KM = 2.0  # two records of one name closer than this are one lab
SAME_TOWN_KM = 30.0  # ... or this, when one of them was placed by its city only
# Typical sizes (mm) assumed for a machine whose record gives none; sheet processes: bed x, y and thickest stock.
DEFAULT_VOLUMES_MM: dict[str, tuple[float, float, float]] = {
    "fdm": (200.0, 200.0, 200.0), "sla": (120.0, 68.0, 150.0), "sls": (150.0, 150.0, 150.0),
    "cnc_milling": (300.0, 200.0, 100.0), "laser_cutting": (600.0, 400.0, 6.0),
    "laser_engraving": (600.0, 400.0, 6.0), "cnc_routing": (1200.0, 600.0, 25.0), "vinyl_cutting": (600.0, 1000.0, 1.0),
}
PROCESS_LABELS = {
    "fdm": "3D printer (FDM)", "sla": "3D printer (resin)", "sls": "3D printer (SLS)", "cnc_milling": "CNC mill",
    "laser_cutting": "Laser cutter", "laser_engraving": "Laser engraver", "cnc_routing": "CNC router",
    "vinyl_cutting": "Vinyl cutter",
}
ACTIVE_WORDS = {"active", "open", "operating", "operational", "en operacion", "confirmed", "running"}


class ImportFileError(Exception):
    """A file cannot be read at all (missing, unreadable, unknown format): nothing is imported."""


@dataclass
class MachineSpec:
    """A machine found in a record; ``assumed_volume`` when its size is a typical value, not the lab's."""

    spec: MachineIn
    assumed_volume: bool = False


@dataclass
class Located:
    """A point in degrees (WGS-84); ``approximate`` when placed by its city; ``fixes``: 'swapped', 'dms', 'sign',
    and 'far_from_country' for a point kept though it lies outside the country its record names."""

    latitude: float
    longitude: float
    approximate: bool = False
    fixes: tuple[str, ...] = ()
    label: str = ""  # the gazetteer's place when approximate: 'Sofia, BG'


@dataclass
class Candidate:
    """One lab as a record describes it, located and ready to be added or merged."""

    name: str
    kind: LabKind
    where: Located
    city: str = ""
    country: str = ""
    address: str = ""
    accepting_orders: bool = False
    description: str = ""
    machines: list[MachineSpec] = field(default_factory=list)


@dataclass(frozen=True)
class Skip:
    """A record that gives no lab, and why (the reasons are counted in the summary)."""

    reason: str


Outcome = Candidate | Skip


@dataclass
class Source:
    """A file read and recognised: its records, and the function turning one into an outcome."""

    path: Path
    format: str  # "csv" or "okw"
    encoding: str
    records: list[Any]
    interpret: Callable[[Any], Outcome]


# ---------------------------------------------------------------- words, names, machines


def clean(value: Any, limit: int = 500) -> str:
    """A cell or field as one line of text: whitespace squeezed, cut to ``limit`` characters."""
    if value is None or isinstance(value, dict | list):
        return ""
    return " ".join(str(value).split())[:limit]


_KIND_WORDS: tuple[tuple[tuple[str, ...], LabKind], ...] = (
    (("fab lab", "fablab", "fab_lab", "mini fab"), LabKind.FABLAB),
    (("cooperative", "co op", "coop"), LabKind.COOPERATIVE),
    (("makerspace", "maker space", "hackerspace", "hacker space", "hacklab", "biohack", "techshop", "men's shed",
      "repair cafe", "distributed", "diy"), LabKind.MAKERSPACE),
    (("nonprofit", "non profit", "ngo", "school", "educ", "university", "library", "museum", "gallery", "government",
      "public", "appropriate tech", "living", "association", "foundation"), LabKind.NONPROFIT),
    (("company", "business", "hub", "incubator", "accelerator", "co working", "coworking", "cluster", "marketplace",
      "manufactur", "service bureau", "print shop"), LabKind.COMPANY),
    (("individual", "personal", "home"), LabKind.INDIVIDUAL),
)
# each word matches at the start of a word: "hub" in "Tech Hub", not in "GitHub"
_KIND_PATTERNS = [(re.compile("|".join(r"\b" + re.escape(w) for w in words)), kind) for words, kind in _KIND_WORDS]
_EVENT = re.compile(r"(an? )?(event|festival|fair|faire|maker faire|conference|meetup|hackathon)s?")


def kind_of(text: str) -> LabKind | str | None:
    """The lab kind a category word suggests, ``"event"`` for festivals and fairs, None when unknown."""
    t = geocoding.fold(text)
    if not t:
        return None
    if _EVENT.fullmatch(t):
        return "event"
    return next((kind for pattern, kind in _KIND_PATTERNS if pattern.search(t)), None)


def is_active(status: str) -> bool:
    """Whether a directory status ('Active', 'EN OPERACION', 'confirmed') says the lab is working now."""
    return geocoding.fold(status) in ACTIVE_WORDS


def name_key(name: str) -> str:
    """The name as compared for duplicates: folded, letters and digits only (any script)."""
    folded = geocoding.fold(name)
    return "".join(ch for ch in folded if ch.isalnum()) or folded


def slug(text: str, limit: int = 48) -> str:
    """A machine-key-safe slug: 'Prusa S5' -> 'prusa-s5'."""
    return re.sub(r"[^a-z0-9]+", "-", geocoding.fold(text).encode("ascii", "ignore").decode()).strip("-")[:limit]


def machine_spec(key: str, name: str, process: str, volume: tuple[float, float, float] | None,
                 materials: Iterable[str] = ()) -> MachineSpec | None:
    """A validated machine; the process's typical volume when ``volume`` is None. None if it will not validate."""
    assumed = volume is None
    try:
        spec = MachineIn(key=key[:64] or process, name=name[:200] or PROCESS_LABELS[process], process=process,
                         build_volume_mm=volume or DEFAULT_VOLUMES_MM[process],
                         materials=[m[:64] for m in materials if m.strip()][:100])
    except (ValidationError, KeyError):
        return None
    return MachineSpec(spec, assumed)


def describe(parts: Iterable[str], machines: Sequence[MachineSpec], where: Located) -> str:
    """A description from its non-empty parts, noting an approximate location and assumed machine sizes."""
    out = [p.strip() for p in parts if p and p.strip()]
    if where.approximate:
        out.append(f"Location approximate: the centre of {where.label}")
    assumed = [m.spec for m in machines if m.assumed_volume]
    if assumed:
        sizes = ", ".join(f"{m.key} {'x'.join(f'{v:g}' for v in m.build_volume_mm)} mm" for m in assumed)
        out.append(f"Typical build volume assumed, not given in the source: {sizes}.")
    return " ".join(s if s.endswith(".") else s + "." for s in out)[:5000]


# ---------------------------------------------------------------- distances


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a sphere: good enough to tell duplicates apart."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


# ---------------------------------------------------------------- reading files


def read_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Read and recognise every file; raises ImportFileError for the first that cannot be used."""
    return [read_source(Path(p)) for p in paths]


def read_source(path: Path) -> Source:
    """One file as a :class:`Source`: OKW JSON/YAML (record, list or envelope) or a CSV directory."""
    from server.fablabs import importing_csv, importing_okw

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not raw.strip():
        raise ImportFileError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return importing_csv.source(path, raw)
    if suffix in (".json", ".geojson", ".yaml", ".yml"):
        return importing_okw.source(path, raw)
    try:  # no telling suffix: structured data first, then a table
        return importing_okw.source(path, raw)
    except ImportFileError:
        pass
    try:
        return importing_csv.source(path, raw)
    except ImportFileError:
        raise ImportFileError(f"{path}: unknown format: neither OKW facility records (JSON/YAML) "
                              "nor a CSV list of labs with a name column") from None


# ---------------------------------------------------------------- de-duplication and writing


@dataclass
class Entry:
    """A lab already in the directory (or added by this run), as far as de-duplication needs it."""

    lab_id: int | None
    latitude: float
    longitude: float
    approximate: bool
    city: str
    country: str
    imported: bool  # an unclaimed imported lab, which a later record may complete
    pending: Fablab | None = None


def import_key(c: Candidate) -> str:
    """Normalised name plus rounded coordinates, or name, city and country when placed by the city."""
    name = name_key(c.name)[:120]
    if c.where.approximate:
        return f"{name}|{geocoding.fold(c.city)[:40]}|{c.country.lower()}"[:200]
    return f"{name}@{round(c.where.latitude, 2) + 0.0:.2f},{round(c.where.longitude, 2) + 0.0:.2f}"


class Directory:
    """The labs the database holds, indexed by import key and by name, kept current during a run."""

    def __init__(self, session: Session) -> None:
        self.by_key: dict[str, Entry] = {}
        self.by_name: dict[str, list[Entry]] = {}
        rows = session.execute(select(Fablab.id, Fablab.name, Fablab.latitude, Fablab.longitude,
                                      Fablab.location_approximate, Fablab.city, Fablab.country, Fablab.import_key,
                                      Fablab.source, Fablab.operator_id))
        for (lab_id, name, lat, lon, approx, city, country, key, source, operator_id) in rows:
            entry = Entry(lab_id, lat, lon, approx, geocoding.fold(city or ""), (country or "").lower(),
                          source == "import" and operator_id is None)
            self._index(key, name, entry)

    def _index(self, key: str | None, name: str, entry: Entry) -> None:
        if key:
            self.by_key[key] = entry
        self.by_name.setdefault(name_key(name), []).append(entry)

    def match(self, c: Candidate, key: str) -> Entry | None:
        """The lab this candidate describes: same import key, or same name close by."""
        if key in self.by_key:
            return self.by_key[key]
        best: tuple[float, Entry] | None = None
        for e in self.by_name.get(name_key(c.name), []):
            d = distance_km(c.where.latitude, c.where.longitude, e.latitude, e.longitude)
            loose = c.where.approximate or e.approximate
            same_town = loose and e.city == geocoding.fold(c.city) and e.country == c.country.lower() and e.city != ""
            if (d <= (SAME_TOWN_KM if loose else SAME_PLACE_KM) or same_town) and (best is None or d < best[0]):
                best = (d, e)
        return best[1] if best else None

    def add(self, key: str, lab: Fablab, c: Candidate) -> None:
        entry = Entry(None, lab.latitude, lab.longitude, lab.location_approximate, geocoding.fold(c.city),
                      c.country.lower(), True, pending=lab)
        self._index(key, lab.name, entry)

    def settle(self, entries: Iterable[Entry]) -> None:
        """After a flush: remember the new labs by id, so later batches load them in their own session."""
        for e in entries:
            if e.pending is not None:
                e.lab_id, e.pending = e.pending.id, None


@dataclass
class ImportReport:
    """What a run did: counts of labs imported and merged, skips by reason, fixes made, time taken."""

    files: list[str] = field(default_factory=list)
    records: int = 0
    imported: int = 0
    merged: int = 0
    updated: int = 0  # merged labs that gained something (a field, a machine, an exact location)
    machines: int = 0
    approximate: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    fixed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """The summary a person reads, one fact per line."""
        out = [*self.files, f"imported {self.imported} labs ({self.machines} machines), "
                            f"merged {self.merged} into labs already listed ({self.updated} updated)"]
        total = sum(self.skipped.values())
        reasons = ", ".join(f"{r} ({n})" for r, n in self.skipped.most_common())
        out.append(f"skipped {total}" + (f": {reasons}" if total else ""))
        out.append(f"placed approximately (by city) {self.approximate}")
        names = {"dms": "degrees-minutes-seconds read", "swapped": "latitude/longitude swapped",
                 "sign": "a lost minus sign restored"}
        fixed = {k: n for k, n in self.fixed.items() if k != "far_from_country"}
        detail = ", ".join(f"{names.get(k, k)} {n}" for k, n in sorted(fixed.items()))
        out.append(f"coordinates fixed {sum(fixed.values())}" + (f": {detail}" if detail else ""))
        doubted = self.fixed["far_from_country"]
        if doubted:
            out.append(f"kept as given though far from the country the record names {doubted} "
                       "(no town of that name there, no swapped or sign-flipped reading inside it)")
        out.append(f"took {self.seconds:.1f} s for {self.records} records")
        return out


def import_sources(db: Database, sources: Sequence[Source], progress: Callable[[int], None] | None = None,
                   batch_size: int = BATCH_SIZE) -> ImportReport:
    """Import the records of every source; one commit per ``batch_size`` records.

    ``progress(n)`` is called after each batch with the number of records it held.
    A re-run of the same files imports nothing new: every record merges into the lab it made.
    """
    started = time.perf_counter()
    report = ImportReport()
    with db.session() as session:
        directory = Directory(session)
    for source in sources:
        report.files.append(f"{source.path.name}: {len(source.records)} records ({source.format}, {source.encoding})")
        for start in range(0, len(source.records), batch_size):
            batch = source.records[start:start + batch_size]
            outcomes = [source.interpret(record) for record in batch]
            with db.session() as session:
                _write(session, directory, outcomes, report)
            if progress is not None:
                progress(len(batch))
    report.records = sum(len(s.records) for s in sources)
    report.seconds = time.perf_counter() - started
    return report


def _write(session: Session, directory: Directory, outcomes: Sequence[Outcome], report: ImportReport) -> None:
    keys = {id(c): import_key(c) for c in outcomes if isinstance(c, Candidate)}
    wanted = {e.lab_id for c in outcomes if isinstance(c, Candidate)
              for e in [directory.match(c, keys[id(c)])] if e is not None and e.imported and e.lab_id is not None}
    # only what a merge reads: timestamps stay unloaded (reading them back costs more than the rest)
    options = (selectinload(Fablab.machines).load_only(Machine.key, Machine.process), defer(Fablab.created_at),
               defer(Fablab.updated_at), defer(Fablab.last_seen_at))
    loaded = {lab.id: lab for lab in session.scalars(
        select(Fablab).where(Fablab.id.in_(wanted)).options(*options))} if wanted else {}
    touched: list[Entry] = []
    for c in outcomes:
        if isinstance(c, Skip):
            report.skipped[c.reason] += 1
            continue
        key = keys[id(c)]
        entry = directory.match(c, key)
        if entry is not None and not entry.imported:
            report.skipped["already in the directory, run by its operator"] += 1
            continue
        report.fixed.update(c.where.fixes)
        if entry is None:
            lab = _new_lab(c, key)
            session.add(lab)
            directory.add(key, lab, c)
            touched.append(directory.by_key[key])
            report.imported += 1
            report.machines += len(lab.machines)
            report.approximate += c.where.approximate
            continue
        known = entry.pending or loaded.get(entry.lab_id or -1) or session.get(Fablab, entry.lab_id)
        assert known is not None
        report.merged += 1
        if _merge(known, c, entry, report):
            report.updated += 1
            known.updated_at = utcnow()
    session.flush()
    directory.settle(touched)


def _new_lab(c: Candidate, key: str) -> Fablab:
    lab = Fablab(name=c.name[:200], kind=c.kind, description=c.description, accepting_orders=c.accepting_orders,
                 operator_id=None, source="import", import_key=key, city=c.city[:200], country=c.country[:100],
                 machines=[new_machine(m.spec) for m in c.machines])
    place_lab(lab, Location(c.where.latitude, c.where.longitude, c.where.approximate, c.address[:500]))
    return lab


def _merge(lab: Fablab, c: Candidate, entry: Entry, report: ImportReport) -> bool:
    """Complete an imported lab from another record of it: empty fields, new machines, an exact location."""
    changed = False
    if lab.location_approximate and not c.where.approximate:
        place_lab(lab, Location(c.where.latitude, c.where.longitude, False, lab.address or c.address[:500]))
        entry.latitude, entry.longitude, entry.approximate = lab.latitude, lab.longitude, False
        changed = True
    for name, value in (("description", c.description), ("city", c.city[:200]), ("country", c.country[:100]),
                        ("address", c.address[:500])):
        if value and not getattr(lab, name):
            setattr(lab, name, value)
            changed = True
    keys = {m.key for m in lab.machines}
    processes = {m.process for m in lab.machines}
    for m in c.machines:
        # a machine of a process the lab already has is only added when its record says how big it is
        if m.spec.key not in keys and (not m.assumed_volume or m.spec.process not in processes):
            lab.machines.append(new_machine(m.spec))
            keys.add(m.spec.key)
            processes.add(m.spec.process)
            report.machines += 1
            changed = True
    return changed
