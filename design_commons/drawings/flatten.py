"""Flatten model-space entities into 2D cut paths and engraving texts, in millimetres.

Curves become polylines with a chord error of at most ``max(0.01 mm, size * 1e-5)``; 3D
entities are projected onto the XY plane of the world coordinate system; INSERTs are expanded
with ezdxf's ``virtual_entities`` (transforms applied), after :mod:`.blocks` bounded them.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from ezdxf import bbox
from ezdxf.entities import DXFEntity, Insert
from ezdxf.layouts import BaseLayout
from ezdxf.math import OCS, Bezier3P, Bezier4P
from ezdxf.path import Command, Path, make_path

from design_commons.reports import LimitExceeded

CUT_TYPES = frozenset({"LINE", "ARC", "CIRCLE", "ELLIPSE", "LWPOLYLINE", "POLYLINE", "SPLINE"})
TEXT_TYPES = frozenset({"TEXT", "MTEXT", "ATTRIB"})
SOLID_TYPES = frozenset({"3DFACE", "MESH", "3DSOLID", "SURFACE", "BODY", "REGION", "POLYFACE", "POLYMESH"})

#: Chord error of flattened curves, in mm, and relative to a curve's size.
CHORD_MM = 0.01
CHORD_REL = 1e-5
#: Most polyline vertices built from one drawing; past it the file is refused.
MAX_VERTICES = 4_000_000
_Z_TOL = 1e-9


@dataclass
class TextItem:
    """One TEXT, MTEXT or ATTRIB, in mm in world XY."""

    kind: str  # "TEXT" or "MTEXT" (an ATTRIB is kept as TEXT)
    text: str  # content as stored (MTEXT keeps its inline formatting codes)
    insert: tuple[float, float]
    height: float
    rotation: float  # degrees
    width: float = 0.0  # MTEXT column width, 0 = none
    attachment: int = 1  # MTEXT attachment point
    halign: int = 0  # TEXT alignment
    valign: int = 0
    align_point: tuple[float, float] | None = None
    extents: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax


@dataclass
class Shapes:
    """Everything found in model space. Arrays are float64, shape ``(k, 2)``, in mm."""

    paths: list[np.ndarray] = field(default_factory=list)  # open polylines, to be chained
    loops: list[np.ndarray] = field(default_factory=list)  # closed by themselves, last point != first
    circles: list[tuple[float, float, float]] = field(default_factory=list)  # cx, cy, r in mm
    texts: list[TextItem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # top-level model space, by DXF type
    expanded: int = 0  # entities visited with INSERTs expanded
    degenerate: Counter[str] = field(default_factory=Counter)
    solids: Counter[str] = field(default_factory=Counter)  # 3D content, left out
    ignored: Counter[str] = field(default_factory=Counter)  # not cut: POINT, DIMENSION, HATCH ...
    unreadable: Counter[str] = field(default_factory=Counter)
    projected: int = 0  # 3D polylines and curves off the XY plane, projected
    vertices: int = 0

    released: bool = False  # paths and loops were handed on (they held some)

    @property
    def has_cut(self) -> bool:
        return bool(self.paths or self.loops or self.circles or self.released)

    def release(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Hand on the paths and loops, and let go of them (``has_cut`` stays as it was)."""
        paths, loops = self.paths, self.loops
        self.released = bool(paths or loops or self.released)
        self.paths, self.loops = [], []
        return paths, loops


def flatten_modelspace(msp: BaseLayout, mm_per_unit: float, max_depth: int) -> Shapes:
    """Walk model space (INSERTs expanded to ``max_depth``) and flatten it to mm.

    Raises LimitExceeded when more than MAX_VERTICES polyline vertices would be built.
    """
    walker = Walker(mm_per_unit, max_depth)
    for entity in msp:
        walker.shapes.counts[entity.dxftype()] += 1
    walker.walk(msp, 0)
    return walker.shapes


