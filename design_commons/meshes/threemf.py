"""3MF: the triangles a printer would print, in the model's unit.

Only what the ``<build>`` marks for printing counts: each build item places an object (a mesh,
or components that place other objects) with an affine transform. Objects in other model parts
(production extension ``p:path``) are followed. Counts are checked against the limits before
any vertex is parsed, component cycles and runaway nesting are refused.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from design_commons.limits import Limits
from design_commons.meshes.model_xml import BLOCK_ATTRIBUTE, CHUNK_BYTES, stream_blocks
from design_commons.meshes.package import Package, parse_small_xml
from design_commons.reports import LimitExceeded, UnreadableFile
from design_commons.units import normalise_unit

PRODUCTION_NS = "{http://schemas.microsoft.com/3dmanufacturing/production/2015/06}"
MAX_DEPTH = 32
#: Mesh placements (item x component instances) a build may make; each costs a numpy call.
MAX_INSTANCES = 100_000
_TAKE_ROWS = 1 << 16


@dataclass
class ThreeMF:
    """Triangles ``(n, 3, 3)`` float32 in ``unit`` (the model's own unit, as a short name).

    ``indexed`` is the same surface as ``(points (m, 3) float32, corners (n, 3) int32)`` with
    ``points[corners] == triangles`` (None when the placed meshes hold more than ``3 n`` points).
    """

    triangles: np.ndarray
    unit: str
    objects: int  # distinct mesh objects printed
    build_items: int
    indexed: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class _Object:
    vertices: int | None = None  # block index of the mesh's <vertices>
    triangles: int | None = None
    components: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # part, id, 4x3


@dataclass
class _Model:
    part: str
    unit: str
    objects: dict[str, _Object]
    build: list[tuple[str, str, np.ndarray]] | None
    blocks: list[np.ndarray]  # vertices (m, 3) float64 or vertex indices (k, 3) int32, by block index


_IDENTITY = np.vstack([np.eye(3), np.zeros((1, 3))])


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _transform(text: str | None) -> np.ndarray:
    """A 3MF transform ``m00 m01 m02 m10 ... m32`` as a ``(4, 3)`` matrix: ``p' = [p 1] @ M``."""
    if text is None or not text.strip():
        return _IDENTITY.copy()
    try:
        values = [float(v) for v in text.split()]
    except ValueError as exc:
        raise UnreadableFile(f"the transform {text!r} is not 12 numbers") from exc
    if len(values) != 12 or not np.isfinite(values).all():
        raise UnreadableFile(f"the transform {text!r} is not 12 numbers")
    return np.array(values, dtype=np.float64).reshape(4, 3)


def _compose(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """The transform applying ``inner`` then ``outer`` (both ``(4, 3)``)."""
    linear = inner[:3] @ outer[:3]
    offset = inner[3] @ outer[:3] + outer[3]
    return np.vstack([linear, offset])


def _load_model(package: Package, part: str, limits: Limits, chunk_bytes: int) -> _Model:
    skeleton, blocks = stream_blocks(package.chunks(part, chunk_bytes), part, limits)
    root = parse_small_xml(skeleton, part)
    if _local(root.tag) != "model":
        raise UnreadableFile(f"the part {part!r} is not a 3MF model (root element <{_local(root.tag)}>)")
    try:
        unit = normalise_unit(root.get("unit", "millimeter"))
    except ValueError as exc:
        raise UnreadableFile(f"the model unit {root.get('unit')!r} is not a 3MF unit") from exc
    objects: dict[str, _Object] = {}
    build: list[tuple[str, str, np.ndarray]] | None = None
    for section in root:
        if _local(section.tag) == "resources":
            for element in section:
                if _local(element.tag) == "object":
                    objects[element.get("id", "")] = _read_object(element, part)
        elif _local(section.tag) == "build":
            build = [
                (_part_path(item, part), item.get("objectid", ""), _transform(item.get("transform")))
                for item in section
                if _local(item.tag) == "item"
            ]
    return _Model(part, unit, objects, build, blocks)


def _part_path(element: Any, default: str) -> str:
    path = element.get(PRODUCTION_NS + "path")
    return path.lstrip("/") if path else default


def _read_object(element: Any, part: str) -> _Object:
    found = _Object()
    for child in element:
        if _local(child.tag) == "mesh":
            for data in child:
                block = data.get(BLOCK_ATTRIBUTE)
                if _local(data.tag) == "vertices" and block is not None:
                    found.vertices = int(block)
                elif _local(data.tag) == "triangles" and block is not None:
                    found.triangles = int(block)
        elif _local(child.tag) == "components":
            for component in child:
                if _local(component.tag) == "component":
                    found.components.append((
                        _part_path(component, part),
                        component.get("objectid", ""),
                        _transform(component.get("transform")),
                    ))
    return found


class _Assembler:
    """Walks build items and components, bounded, over lazily loaded model parts."""

    def __init__(self, package: Package, limits: Limits, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.package = package
        self.limits = limits
        self.chunk_bytes = chunk_bytes
        self.models: dict[str, _Model] = {}
        self.sizes: dict[tuple[str, str], tuple[int, int]] = {}

    def model(self, part: str) -> _Model:
        if part not in self.models:
            if len(self.models) >= 64:
                raise UnreadableFile("it references too many model parts")
            self.models[part] = _load_model(self.package, part, self.limits, self.chunk_bytes)
        return self.models[part]

    def lookup(self, part: str, object_id: str) -> _Object:
        found = self.model(part).objects.get(object_id)
        if found is None:
            raise UnreadableFile(f"an item or component points at object {object_id!r}, which does not exist")
        return found

    def size(self, part: str, object_id: str, stack: tuple[tuple[str, str], ...] = ()) -> tuple[int, int]:
        """``(triangles, mesh instances)`` that printing the object makes; refuses cycles."""
        key = (part, object_id)
        if key in stack:
            raise UnreadableFile(f"object {object_id!r} contains itself through its components")
        if len(stack) > MAX_DEPTH:
            raise UnreadableFile(f"components are nested more than {MAX_DEPTH} levels deep")
        if key not in self.sizes:
            obj = self.lookup(part, object_id)
            triangles, instances = 0, 0
            if obj.triangles is not None and obj.vertices is not None:
                triangles, instances = len(self.model(part).blocks[obj.triangles]), 1
            for child_part, child_id, _ in obj.components:
                child_triangles, child_instances = self.size(child_part, child_id, (*stack, key))
                triangles += child_triangles
                instances += child_instances
            self.sizes[key] = (min(triangles, 1 << 62), min(instances, 1 << 62))
        return self.sizes[key]

    def instances(self, part: str, object_id: str, transform: np.ndarray) -> Iterator[tuple[str, str, np.ndarray]]:
        """Yield ``(part, object_id, transform)`` for every mesh the object places."""
        obj = self.lookup(part, object_id)
        if obj.triangles is not None and obj.vertices is not None:
            yield part, object_id, transform
        for child_part, child_id, child_transform in obj.components:
            yield from self.instances(child_part, child_id, _compose(child_transform, transform))


def read_3mf(data: bytes, limits: Limits, chunk_bytes: int = CHUNK_BYTES) -> ThreeMF:
    """Read the printable triangles of a 3MF file (zip bytes).

    Model parts are decompressed and parsed ``chunk_bytes`` at a time. Raises
    :class:`LimitExceeded` for archives or meshes past ``limits`` (checked before extraction,
    while parsing and before placing the meshes) and :class:`UnreadableFile` for anything that
    is not a valid 3MF with something to print.
    """
    package = Package(data, limits)
    root_part = package.model_part()
    assembler = _Assembler(package, limits, chunk_bytes)
    root = assembler.model(root_part)
    if root.build is None:
        raise UnreadableFile("it has no <build> element, so nothing is marked for printing")
    total_triangles = 0
    total_instances = 0
    for part, object_id, _ in root.build:
        triangles, instances = assembler.size(part, object_id)
        total_triangles += triangles
        total_instances += instances
    if total_triangles > limits.max_triangles:
        raise LimitExceeded(
            f"The build places {total_triangles:,} triangles; the limit is {limits.max_triangles:,}."
        )
    if total_instances > MAX_INSTANCES:
        raise LimitExceeded(f"The build places {total_instances:,} meshes; the limit is {MAX_INSTANCES:,}.")
    meshes: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    placements = []
    for part, object_id, item_transform in root.build:
        for mesh_part, mesh_id, transform in assembler.instances(part, object_id, item_transform):
            key = (mesh_part, mesh_id)
            if key not in meshes:
                meshes[key] = _read_mesh(assembler.model(mesh_part), assembler.lookup(mesh_part, mesh_id), mesh_id)
            placements.append((key, transform))
    n_points = sum(len(meshes[key][0]) for key, _ in placements)
    indexed = n_points <= 3 * total_triangles  # else unused vertices would cost more than corners
    out = np.empty((total_triangles, 3, 3), dtype=np.float32)
    points = np.empty((n_points if indexed else 0, 3), dtype=np.float32)
    corners = np.empty((total_triangles if indexed else 0, 3), dtype=np.int32)
    filled = 0
    placed_points = 0
    for key, transform in placements:
        vertices, faces = meshes[key]
        placed = vertices if np.array_equal(transform, _IDENTITY) else vertices @ transform[:3] + transform[3]
        placed32 = placed.astype(np.float32)
        del placed
        if np.linalg.det(transform[:3]) < 0:
            faces = faces[:, ::-1]  # a mirroring transform turns the faces inside out
        end = filled + len(faces)
        for begin in range(0, len(faces), _TAKE_ROWS):  # np.take copies its indices: in slices
            rows = faces[begin:begin + _TAKE_ROWS]
            np.take(placed32, rows, axis=0, out=out[filled + begin:filled + begin + len(rows)], mode="clip")
        if indexed:
            points[placed_points:placed_points + len(placed32)] = placed32
            np.add(faces, placed_points, out=corners[filled:end])
            placed_points += len(placed32)
        filled = end
    return ThreeMF(out[:filled], root.unit, len(meshes), len(root.build), (points, corners) if indexed else None)


def _read_mesh(model: _Model, obj: _Object, object_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(m, 3)`` float64 and faces ``(k, 3)`` int32 of a mesh object, checked."""
    assert obj.vertices is not None and obj.triangles is not None
    vertices = model.blocks[obj.vertices]
    faces = model.blocks[obj.triangles]
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise UnreadableFile(
            f"object {object_id} has a triangle pointing at a vertex it does not have "
            f"(indices must be 0 to {len(vertices) - 1})"
        )
    return vertices, faces
