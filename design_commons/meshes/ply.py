"""Stanford PLY: ASCII, binary little-endian and binary big-endian.

Reads the ``vertex`` element's ``x``, ``y``, ``z`` and the ``face`` element's index list
(``vertex_indices`` or ``vertex_index``); other elements and properties are skipped. Element
counts from the header are checked against the limits (and, for binary files, against the bytes
actually present) before anything is allocated. A file without faces is a point cloud: empty.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from design_commons.limits import Limits
from design_commons.meshes.polygons import check_counts, fan_triangles, index_triangles
from design_commons.reports import UnreadableFile

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_FACE_LISTS = ("vertex_indices", "vertex_index")


@dataclass
class _Element:
    name: str
    count: int
    scalars: list[tuple[str, str]] = field(default_factory=list)  # (name, numpy type code)
    lists: list[tuple[str, str, str]] = field(default_factory=list)  # (name, count type, item type)
    order: list[str] = field(default_factory=list)  # property names in file order


def _type(name: str) -> str:
    if name not in _TYPES:
        raise UnreadableFile(f"unknown property type {name!r}")
    return _TYPES[name]


def _header(data: bytes) -> tuple[str, list[_Element], int]:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise UnreadableFile("it has no PLY header ('ply' ... 'end_header')")
    body = data.index(b"\n", end) + 1 if b"\n" in data[end:] else len(data)
    fmt = ""
    elements: list[_Element] = []
    for raw in data[:end].decode("ascii", "replace").splitlines()[1:]:
        words = raw.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            elements.append(_Element(words[1], int(words[2])))
        elif words[0] == "property" and elements:
            if words[1] == "list" and len(words) == 5:
                elements[-1].lists.append((words[4], _type(words[2]), _type(words[3])))
                elements[-1].order.append(words[4])
            elif len(words) == 3:
                elements[-1].scalars.append((words[2], _type(words[1])))
                elements[-1].order.append(words[2])
            else:
                raise UnreadableFile(f"malformed property line {raw!r}")
        else:
            raise UnreadableFile(f"malformed header line {raw!r}")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise UnreadableFile(f"unknown PLY format {fmt!r}")
    if any(element.count < 0 for element in elements):
        raise UnreadableFile("an element count is negative")
    return fmt, elements, body


def read_ply(data: bytes, limits: Limits) -> np.ndarray:
    """Triangles ``(n, 3, 3)`` float32 in the file's unit from PLY bytes (empty for point clouds)."""
    fmt, elements, body = _header(data)
    counts = {element.name: element.count for element in elements}
    check_counts(counts.get("vertex", 0), counts.get("face", 0), limits, "PLY header")
    if fmt == "ascii":
        vertices, polygons = _read_ascii(data[body:], elements)
        return fan_triangles(vertices, polygons, limits)
    endian = "<" if fmt == "binary_little_endian" else ">"
    vertices, faces = _read_binary(data, body, elements, endian)
    if isinstance(faces, np.ndarray):
        return index_triangles(vertices, faces)
    return fan_triangles(vertices, faces, limits)


def _xyz(element: _Element, table: np.ndarray) -> np.ndarray:
    """``(count, 3)`` float64 from a table with one column per property."""
    names = element.order
    try:
        columns = [names.index(axis) for axis in ("x", "y", "z")]
    except ValueError as exc:
        raise UnreadableFile("the vertex element has no x, y and z properties") from exc
    return table[:, columns].astype(np.float64)


def _read_ascii(text: bytes, elements: list[_Element]) -> tuple[np.ndarray, list[list[int]]]:
    # One element per line; tokens past the declared properties are ignored (some exporters
    # write more than their header says).
    rows = [line.split() for line in text.splitlines()]
    rows = [row for row in rows if row]
    position = 0
    vertices = np.zeros((0, 3))
    polygons: list[list[int]] = []
    try:
        for element in elements:
            block = rows[position:position + element.count]
            if len(block) != element.count:
                raise UnreadableFile(f"the {element.name} data is truncated")
            position += element.count
            if element.name == "vertex":
                width = len(element.order)
                if element.lists:
                    raise UnreadableFile("the vertex element has list properties")
                # An empty table would be 1-D: give it its columns, so `element vertex 0` is empty.
                table = np.array([row[:width] for row in block], dtype=np.float64).reshape(-1, width)
                vertices = _xyz(element, table)
            elif element.name == "face":
                lists = {lst[0] for lst in element.lists}
                for row in block:
                    polygon = _ascii_face(row, element.order, lists)
                    if len(polygon) >= 3:
                        polygons.append(polygon)
                break  # nothing after the faces is needed
    except (IndexError, ValueError) as exc:
        raise UnreadableFile(f"a {element.name} line is malformed or truncated") from exc
    return vertices, polygons


