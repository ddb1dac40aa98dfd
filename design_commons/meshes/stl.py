"""STL, binary and ASCII: read triangles in the file's unit, write the canonical binary STL.

STL has no unit field; the caller states one. A binary STL may start with ``solid`` (many
exporters do), so the format is decided by size first: a binary file holds exactly
``84 + 50 * n`` bytes for the ``n`` its header announces.
"""
from __future__ import annotations

import io
import re
import struct
import warnings

import numpy as np

from design_commons.limits import Limits
from design_commons.reports import LimitExceeded, UnreadableFile

#: One binary STL record: normal, three corners, attribute byte count (50 bytes, little-endian).
STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attributes", "<u2")])
_HEADER = 84
_VERTEX = re.compile(rb"vertex\s+(\S+)\s+(\S+)\s+(\S+)")
_NUMBER_LINE = re.compile(rb"\A[\s0-9eE.+\-]*\Z")


def is_binary_stl(data: bytes) -> bool:
    """True when ``data`` is laid out as a binary STL (or cannot be ASCII)."""
    if len(data) < _HEADER:
        return False
    (count,) = struct.unpack_from("<I", data, 80)
    if len(data) == _HEADER + 50 * count:
        return True
    head = data[:1024].lstrip()
    if not head[:5].lower() == b"solid":
        return True
    # Starts with "solid" but the size does not match: ASCII, unless it is plainly binary.
    return b"\0" in data[:512] and b"facet" not in data[:1024].lower()


def read_stl(data: bytes, limits: Limits) -> np.ndarray:
    """Triangles ``(n, 3, 3)`` float32 in the file's unit, from binary or ASCII STL.

    Raises :class:`LimitExceeded` when the triangle count is past ``limits.max_triangles``
    (checked from the header or the keyword count, before any array is made) and
    :class:`UnreadableFile` when the file is truncated or malformed.
    """
    if is_binary_stl(data):
        return _read_binary(data, limits)
    return _read_ascii(data, limits)


def _read_binary(data: bytes, limits: Limits) -> np.ndarray:
    (count,) = struct.unpack_from("<I", data, 80)
    # A header that promises more than the bytes hold is a broken file, not a large one.
    available = (len(data) - _HEADER) // 50
    if available < count:
        raise UnreadableFile(
            f"the header announces {count:,} triangles but the file holds only {available:,} "
            "(it is truncated)"
        )
    if count > limits.max_triangles:
        raise LimitExceeded(
            f"The STL holds {count:,} triangles; the limit is {limits.max_triangles:,}."
        )
    records = np.frombuffer(data, dtype=STL_RECORD, count=count, offset=_HEADER)
    triangles = np.ascontiguousarray(records["vertices"])
    _check_finite(triangles)
    return triangles


def _read_ascii(data: bytes, limits: Limits) -> np.ndarray:
    text = data.lower()
    if not text.lstrip().startswith(b"solid"):
        raise UnreadableFile("it is neither a binary STL nor an ASCII STL starting with 'solid'")
    n_vertices = text.count(b"vertex")
    if n_vertices // 3 > limits.max_triangles:
        raise LimitExceeded(
            f"The STL holds about {n_vertices // 3:,} triangles; the limit is {limits.max_triangles:,}."
        )
    n_facets = text.count(b"endfacet")
    if n_facets == 0:
        if n_vertices:
            raise UnreadableFile("it has vertex lines outside any 'facet ... endfacet' block")
        return np.zeros((0, 3, 3), dtype=np.float32)
    groups = _VERTEX.findall(text)
    if len(groups) != 3 * n_facets:
        raise UnreadableFile(
            f"it has {n_facets:,} facets but {len(groups):,} vertices; every facet needs exactly 3"
        )
    numbers = b" ".join(b" ".join(group) for group in groups)
    if not _NUMBER_LINE.match(numbers):
        raise UnreadableFile("a vertex has a coordinate that is not a number")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values = np.fromstring(numbers, dtype=np.float64, sep=" ")  # type: ignore[call-overload]
        except (ValueError, DeprecationWarning) as exc:
            raise UnreadableFile("a vertex has a coordinate that is not a number") from exc
    if values.size != 9 * n_facets:
        raise UnreadableFile("a vertex has a coordinate that is not a number")
    triangles = values.reshape(n_facets, 3, 3).astype(np.float32)
    _check_finite(triangles)
    return triangles


def _check_finite(triangles: np.ndarray) -> None:
    if not np.isfinite(triangles).all():
        raise UnreadableFile("some coordinates are not finite numbers (NaN or infinity)")


def write_binary_stl(triangles: np.ndarray, normals: np.ndarray, flip: bool = False,
                     header: bytes = b"cosmoloc canonical binary STL, units: mm") -> bytes:
    """Binary STL bytes of ``triangles`` ``(n, 3, 3)`` with unit ``normals`` ``(n, 3)``.

    With ``flip`` the winding of every face is reversed and the normals negated (used to
    hand a lab a closed mesh whose faces pointed inward, the right way out).
    """
    n = len(triangles)
    # The records are written straight into the buffer of a BytesIO sized once, whose
    # getvalue() then hands that buffer over: no second copy of a file-sized array.
    out = io.BytesIO()
    out.seek(_HEADER + 50 * n - 1)
    out.write(b"\0")
    out.seek(0)
    out.write(header[:80].ljust(80, b" ") + struct.pack("<I", n))
    with out.getbuffer() as view:
        records = np.frombuffer(view, dtype=STL_RECORD, offset=_HEADER)
        if flip:
            records["vertices"] = triangles[:, ::-1]
            np.negative(normals, out=records["normal"])
        else:
            records["vertices"] = triangles
            records["normal"] = normals
        records["attributes"] = 0
        del records
    return out.getvalue()
