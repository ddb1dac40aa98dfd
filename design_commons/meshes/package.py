"""The 3MF container: a zip (OPC package) opened with its limits checked before extraction.

An upload is hostile until proven otherwise: the entry count, each entry's declared size,
the total and the compression ratio are checked from the central directory, then each part is
read with a bounded read that stops past the limit whatever the directory claims.
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from defusedxml import ElementTree as SafeElementTree

from design_commons.limits import Limits
from design_commons.reports import LimitExceeded, UnreadableFile

MODEL_RELATIONSHIP = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
DEFAULT_MODEL_PART = "3D/3dmodel.model"
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
#: Entries smaller than this are not held to the ratio limit: short XML parts compress a lot.
_RATIO_FLOOR_BYTES = 64 * 1024


class Package:
    """A checked 3MF zip. ``read(name)`` returns a part's bytes, bounded by the limits."""

    def __init__(self, data: bytes, limits: Limits) -> None:
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError) as exc:
            raise UnreadableFile(f"it is not a valid zip archive ({exc})") from exc
        self._limits = limits
        if len(infos) > limits.max_zip_entries:
            raise LimitExceeded(f"The 3MF archive has {len(infos):,} entries; the limit is {limits.max_zip_entries:,}.")
        total = 0
        for info in infos:
            check_entry_size(info.filename, info.file_size, info.compress_size, limits)
            total += info.file_size
        if total > limits.max_zip_total_bytes:
            raise LimitExceeded(
                f"The 3MF archive unpacks to {total:,} bytes; the limit is {limits.max_zip_total_bytes:,}."
            )
        self._infos = {info.filename.lstrip("/"): info for info in infos}
        self._lower = {name.lower(): name for name in self._infos}
        self._read_total = 0

    def find(self, name: str) -> str | None:
        """The stored entry name for part ``name`` (leading ``/`` and case ignored), or None."""
        key = name.lstrip("/")
        if key in self._infos:
            return key
        return self._lower.get(key.lower())

    def read(self, name: str) -> bytes:
        """Bytes of part ``name``; :class:`UnreadableFile` if absent, :class:`LimitExceeded` if too big."""
        return b"".join(self.chunks(name))

    def chunks(self, name: str, size: int = 1 << 62) -> Iterator[bytes]:
        """Part ``name`` decompressed ``size`` bytes at a time (the last chunk may be shorter).

        Raises like :meth:`read`, at the chunk that passes a limit: a part is never held whole
        unless the caller joins the chunks.
        """
        stored = self.find(name)
        if stored is None:
            raise UnreadableFile(f"the archive has no part {name!r}")
        info = self._infos[stored]
        # Trust neither the declared size nor the ratio: stop as soon as the real bytes pass them.
        bound = min(info.file_size, self._limits.max_zip_entry_bytes)
        size = min(size, bound + 1)
        seen = 0
        try:
            with self._zip.open(info) as stream:
                while True:
                    try:
                        chunk = stream.read(min(size, bound + 1 - seen))  # decompresses at most that
                    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError,
                            OSError) as exc:
                        raise UnreadableFile(f"the part {stored!r} cannot be unpacked ({exc})") from exc
                    if not chunk:
                        return
                    seen += len(chunk)
                    if seen > bound:
                        raise LimitExceeded(
                            f"The 3MF part {stored!r} unpacks to more than its declared {info.file_size:,} "
                            "bytes or past the limit; it is refused."
                        )
                    self._read_total += len(chunk)
                    if self._read_total > self._limits.max_zip_total_bytes:
                        raise LimitExceeded("The 3MF archive unpacks past the total size limit.")
                    yield chunk
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            raise UnreadableFile(f"the part {stored!r} cannot be opened ({exc})") from exc

    def model_part(self) -> str:
        """The name of the root model part: from ``_rels/.rels``, else ``3D/3dmodel.model``."""
        if self.find("_rels/.rels") is not None:
            rels = parse_small_xml(self.read("_rels/.rels"), "_rels/.rels")
            for rel in rels.iter():
                if rel.tag.rsplit("}", 1)[-1] != "Relationship":
                    continue
                if rel.get("Type", "").rstrip("/") == MODEL_RELATIONSHIP and rel.get("Target"):
                    target = posixpath.normpath(rel.get("Target", "").lstrip("/"))
                    if self.find(target) is not None:
                        return target
        if self.find(DEFAULT_MODEL_PART) is not None:
            return DEFAULT_MODEL_PART
        raise UnreadableFile("it has no 3D model part (no 3dmodel relationship, no 3D/3dmodel.model)")


def check_entry_size(name: str, size: int, compressed: int, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` if an entry of ``size`` bytes (``compressed`` packed) is too big."""
    if size > limits.max_zip_entry_bytes:
        raise LimitExceeded(
            f"The 3MF part {name!r} unpacks to {size:,} bytes; the limit is {limits.max_zip_entry_bytes:,}."
        )
    if size > _RATIO_FLOOR_BYTES and size > limits.max_zip_ratio * max(compressed, 1):
        raise LimitExceeded(
            f"The 3MF part {name!r} is compressed {size / max(compressed, 1):,.0f} to 1 "
            f"(limit {limits.max_zip_ratio:,.0f} to 1): it looks like a zip bomb."
        )


def refuse_declarations(xml: bytes, part: str) -> None:
    """Refuse XML with a DOCTYPE or ENTITY: 3MF never needs them and they enable entity bombs."""
    if _DECLARATION.search(xml):
        raise UnreadableFile(
            f"the part {part!r} declares a DOCTYPE or ENTITY; 3MF does not allow them and they "
            "can be used for entity-expansion attacks, so the file is refused"
        )


def parse_small_xml(xml: bytes, part: str) -> Any:
    """Parse a small XML part with defusedxml (no DTD, no entities, no external references)."""
    refuse_declarations(xml, part)
    try:
        return SafeElementTree.fromstring(xml, forbid_dtd=True)
    except Exception as exc:  # defusedxml and expat raise several unrelated types
        raise UnreadableFile(f"the part {part!r} is not well-formed XML ({exc})") from exc