class Walker:
    """Flattens entities (or their values, for a reader of its own) into :class:`Shapes`."""

    def __init__(self, scale: float, max_depth: int) -> None:
        self.scale = scale
        self.max_depth = max_depth
        self.shapes = Shapes()

    def walk(self, entities: Iterable[DXFEntity], depth: int) -> None:
        for entity in entities:
            kind = entity.dxftype()
            self.shapes.expanded += 1
            try:
                self._one(entity, kind, depth)
            except LimitExceeded:
                raise
            except Exception:  # noqa: BLE001 - one broken entity must not sink the drawing
                self.shapes.unreadable[kind] += 1

    def one(self, entity: DXFEntity, kind: str) -> None:
        """Flatten one top-level entity; its errors are the caller's."""
        self._one(entity, kind, 0)

    def _one(self, entity: DXFEntity, kind: str, depth: int) -> None:
        if kind == "INSERT":
            self._insert(entity, depth)
        elif kind in TEXT_TYPES:
            self._text(entity, kind)
        elif kind == "LINE":
            self._line(entity)
        elif kind == "CIRCLE":
            self._circle(entity)
        elif kind == "POLYLINE" and (entity.is_polygon_mesh or entity.is_poly_face_mesh):  # type: ignore[attr-defined]
            self.shapes.solids["POLYFACE" if entity.is_poly_face_mesh else "POLYMESH"] += 1  # type: ignore[attr-defined]
        elif kind in CUT_TYPES:
            self._curve(entity, kind)
        elif kind in SOLID_TYPES:
            self.shapes.solids[kind] += 1
        else:
            self.shapes.ignored[kind] += 1

    def _insert(self, insert: DXFEntity, depth: int) -> None:
        if depth >= self.max_depth:
            raise LimitExceeded(f"Blocks are nested more than {self.max_depth} levels deep.")
        if not isinstance(insert, Insert):
            raise TypeError(f"not an INSERT: {insert.dxftype()}")
        copies = list(insert.multi_insert()) if insert.mcount > 1 else [insert]
        for copy in copies:
            self.walk(copy.virtual_entities(), depth + 1)
        for attrib in insert.attribs:
            self.shapes.expanded += 1
            self._text(attrib, "ATTRIB")

    def _budget(self, count: int) -> None:
        self.shapes.vertices += count
        if self.shapes.vertices > MAX_VERTICES:
            raise LimitExceeded(
                f"The drawing flattens to more than {MAX_VERTICES:,} points; simplify its curves."
            )

    def _line(self, line: DXFEntity) -> None:
        start, end = line.dxf.start, line.dxf.end
        self.line(start.x, start.y, start.z, end.x, end.y, end.z)

    def line(self, x0: float, y0: float, z0: float, x1: float, y1: float, z1: float) -> None:
        """A LINE from (x0, y0, z0) to (x1, y1, z1) in drawing units."""
        if abs(z0) > _Z_TOL or abs(z1) > _Z_TOL:
            self.shapes.projected += 1
        scale = self.scale
        coords = (x0 * scale, y0 * scale, x1 * scale, y1 * scale)
        # plain floats: this runs once per LINE, often hundreds of thousands of times
        if not all(map(math.isfinite, coords)) or (coords[0] == coords[2] and coords[1] == coords[3]):
            self.shapes.degenerate["LINE"] += 1
            return
        self._budget(2)
        self.shapes.paths.append(np.array(coords, dtype=float).reshape(2, 2))

    def _circle(self, circle: DXFEntity) -> None:
        radius = float(circle.dxf.radius)
        if not math.isfinite(radius) or radius <= 0:
            self.shapes.degenerate["CIRCLE"] += 1
            return
        extrusion = circle.dxf.extrusion.normalize()
        if abs(extrusion.x) > 1e-9 or abs(extrusion.y) > 1e-9:
            self._curve(circle, "CIRCLE")  # tilted: its projection is an ellipse
            return
        center = OCS(extrusion).to_wcs(circle.dxf.center)
        self.flat_circle(center.x, center.y, center.z, radius)

    def flat_circle(self, x: float, y: float, z: float, radius: float) -> None:
        """A CIRCLE in the XY plane (WCS centre, radius > 0 in drawing units)."""
        if abs(z) > _Z_TOL:
            self.shapes.projected += 1
        self._budget(1)
        self.shapes.circles.append((x * self.scale, y * self.scale, radius * self.scale))

    def _curve(self, entity: DXFEntity, kind: str) -> None:
        if kind == "POLYLINE" and entity.is_3d_polyline:  # type: ignore[attr-defined]
            self.shapes.projected += 1
        if _is_degenerate(entity, kind):
            self.shapes.degenerate[kind] += 1
            return
        self.path(kind, make_path(entity))

    def path(self, kind: str, path: Path) -> None:
        """An entity of type ``kind`` made into an ezdxf path (drawing units), not degenerate by its attributes."""
        if len(path) == 0:
            self.shapes.degenerate[kind] += 1
            return
        flat = self._flatten(path)
        if flat is None:
            self.shapes.degenerate[kind] += 1
            return
        points, largest = flat
        # np.allclose(first, last, rtol=0, atol) in plain floats: numpy costs more per call
        # than the comparison itself, and this runs once per curve.
        atol = 1e-9 * max(1.0, largest)
        (x0, y0), (x1, y1) = points[0], points[-1]
        if len(points) > 2 and abs(x0 - x1) <= atol and abs(y0 - y1) <= atol:
            self.shapes.loops.append(np.array(points[:-1], dtype=float))
        else:
            self.shapes.paths.append(np.array(points, dtype=float))

    def _flatten(self, path: Path) -> tuple[list[tuple[float, float]], float] | None:
        """The path's points in mm, repeated vertices dropped, and the largest absolute coordinate.

        Plain floats throughout: a curve has a few dozen points, and numpy's per-call overhead
        cost more than the arithmetic.
        """
        control = path.control_vertices()
        xs = [v.x for v in control]
        ys = [v.y for v in control]
        zs = [v.z for v in control]
        if not all(map(math.isfinite, (*xs, *ys, *zs))):
            return None
        if any(abs(z) > _Z_TOL for z in zs):
            self.shapes.projected += 1
        scale = self.scale
        size_mm = max(max(xs) - min(xs), max(ys) - min(ys)) * scale
        if size_mm <= 0:
            return None
        distance = max(CHORD_MM, size_mm * CHORD_REL) / scale
        points: list[tuple[float, float]] = []
        largest = 0.0
        px = py = None
        for vertex in flattening(path, control, distance):
            x, y = vertex.x, vertex.y
            if x != px or y != py:  # drop a vertex repeating the one before
                px, py = x, y
                x, y = x * scale, y * scale
                points.append((x, y))
                largest = max(largest, abs(x), abs(y))
        if len(points) < 2:
            return None
        self._budget(len(points))
        return points, largest

    def _text(self, entity: DXFEntity, kind: str) -> None:
        item = _text_item(entity, kind, self.scale)
        if item is not None:
            self.shapes.texts.append(item)


