"""One pass over an ASCII DXF's tags for the model space the hub cuts, without an ezdxf document of it.

ezdxf builds an object for every entity (tags compiled, grouped into subclasses, bound to a
database), which costs as much as the whole validation may. Here ezdxf's low-level tagger
(its line-by-line rules, as :func:`ezdxf.lldxf.tagger.ascii_tags_loader` applies them, on lines
split a chunk at a time) reads the file once: the model-space entities of the ENTITIES section are
taken aside and flattened as they stream past, and ezdxf loads everything else (header, tables,
blocks, objects: small) into a document as usual, which is then audited. LINE, CIRCLE, ARC,
LWPOLYLINE and SPLINE are read from their group codes and flattened by the same ezdxf path functions as
the document path (so the geometry is the same, number for number); TEXT, MTEXT, POINT and
3DFACE are loaded one by one with ezdxf's own entity loader and auditor.

Whatever this reader does not understand ends it: an INSERT, any other entity type, paper-space
entities in ENTITIES, extended data, reactors, an attribute outside the few listed, a value the
auditor would mend, a handle seen twice, a binary file, a structure error. Then
:func:`read_fast` answers None and the caller takes the document path (with ezdxf's recovery for
broken files), so every report is the one that path gives.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ezdxf.audit import Auditor
from ezdxf.document import Drawing
from ezdxf.entities import factory
from ezdxf.lldxf import validator
from ezdxf.lldxf.extendedtags import ExtendedTags
from ezdxf.lldxf.tagger import tag_compiler
from ezdxf.lldxf.types import DXFTag
from ezdxf.math import (
    OCS,
    BSpline,
    ConstructionEllipse,
    Vec3,
    fit_points_to_cad_cv,
    round_knots,
)
from ezdxf.path import Path
from ezdxf.path.tools import add_2d_polyline, add_ellipse, add_spline

from design_commons.drawings.blocks import MAX_BLOCK_DEPTH
from design_commons.drawings.drawing_units import DrawingUnits, resolve_units, units_from
from design_commons.drawings.entity_codes import OWN_KINDS, Entity, Unsupported, parse_entity
from design_commons.drawings.flatten import Shapes, Walker
from design_commons.drawings.reading import BINARY_SENTINEL, LoadedDrawing, _loaded, header_declares
from design_commons.limits import Limits

_Z_AXIS = Vec3(0.0, 0.0, 1.0)
_CHUNK = 1 << 16  # characters read at a time
_FLAT = OCS(_Z_AXIS)



@dataclass
class ReadDrawing:
    """What the document path would derive, read in one pass."""

    loaded: LoadedDrawing  # its document holds everything but the model-space entities
    shapes: Shapes
    expanded: int  # model-space entities (there are no INSERTs to expand)
    units: DrawingUnits


def read_fast(data: bytes, stated_unit: str, limits: Limits) -> ReadDrawing | None:
    """Read an ASCII DXF in one pass, or None when the document path must read it."""
    if data.startswith(BINARY_SENTINEL):
        return None
    try:
        return _OnePass(data, stated_unit, limits).read()
    except Exception:  # noqa: BLE001 - anything unexpected is the document path's to judge
        return None


class _OnePass:
    """Flattens each model-space entity as it streams past; what needs the document waits for it.

    The HEADER comes first in a DXF, so the unit is known (from the header variables seen on
    the way) before the first entity; it is checked against ezdxf's reading of the header at
    the end. Of each entity only what the end checks need is kept: its owner, layer and
    linetype among the few distinct ones, its handle in a set; LOADED_KINDS wait for the
    document.
    """

    def __init__(self, data: bytes, stated_unit: str, limits: Limits) -> None:
        self.data = data
        self.stated_unit = stated_unit
        self.limits = limits
        self.header: dict[str, str] = {}  # the header variables units need, as written
        self.walker: Walker | None = None
        self.units: DrawingUnits | None = None
        self.count = 0
        self.handles: set[int] = set()
        self.owners: set[str | None] = set()
        self.layers: set[str] = set()
        self.linetypes: set[str] = set()
        self.deferred: list[Entity] = []  # LOADED_KINDS, in file order

    def read(self) -> ReadDrawing | None:
        from ezdxf.lldxf.validator import dxf_info

        data = self.data
        sniff = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="ignore")
        encoding = dxf_info(sniff).encoding
        stream = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="surrogateescape")
        doc = Drawing.load(_divert(stream, self))
        walker = self.walker or self.begin()
        units = resolve_units(doc, data, self.stated_unit)
        if units != self.units:
            raise Unsupported("the header read on the way differs from ezdxf's")
        self._check_links(doc)
        loaded = _loaded(doc, binary=False, recovered=False)
        loaded.audit()
        if loaded.fixes or loaded.errors:
            return None
        auditor = Auditor(doc)
        for entity in self.deferred:
            _loaded_entity(walker, doc, auditor, entity)
        return ReadDrawing(loaded, walker.shapes, self.count, units)

    def header_variable(self, name: str, value: str) -> None:
        if name in _HEADER_NAMES:
            if name in self.header:
                raise Unsupported(f"{name} twice")
            self.header[name] = value

    def begin(self) -> Walker:
        """The ENTITIES section starts: the header is read."""
        if self.walker is not None:
            raise Unsupported("a second ENTITIES section")
        insunits, measurement = (self._header_int(name) for name in _HEADER_NAMES)
        self.units = units_from(insunits, measurement, self.stated_unit)
        self.walker = Walker(self.units.mm_per_unit, MAX_BLOCK_DEPTH)
        return self.walker

    def _header_int(self, name: str) -> int | None:
        if not header_declares(self.data, name):
            return None
        value = self.header.get(name)
        return None if value is None else int(value)

    def take(self, tags: list[tuple[int, str]]) -> None:
        """One entity of the ENTITIES section, as (code, value) pairs."""
        self.count += 1
        if self.count > self.limits.max_entities:
            raise Unsupported("too many entities: the document path says how many")
        entity = parse_entity(tags)
        if entity.handle is not None:
            handle = int(entity.handle, 16)
            if handle in self.handles:
                raise Unsupported("a handle used twice")
            self.handles.add(handle)
        self.owners.add(entity.owner)
        self.layers.add(entity.layer)
        if entity.linetype is not None:
            self.linetypes.add(entity.linetype)
        walker = self.walker
        assert walker is not None
        shapes = walker.shapes
        shapes.counts[entity.kind] += 1
        shapes.expanded += 1
        if entity.kind in OWN_KINDS:
            _FLATTEN[entity.kind](walker, entity.values)
        else:
            self.deferred.append(entity)

    def _check_links(self, doc: Drawing) -> None:
        """Every entity in model space, under a valid layer and a known linetype, with its own handle."""
        if not self.owners <= {None, doc.modelspace().layout_key}:
            raise Unsupported("an entity outside model space")
        for key in doc.entitydb.keys():
            if int(key, 16) in self.handles:
                raise Unsupported("a handle used twice")
        if not all(validator.is_valid_layer_name(layer) for layer in self.layers):
            raise Unsupported("invalid layer name")
        for linetype in self.linetypes:
            key = validator.make_table_key(linetype)
            if key not in ("bylayer", "byblock") and key not in doc.linetypes:
                raise Unsupported("undefined linetype")


_HEADER_NAMES = ("$INSUNITS", "$MEASUREMENT")


def _divert(stream: io.TextIOBase, reader: _OnePass) -> Iterator[DXFTag]:
    """The file's tags, as ezdxf's ``ascii_tags_loader`` reads them, without the entities of the
    ENTITIES section: each of those goes to ``reader.take`` as a list of (code, value) pairs, and
    the HEADER's variables to ``reader.header_variable`` on the way.

    Lines are split a chunk at a time (universal newlines, as the loader's ``readline``);
    comments (999) are skipped and nothing past ``0 / EOF`` is read.
    """
    take = reader.take
    in_entities = in_header = False
    section_start = False
    variable: str | None = None  # the header variable whose value comes next
    current: list[tuple[int, str]] | None = None
    pending: list[str] = []  # a code line whose value is in the next chunk
    rest: str | None = ""
    while rest is not None:
        chunk = stream.read(_CHUNK)
        if chunk:
            lines = (rest + chunk).split("\n")
            rest = lines.pop()
        else:
            lines = [rest] if rest else []
            rest = None
        if pending:
            lines = pending + lines
        n = len(lines)
        i = 0
        while i + 1 < n:
            code = int(lines[i])
            value = lines[i + 1]
            i += 2
            if code == 999:
                continue
            if in_entities:
                if code == 0:
                    if current is not None:
                        take(current)
                    if value == "ENDSEC":
                        in_entities, current = False, None
                        yield DXFTag(0, value)
                        continue
                    if value == "EOF":
                        raise Unsupported("the ENTITIES section does not end")
                    current = [(0, value)]
                elif current is not None:
                    current.append((code, value))
                else:
                    yield DXFTag(code, value)  # the section's own tags
                continue
            if code == 0:
                section_start = value == "SECTION"
                in_header = False
                if value == "EOF":
                    yield DXFTag(0, value)
                    return
            elif code == 2 and section_start:
                section_start = False
                in_entities = value == "ENTITIES"
                in_header = value == "HEADER"
                if in_entities:
                    reader.begin()
            elif in_header:
                if code == 9:
                    variable = value
                elif variable is not None:
                    reader.header_variable(variable, value)
                    variable = None
            yield DXFTag(code, value)
        pending = lines[i:]
    if in_entities:
        raise Unsupported("the ENTITIES section does not end")


#: A LINE as ezdxf and AutoCAD write it when it has no attributes of its own.
def _line(walker: Walker, values: tuple) -> None:
    walker.line(*values)


def _circle(walker: Walker, values: tuple) -> None:
    x, y, z, radius = values
    if not math.isfinite(radius) or radius <= 0:  # as the document path's CIRCLE
        walker.shapes.degenerate["CIRCLE"] += 1
        return
    walker.flat_circle(x, y, z, radius)


def _arc(walker: Walker, values: tuple) -> None:
    x, y, z, radius, start, end = values
    if not radius > 0:
        walker.shapes.degenerate["ARC"] += 1
        return
    path = Path()
    if abs(radius) > 1e-12:  # as ezdxf's make_path of an ARC
        ellipse = ConstructionEllipse.from_arc(center=Vec3(x, y, z), radius=abs(radius), extrusion=_Z_AXIS,
                                               start_angle=start, end_angle=end)
        add_ellipse(path, ellipse, segments=1, reset=True)
    walker.path("ARC", path)


def _lwpolyline(walker: Walker, values: tuple) -> None:
    vertices, closed, elevation = values
    if len(vertices) < 2:
        walker.shapes.degenerate["LWPOLYLINE"] += 1
        return
    path = Path()
    add_2d_polyline(path, vertices, close=closed, ocs=_FLAT, elevation=elevation, segments=1)
    walker.path("LWPOLYLINE", path)


def _spline(walker: Walker, values: tuple) -> None:
    degree, control, fit, knots, weights, knot_tolerance, tangents = values
    if len(control) < 2 and len(fit) < 2:
        walker.shapes.degenerate["SPLINE"] += 1
        return
    if control:  # as ezdxf's Spline.construction_tool
        spline = BSpline(control_points=control, order=degree + 1,
                         knots=round_knots(knots, knot_tolerance) if knots else None,
                         weights=weights or None)
    else:
        spline = fit_points_to_cad_cv(fit, tangents=tangents)
    path = Path()
    add_spline(path, spline, level=4, reset=True)
    walker.path("SPLINE", path)


_FLATTEN: dict[str, Callable[[Walker, tuple], None]] = {
    "LINE": _line, "CIRCLE": _circle, "ARC": _arc, "LWPOLYLINE": _lwpolyline, "SPLINE": _spline,
}


def _loaded_entity(walker: Walker, doc: Drawing, auditor: Auditor, entity: Entity) -> None:
    """Load one entity of LOADED_KINDS with ezdxf, audit it and take it as the document path does."""
    graphic = factory.load(ExtendedTags(tag_compiler(iter([DXFTag(c, v) for c, v in entity.values]))), doc)
    if graphic.xdata or getattr(graphic, "has_columns", False):
        raise Unsupported("extended data or MTEXT columns")
    graphic.audit(auditor)
    if auditor.fixes or auditor.errors:
        raise Unsupported(f"the auditor mends this {entity.kind}")
    walker.one(graphic, entity.kind)
