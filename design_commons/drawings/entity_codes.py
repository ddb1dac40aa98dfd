"""The group codes of one model-space entity, as the one-pass reader (``fastread``) takes them.

A LINE, CIRCLE, ARC, LWPOLYLINE or SPLINE is turned from its tags into the values its flattening
needs; anything the document path would judge differently (a subclass out of place, a code this
reader does not know, a value ezdxf's auditor would mend) raises :class:`Unsupported`, and the
whole file goes to the document path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ezdxf.lldxf import const
from ezdxf.math import NULLVEC, Vec3, required_control_points, required_fit_points, required_knot_values

#: Read from their group codes here.
OWN_KINDS = frozenset({"LINE", "CIRCLE", "ARC", "LWPOLYLINE", "SPLINE"})
#: Loaded once the document is read, one by one with ezdxf's entity loader, and audited by it:
#: texts (their extents need the document's text styles), and what is counted, not cut. Each
#: kind lands in a list or count of its own, so their order among the others does not matter.
LOADED_KINDS = frozenset({"TEXT", "MTEXT", "POINT", "3DFACE"})

_SUBCLASSES = {
    "LINE": ("AcDbEntity", "AcDbLine"),
    "CIRCLE": ("AcDbEntity", "AcDbCircle"),
    "ARC": ("AcDbEntity", "AcDbCircle", "AcDbArc"),
    "LWPOLYLINE": ("AcDbEntity", "AcDbPolyline"),
    "SPLINE": ("AcDbEntity", "AcDbSpline"),
}
# Group codes every graphic entity may carry here (all others end the fast read).
_COMMON_STR = {5: "handle", 330: "owner", 8: "layer", 6: "linetype"}
_COMMON_INT = {62: "color", 370: "lineweight", 60: "invisible", 67: "paperspace"}
_COMMON_FLOAT = {48: "ltscale"}
# Codes that tie an entity to others (reactors, extension dictionaries, extended data).
_LINKS = (102, 360)


class Unsupported(Exception):
    """The file holds something this reader leaves to the document path."""



@dataclass(slots=True)
class Entity:
    """One model-space entity: common attributes, and its own values."""

    kind: str
    handle: str | None
    owner: str | None
    layer: str
    linetype: str | None
    values: Any  # a tuple for OWN_KINDS, the raw tags for LOADED_KINDS

_PLAIN_LINE = (0, 5, 330, 100, 8, 100, 10, 20, 30, 11, 21, 31)


def parse_entity(tags: list[tuple[int, str]]) -> Entity:
    kind = tags[0][1]
    if (kind == "LINE" and len(tags) == 12 and tuple(code for code, _ in tags) == _PLAIN_LINE
            and tags[3][1] == "AcDbEntity" and tags[5][1] == "AcDbLine"):
        # the commonest entity of all, in its commonest form: what _parse_own makes of it, directly
        return Entity(kind, tags[1][1], tags[2][1], tags[4][1], None, tuple(float(v) for _, v in tags[6:]))
    if kind in OWN_KINDS:
        return _parse_own(kind, tags)
    if kind not in LOADED_KINDS:
        raise Unsupported(kind)
    common: dict[str, Any] = {}
    for code, value in tags:
        if code in _LINKS or code >= 1000:
            raise Unsupported(f"{kind} linked to other objects")
        if code in _COMMON_STR:
            common[_COMMON_STR[code]] = value
        elif code == 67 and int(value) != 0:
            raise Unsupported("paper space")
    return Entity(kind, common.get("handle"), common.get("owner"), common.get("layer", "0"),
                   common.get("linetype"), tags)


def _parse_own(kind: str, tags: list[tuple[int, str]]) -> Entity:
    """Common attributes and the geometry of a LINE, CIRCLE, ARC or LWPOLYLINE from its tags.

    Subclass markers, when present, must be the usual ones in their order, the common
    attributes before the entity's own subclass.
    """
    common: dict[str, Any] = {}
    own: dict[int, Any] = {}
    vertices: list[list[float]] = []
    lists: dict[int, list] = {10: [], 11: [], 40: [], 41: []}  # a SPLINE's points, knots and weights
    markers = _SUBCLASSES[kind]
    marker_count = 0
    in_own = False  # past the entity's own subclass marker
    i, n = 1, len(tags)
    while i < n:
        code, value = tags[i]
        i += 1
        if code == 100:
            if marker_count >= len(markers) or value != markers[marker_count]:
                raise Unsupported(f"subclass {value} in {kind}")
            marker_count += 1
            in_own = marker_count > 1
            continue
        if code in _COMMON_STR or code in _COMMON_INT or code in _COMMON_FLOAT:
            if in_own:
                raise Unsupported("common attribute inside the entity's subclass")
            name = _COMMON_STR.get(code) or _COMMON_INT.get(code) or _COMMON_FLOAT[code]
            if name in common:
                raise Unsupported(f"{name} twice")
            if code in _COMMON_INT:
                common[name] = int(value)
            elif code in _COMMON_FLOAT:
                common[name] = float(value)
            else:
                common[name] = value
            continue
        if marker_count and not in_own:
            raise Unsupported(f"group code {code} before the {kind} subclass")
        if code in (10, 11, 210) or (kind == "SPLINE" and code in (12, 13)):
            if i >= n or tags[i][0] != code + 10:
                raise Unsupported("a point without its y")
            point = [float(value), float(tags[i][1])]
            i += 1
            if i < n and tags[i][0] == code + 20:
                point.append(float(tags[i][1]))
                i += 1
            elif code == 210:
                raise Unsupported("an extrusion without z")
            if kind == "LWPOLYLINE" and code == 10:
                vertices.append([point[0], point[1], 0.0])
                continue
            if kind == "SPLINE" and code in (10, 11):
                lists[code].append(point)
                continue
            if code in own:
                raise Unsupported("a point twice")
            own[code] = point  # type: ignore[assignment]
            continue
        if kind == "SPLINE" and code in (40, 41):
            lists[code].append(float(value))
            continue
        if kind == "LWPOLYLINE" and code in (40, 41, 42, 91):
            if not vertices:
                raise Unsupported("vertex attribute before the first vertex")
            number = float(value) if code != 91 else int(value)
            if code == 42:
                vertices[-1][2] = number
            continue
        if code not in _OWN_CODES[kind] or code in own:
            raise Unsupported(f"group code {code} in {kind}")
        own[code] = int(value) if code in _INT_CODES else float(value)
    if marker_count not in (0, len(markers)):
        raise Unsupported(f"{kind} without all its subclasses")
    _check_common(common)
    extrusion = own.get(210)
    if extrusion is not None and tuple(extrusion) != (0.0, 0.0, 1.0):  # type: ignore[arg-type]
        raise Unsupported("an extrusion other than +Z")
    values = _spline_values(own, lists) if kind == "SPLINE" else _values(kind, own, vertices)
    return Entity(kind, common.get("handle"), common.get("owner"), common.get("layer", "0"),
                   common.get("linetype"), values)


_OWN_CODES = {
    "LINE": {39},
    "CIRCLE": {39, 40},
    "ARC": {39, 40, 50, 51},
    "LWPOLYLINE": {90, 70, 43, 38, 39},
    "SPLINE": {70, 71, 72, 73, 74, 42, 43, 44},
}
_INT_CODES = {70, 71, 72, 73, 74, 90}


def _spline_values(own: dict[int, Any], lists: dict[int, list]) -> tuple:
    """A SPLINE as ezdxf's ``Spline.construction_tool`` sees it; refused where its auditor would act."""
    degree = own.get(71, 3)
    control, fit, knots, weights = lists[10], lists[11], lists[40], lists[41]
    order = degree + 1
    if degree < 1 or not (control or fit):
        raise Unsupported("a SPLINE the auditor removes")
    if control:
        if (len(control) < required_control_points(order)
                or len(knots) < required_knot_values(len(control), order)
                or (weights and len(weights) != len(control))):
            raise Unsupported("a SPLINE the auditor removes")
    elif len(fit) < required_fit_points(order, tangents=True):
        raise Unsupported("a SPLINE the auditor removes")
    # ezdxf ignores tangents of (0, 0, 0) when loading
    tangents = [Vec3(own[code]) for code in (12, 13) if code in own and not NULLVEC.isclose(Vec3(own[code]))]
    return (degree, [Vec3(p) for p in control], [Vec3(p) for p in fit], knots, weights,
            own.get(42, 1e-10), tangents if len(tangents) == 2 else None)