_LINE_TO, _MOVE_TO, _CURVE3_TO, _CURVE4_TO = (
    Command.LINE_TO, Command.MOVE_TO, Command.CURVE3_TO, Command.CURVE4_TO)
#: Least segments of each Bezier curve flattened (then halved where the chord strays past the distance).
_SEGMENTS = 8


def flattening(path: Path, control: list, distance: float) -> list:
    """The vertices of ``path.flattening(distance, segments=8)``, the same to the last bit.

    ``control`` is ``path.control_vertices()``. Each Bezier curve is flattened by ezdxf's own
    (compiled) Bezier classes at once, without the path's vertex-by-vertex generator, which
    cost as much again as the flattening itself.
    """
    start = control[0]
    points = [start]
    i = 1
    for code in path.command_codes():
        if code == _CURVE4_TO:
            ctrl1, ctrl2, end = control[i:i + 3]
            i += 3
            curve = Bezier4P((start, ctrl1, ctrl2, end)).flattening(distance, _SEGMENTS)
        elif code == _CURVE3_TO:
            ctrl, end = control[i:i + 2]
            i += 2
            curve = Bezier3P((start, ctrl, end)).flattening(distance, _SEGMENTS)
        elif code == _LINE_TO or code == _MOVE_TO:
            end = control[i]
            i += 1
            points.append(end)
            start = end
            continue
        else:
            raise ValueError(f"unknown path command {code}")
        points.extend(itertools.islice(curve, 1, None))  # its first vertex is the last one's end
        start = end
    return points


def _is_degenerate(entity: DXFEntity, kind: str) -> bool:
    dxf = entity.dxf
    if kind == "ARC":
        return not float(dxf.radius) > 0
    if kind == "ELLIPSE":
        return not (dxf.major_axis.magnitude > 0 and float(dxf.ratio) > 0)
    if kind == "LWPOLYLINE":
        return len(entity) < 2  # type: ignore[arg-type]
    if kind == "SPLINE":
        return entity.control_point_count() < 2 and len(entity.fit_points) < 2  # type: ignore[attr-defined]
    return False


def _text_item(entity: DXFEntity, kind: str, scale: float) -> TextItem | None:
    dxf = entity.dxf
    extents = None
    box = bbox.extents([entity], fast=True)
    if box.has_data:
        extents = (box.extmin.x * scale, box.extmin.y * scale, box.extmax.x * scale, box.extmax.y * scale)
    if kind == "MTEXT":
        insert = dxf.insert
        return TextItem(
            kind="MTEXT",
            text=str(entity.text),  # type: ignore[attr-defined]
            insert=(insert.x * scale, insert.y * scale),
            height=float(dxf.get("char_height", 1.0)) * scale,
            rotation=float(entity.get_rotation()),  # type: ignore[attr-defined]
            width=float(dxf.get("width", 0.0) or 0.0) * scale,
            attachment=int(dxf.get("attachment_point", 1)),
            extents=extents,
        )
    ocs = OCS(dxf.get("extrusion", (0.0, 0.0, 1.0)))
    insert = ocs.to_wcs(dxf.insert)
    align_point = None
    if dxf.hasattr("align_point"):
        point = ocs.to_wcs(dxf.align_point)
        align_point = (point.x * scale, point.y * scale)
    text = str(dxf.get("text", ""))
    if not text.strip():
        return None
    return TextItem(
        kind="TEXT",
        text=text,
        insert=(insert.x * scale, insert.y * scale),
        height=float(dxf.get("height", 1.0)) * scale,
        rotation=float(dxf.get("rotation", 0.0)),
        halign=int(dxf.get("halign", 0)),
        valign=int(dxf.get("valign", 0)),
        align_point=align_point,
        extents=extents,
    )