def _ascii_face(row: list[bytes], order: list[str], lists: set[str]) -> list[int]:
    cursor = 0
    for name in order:
        if name in lists:
            size = int(row[cursor])
            if name in _FACE_LISTS:
                items = row[cursor + 1:cursor + 1 + size]
                if len(items) != size:
                    raise IndexError(name)
                return [int(token) for token in items]
            cursor += 1 + size
        else:
            cursor += 1
    raise UnreadableFile("the face element has no vertex_indices list")


def _read_binary(
    data: bytes, position: int, elements: list[_Element], endian: str
) -> tuple[np.ndarray, np.ndarray | list[list[int]]]:
    vertices = np.zeros((0, 3))
    for element in elements:
        if element.name == "face":
            return vertices, _binary_faces(data, position, element, endian)
        if element.lists:
            raise UnreadableFile(f"element {element.name!r} has list properties; only faces may")
        dtype = np.dtype([(name, endian + code) for name, code in element.scalars])
        if position + element.count * dtype.itemsize > len(data):
            raise UnreadableFile(f"the {element.name} data is truncated")
        table = np.frombuffer(data, dtype=dtype, count=element.count, offset=position)
        position += element.count * dtype.itemsize
        if element.name == "vertex":
            try:
                vertices = np.stack([table[axis].astype(np.float64) for axis in ("x", "y", "z")], axis=1)
            except ValueError as exc:
                raise UnreadableFile("the vertex element has no x, y and z properties") from exc
    return vertices, np.zeros((0, 3), dtype=np.int64)


def _binary_faces(data: bytes, position: int, element: _Element, endian: str) -> np.ndarray | list[list[int]]:
    """Faces as ``(k, 3)`` int64 when all are triangles (one frombuffer), else as polygons."""
    layout: list[tuple[str, str] | tuple[str, str, tuple[int]]] = []
    lists = {name: (count, item) for name, count, item in element.lists}
    scalars = dict(element.scalars)
    for name in element.order:
        if name in lists:
            layout.append((name + "_n", endian + lists[name][0]))
            layout.append((name, endian + lists[name][1], (3,)))
        else:
            layout.append((name, endian + scalars[name]))
    dtype = np.dtype(layout)  # type: ignore[arg-type]
    face_list = next((name for name in _FACE_LISTS if name in lists), None)
    if face_list is None:
        raise UnreadableFile("the face element has no vertex_indices list")
    if position + element.count * dtype.itemsize <= len(data):
        table = np.frombuffer(data, dtype=dtype, count=element.count, offset=position)
        if all((table[name + "_n"] == 3).all() for name in lists):
            return table[face_list].astype(np.int64)
    return _binary_faces_slowly(data, position, element, endian, scalars, lists, face_list)


def _binary_faces_slowly(data: bytes, position: int, element: _Element, endian: str,
                         scalars: dict[str, str], lists: dict[str, tuple[str, str]],
                         face_list: str) -> list[list[int]]:
    polygons: list[list[int]] = []
    for _ in range(element.count):
        polygon: list[int] = []
        for name in element.order:
            if name in lists:
                count_type, item_type = (np.dtype(endian + code) for code in lists[name])
                if position + count_type.itemsize > len(data):
                    raise UnreadableFile("the face data is truncated")
                size = int(np.frombuffer(data, count_type, 1, position)[0])
                position += count_type.itemsize
                if position + size * item_type.itemsize > len(data):
                    raise UnreadableFile("the face data is truncated")
                items = np.frombuffer(data, item_type, size, position).astype(np.int64).tolist()
                position += size * item_type.itemsize
                if name == face_list:
                    polygon = items
            else:
                position += np.dtype(scalars[name]).itemsize
        if len(polygon) >= 3:
            polygons.append(polygon)
    return polygons
