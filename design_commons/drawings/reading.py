"""Read DXF bytes with ezdxf: a normal read first, ezdxf's recovery mode when the structure is broken.

This follows ezdxf's own advice (``ezdxf.readfile`` and ``ezdxf.recover``): detect binary
DXF by its sentinel, detect the text encoding from the header, read with
``errors="surrogateescape"``, and fall back to :func:`ezdxf.recover.read` on a
:class:`~ezdxf.lldxf.const.DXFStructureError`. Only bytes that are not DXF at all raise
:class:`~design_commons.reports.UnreadableFile`.
"""
from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field

import ezdxf
from ezdxf import recover
from ezdxf.document import Drawing
from ezdxf.lldxf.tagger import binary_tags_loader
from ezdxf.lldxf.validator import dxf_info, is_dxf_stream

from design_commons.limits import Limits
from design_commons.reports import LimitExceeded, UnreadableFile

BINARY_SENTINEL = b"AutoCAD Binary DXF"

#: AutoCAD release names of the DXF version codes ($ACADVER).
RELEASES: dict[str, str] = {
    "AC1.50": "R2.05",
    "AC2.10": "R2.10",
    "AC1001": "R2.2",
    "AC1002": "R2.5",
    "AC1003": "R2.6",
    "AC1004": "R9",
    "AC1006": "R10",
    "AC1009": "R12",
    "AC1012": "R13",
    "AC1014": "R14",
    "AC1015": "R2000",
    "AC1018": "R2004",
    "AC1021": "R2007",
    "AC1024": "R2010",
    "AC1027": "R2013",
    "AC1032": "R2018",
}

# A (0, NAME) tag pair: every entity, table entry and object starts with one. Group-code
# lines hold digits only, so a match is never a value "0" followed by a group code.
_RECORD = re.compile(rb"^[ \t]*0[ \t]*\r?\n[ \t]*[A-Za-z_$][A-Za-z0-9_$]*[ \t]*\r?$", re.MULTILINE)
# Entities are only part of the records (tables and objects are the rest); past this many
# records per allowed entity the file is refused before ezdxf builds it in memory.
_RECORDS_PER_ENTITY = 4


@dataclass
class LoadedDrawing:
    """A DXF document as ezdxf read it, and how it had to be read."""

    doc: Drawing
    version: str  # $ACADVER as stored in the file, e.g. "AC1015" (ezdxf upgrades < R12 to AC1009)
    release: str  # "R2000", or "" when unknown
    binary: bool
    recovered: bool  # readable only through ezdxf.recover
    structure_error: str = ""  # why the normal read failed
    fixes: Counter[str] = field(default_factory=Counter)  # auditor fix messages by AuditError name
    errors: Counter[str] = field(default_factory=Counter)  # problems the auditor could not fix
    examples: dict[str, str] = field(default_factory=dict)  # AuditError name -> its first message
    audited: bool = False

    def audit(self) -> None:
        """Run ezdxf's auditor on a normally read document (recovery already ran it).

        Call it after the geometry was taken: the auditor deletes entities it cannot
        bookkeep (e.g. a LINE whose handle duplicates another's), which are still drawn.
        """
        if self.audited:
            return
        self.audited = True
        try:
            auditor = self.doc.audit()
        except Exception as exc:  # the auditor itself can trip over hostile data
            self.errors["AUDIT_FAILED"] += 1
            self.examples.setdefault("AUDIT_FAILED", f"the auditor stopped: {exc}")
            return
        self._take(auditor)

    def _take(self, auditor: ezdxf.audit.Auditor) -> None:
        for counts, entries in ((self.fixes, auditor.fixes), (self.errors, auditor.errors)):
            for entry in entries:
                name = _code_name(entry.code)
                counts[name] += 1
                self.examples.setdefault(name, str(entry.message))


def _code_name(code: int) -> str:
    try:
        return ezdxf.audit.AuditError(code).name
    except ValueError:
        return f"CODE_{code}"


def check_record_count(data: bytes, limits: Limits) -> None:
    """Refuse an ASCII DXF with far too many records before ezdxf parses it.

    Raises LimitExceeded. Binary DXF is not scanned (it is compact and fast to parse); the
    exact entity count, blocks expanded, is checked once the document is read.
    """
    if data.startswith(BINARY_SENTINEL):
        return
    bound = limits.max_entities * _RECORDS_PER_ENTITY
    if len(data) < bound * 4:  # a record needs at least 4 bytes: too small to be too many
        return
    records = sum(1 for _ in _RECORD.finditer(data))
    if records > bound:
        raise LimitExceeded(
            f"The drawing holds about {records:,} DXF records; at most {limits.max_entities:,} "
            "entities are accepted."
        )


def load_drawing(data: bytes) -> LoadedDrawing:
    """Read DXF bytes (ASCII or binary, R12 to R2018, also older and damaged files).

    Raises UnreadableFile when the bytes are not DXF or even recovery cannot read them.
    """
    if not data.strip():
        raise UnreadableFile("the file is empty")
    binary = data.startswith(BINARY_SENTINEL)
    if not binary and not _looks_like_dxf(data):
        raise UnreadableFile("no DXF section was found (a DXF file starts with '0' / 'SECTION')")
    try:
        doc = _read_binary(data) if binary else _read_ascii(data)
    except Exception as exc:  # noqa: BLE001 - any failure of the strict reader sends us to recovery
        return _recover(data, binary, str(exc).removeprefix("DXFStructureError: ") or type(exc).__name__)
    return _loaded(doc, binary, recovered=False)


def _looks_like_dxf(data: bytes) -> bool:
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="ignore")
    try:
        return bool(is_dxf_stream(stream))
    except Exception:  # noqa: BLE001 - the sniffer failing means "not DXF"
        return False


def _read_binary(data: bytes) -> Drawing:
    return Drawing.load(binary_tags_loader(data, errors="surrogateescape"))


def _read_ascii(data: bytes) -> Drawing:
    # Universal newlines: DXF from Windows uses CRLF, and ezdxf reads lines as given.
    sniff = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="ignore")
    encoding = dxf_info(sniff).encoding
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="surrogateescape")
    return ezdxf.read(stream)


def _recover(data: bytes, binary: bool, reason: str) -> LoadedDrawing:
    try:
        doc, auditor = recover.read(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - recovery is the last resort
        raise UnreadableFile(f"{reason}; recovery failed too: {exc}") from exc
    loaded = _loaded(doc, binary, recovered=True, reason=reason)
    loaded._take(auditor)
    loaded.audited = True
    return loaded


def _loaded(doc: Drawing, binary: bool, recovered: bool, reason: str = "") -> LoadedDrawing:
    version = str(getattr(doc, "loaded_dxfversion", None) or doc.dxfversion)
    return LoadedDrawing(
        doc=doc,
        version=version,
        release=RELEASES.get(version, ""),
        binary=binary,
        recovered=recovered,
        structure_error=reason,
    )


def header_declares(data: bytes, name: str) -> bool:
    """True when the file's own HEADER holds the variable ``name`` (e.g. ``"$INSUNITS"``).

    ezdxf fills a missing HEADER with its defaults ($INSUNITS = 6, metres), so the parsed
    header alone cannot tell a declared unit from a default one.
    """
    end = data.find(b"ENDSEC")  # the HEADER, when present, is the first section
    head = data[: end if end > 0 else len(data)]
    return b"HEADER" in head and name.encode("ascii") in head