def _values(kind: str, own: dict[int, Any], vertices: list[list[float]]) -> tuple:
    if kind == "LWPOLYLINE":
        count = own.get(90)
        if count is not None and count != len(vertices):
            raise Unsupported("vertex count differs from its group code 90")
        return (vertices, bool(own.get(70, 0) & const.LWPOLYLINE_CLOSED), own.get(38, 0.0))
    if kind == "LINE":
        start, end = _point(own, 10), _point(own, 11)
        return (*start, *end)
    centre = _point(own, 10)
    if 40 not in own:
        raise Unsupported("a circle without radius")
    if kind == "CIRCLE":
        return (*centre, own[40])
    if 50 not in own or 51 not in own:
        raise Unsupported("an arc without its angles")
    return (*centre, own[40], own[50], own[51])


def _point(own: dict[int, Any], code: int) -> tuple[float, float, float]:
    point = own.get(code)
    if point is None:
        raise Unsupported(f"point {code} missing")
    return (point[0], point[1], point[2] if len(point) > 2 else 0.0)


def _check_common(common: dict[str, Any]) -> None:
    """Refuse what ezdxf's auditor would mend (so the audit of the rest stands for the whole)."""
    if common.get("paperspace", 0) != 0:
        raise Unsupported("paper space")
    color = common.get("color")
    if color is not None and not 0 <= color <= 257:
        raise Unsupported("colour index out of range")
    weight = common.get("lineweight")
    if weight is not None and weight not in const.VALID_DXF_LINEWEIGHT_VALUES:
        raise Unsupported("lineweight")
