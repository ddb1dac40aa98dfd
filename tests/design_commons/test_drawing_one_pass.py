"""The one-pass DXF reader gives the report the whole-document path gives, and steps aside when unsure.

Each drawing is made here with ezdxf and validated both ways (``one_pass=True`` and ``False``):
report, requirements, preview and the entities of the canonical file must be identical, and the
test checks which reader actually read it, so a reader that silently stepped aside would fail.
The vectorised contour arithmetic is held against the per-contour definitions it replaced.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import ezdxf
import numpy as np
import pytest
from ezdxf.document import Drawing
from ezdxf.enums import TextEntityAlignment

from design_commons.drawings.canonical import MAX_PREVIEW_SEGMENTS, float_reprs, preview_segments
from design_commons.drawings.contours import Contour, _cluster, contour_lengths, pack
from design_commons.drawings.fastread import read_fast
from design_commons.drawings.flatten import flattening
from design_commons.drawings.inspection import validate_drawing
from design_commons.limits import DEFAULT_LIMITS


def dxf(doc: Drawing) -> bytes:
    text = io.StringIO()
    doc.write(text)
    return text.getvalue().encode("utf-8")


def entities_section(canonical: bytes | None) -> str | None:
    """The canonical file's ENTITIES section (its header holds creation times and GUIDs)."""
    if canonical is None:
        return None
    text = canonical.decode()
    start = text.index("\nENTITIES\n")
    return text[start:text.index("ENDSEC", start)]


def assert_same_both_ways(data: bytes, unit: str = "mm") -> dict:
    fast = validate_drawing(data, unit)
    whole = validate_drawing(data, unit, one_pass=False)
    assert fast.report.to_dict() == whole.report.to_dict()
    assert fast.requirements == whole.requirements
    assert (fast.preview is None) == (whole.preview is None)
    if fast.preview is not None:
        assert fast.preview.dtype == whole.preview.dtype and np.array_equal(fast.preview, whole.preview)
    assert entities_section(fast.canonical) == entities_section(whole.canonical)
    return fast.report.to_dict()


def one_pass_reads(data: bytes) -> bool:
    return read_fast(data, "mm", DEFAULT_LIMITS) is not None


def sheet(version: str = "R2010", insunits: int | None = 4) -> Drawing:
    doc = ezdxf.new(version, setup=True)  # with the standard linetypes (DASHED below)
    if insunits is None:
        del doc.header["$INSUNITS"]
    else:
        doc.header["$INSUNITS"] = insunits
    msp = doc.modelspace()
    for a, b in (((0, 0), (40, 0)), ((40, 0), (40, 30)), ((40, 30), (0, 30)), ((0, 30), (0, 0))):
        msp.add_line(a, b)
    msp.add_line((40, 30), (55, 45))  # a leader touching the outline: a stray
    msp.add_line((60, 0, 0), (70, 0, 2))  # off the XY plane: projected
    msp.add_line((5, 5), (5, 5))  # zero length: degenerate
    msp.add_circle((10, 10), 3)
    msp.add_circle((20, 10), 0)  # degenerate
    msp.add_arc((30, 10), 4, 10, 200)
    msp.add_arc((30, 20), -2, 0, 90)  # negative radius: degenerate
    msp.add_lwpolyline([(50, 0, 0, 0, 0.4), (58, 0, 0, 0, -1), (58, 8, 0, 0, 0), (50, 8)],
                       format="xyseb", close=True)
    raised = msp.add_lwpolyline([(60, 10), (70, 10), (70, 20)])
    raised.dxf.elevation = 2.5
    msp.add_lwpolyline([(80, 0)])  # one vertex: degenerate
    msp.add_spline([(0, 40), (3, 44), (6, 41), (9, 45)])
    tangent = msp.add_spline([(0, 50), (3, 54), (6, 51), (9, 55)])
    tangent.dxf.start_tangent, tangent.dxf.end_tangent = (1, 0, 0), (0, 1, 0)
    msp.add_open_spline([(20, 40), (22, 45), (24, 40), (26, 45), (28, 40)], degree=3)
    msp.add_rational_spline([(30, 40), (32, 45), (34, 40), (36, 45)], weights=[1, 2, 2, 1], degree=3)
    msp.add_open_spline([(40, 40), (42, 45), (44, 40)], degree=2)
    msp.add_text("ENGRAVE", height=3, rotation=15, dxfattribs={"insert": (0, -10)})
    centred = msp.add_text("centred", height=2)
    centred.set_placement((50, -10), align=TextEntityAlignment.MIDDLE_CENTER)
    msp.add_mtext("two\\Plines", dxfattribs={"insert": (0, -20), "char_height": 2.5, "width": 30})
    doc.layers.add("CUTS", color=3)
    msp.add_line((0, 60), (5, 60), dxfattribs={"layer": "CUTS", "color": 2, "linetype": "DASHED",
                                                "lineweight": 25})
    msp.add_line((5, 60), (5, 65), dxfattribs={"layer": "UNDECLARED", "linetype": "BYLAYER", "ltscale": 2.0})
    msp.add_point((70, 70))  # counted, not cut
    msp.add_3dface([(80, 80), (90, 80), (90, 90)])  # 3D content, left out
    return doc


@pytest.mark.parametrize(("version", "insunits", "unit"), [
    ("R2010", 4, "mm"), ("R2000", 1, "mm"), ("R2018", 4, "mm"), ("R2010", None, "in"),
])
def test_one_pass_reads_every_kind_it_knows_as_the_document_does(version: str, insunits: int | None,
                                                                 unit: str) -> None:
    data = dxf(sheet(version, insunits))
    assert one_pass_reads(data)
    report = assert_same_both_ways(data, unit)
    codes = {issue["code"] for issue in report["issues"]}
    assert {"stray_paths", "degenerate_entities", "projected_3d", "engraving", "not_cut", "3d_content"} <= codes
    assert report["metrics"]["units"] == ("in" if insunits == 1 or unit == "in" else "mm")


def test_an_r12_drawing_without_handles_is_read_in_one_pass() -> None:
    doc = ezdxf.new("R12")
    msp = doc.modelspace()
    for a, b in (((0, 0), (10, 0)), ((10, 0), (10, 10)), ((10, 10), (0, 0))):
        msp.add_line(a, b)
    msp.add_circle((30, 30), 2)
    data = dxf(doc)
    assert one_pass_reads(data)
    report = assert_same_both_ways(data)
    assert report["metrics"]["closed_contours"] == 2


def test_a_text_only_drawing_is_an_engraving_either_way() -> None:
    doc = ezdxf.new("R2010")
    doc.modelspace().add_text("only text", height=5)
    data = dxf(doc)
    assert one_pass_reads(data)
    report = assert_same_both_ways(data)
    assert "engraving_only" in {issue["code"] for issue in report["issues"]}


def _with(change) -> bytes:  # noqa: ANN001 - a function of a Drawing
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    msp.add_line((0, 0), (10, 0))
    msp.add_line((10, 0), (0, 5))
    msp.add_line((0, 5), (0, 0))
    change(doc)
    return dxf(doc)


def _insert(doc: Drawing) -> None:
    block = doc.blocks.new("HOLE")
    block.add_circle((0, 0), 1)
    doc.modelspace().add_blockref("HOLE", (20, 20))


def _xdata(doc: Drawing) -> None:
    doc.appids.add("CAM")
    doc.modelspace().add_line((20, 0), (30, 0)).set_xdata("CAM", [(1000, "kerf")])


@pytest.mark.parametrize("change", [
    _insert,
    _xdata,
    lambda doc: doc.modelspace().add_line((20, 0), (30, 0), dxfattribs={"linetype": "UNDEFINED_LT"}),
    lambda doc: doc.modelspace().add_ellipse((50, 50), major_axis=(10, 0), ratio=0.5),
    lambda doc: doc.layout("Layout1").add_line((0, 0), (1, 1)),  # paper space holds something
    lambda doc: doc.modelspace().add_polyline2d([(0, 20), (10, 20), (10, 30)], close=True),
], ids=["insert", "xdata", "undefined-linetype", "ellipse", "paper-space", "polyline"])
def test_what_the_reader_does_not_know_goes_to_the_document_path(change) -> None:  # noqa: ANN001
    data = _with(change)
    assert not one_pass_reads(data)
    assert_same_both_ways(data)


def test_a_broken_entity_is_left_to_recovery() -> None:
    data = _with(lambda doc: None).decode()
    # a LINE whose start has no y: ezdxf's strict reader refuses the file, its recovery reads it
    start = data.index("AcDbLine\n 10\n")
    end = data.index(" 20\n", start)
    broken = (data[:end] + data[data.index(" 30\n", end):]).encode()
    assert not one_pass_reads(broken)
    report = assert_same_both_ways(broken)
    assert report["metrics"]["recovered"] is True


def test_the_unit_read_on_the_way_is_the_headers() -> None:
    inches = _with(lambda doc: doc.header.__setitem__("$INSUNITS", 1))
    assert one_pass_reads(inches)
    assert assert_same_both_ways(inches)["metrics"]["units"] == "in"
    unitless = _with(lambda doc: doc.header.__setitem__("$INSUNITS", 0))
    assert assert_same_both_ways(unitless, "cm")["metrics"]["units"] == "cm"


def _reference_preview(contours: list[Contour], circles: list[tuple[float, float, float]]) -> np.ndarray:
    """The preview as defined contour by contour (what preview_segments computes all at once)."""
    total = sum(len(c.points) for c in contours) + 64 * len(circles)
    stride = max(1, math.ceil(total / MAX_PREVIEW_SEGMENTS))
    pieces = []
    for contour in contours:
        points = contour.points
        if stride > 1 and len(points) > 2:
            points = np.vstack([points[::stride], points[-1:]])
        if contour.closed:
            points = np.vstack([points, points[:1]])
        pieces.append(np.stack([points[:-1], points[1:]], axis=1))
    if circles:
        angle = np.linspace(0.0, 2.0 * math.pi, max(4, 64 // stride) + 1)
        ring = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        for cx, cy, r in circles:
            points = ring * r + (cx, cy)
            pieces.append(np.stack([points[:-1], points[1:]], axis=1))
    return np.concatenate(pieces).astype(np.float32)[:MAX_PREVIEW_SEGMENTS]


@pytest.mark.parametrize("contour_count", [1, 50, 2000])  # 2000 contours: past the limit, thinned
def test_preview_and_lengths_match_their_per_contour_definitions(contour_count: int) -> None:
    rng = np.random.default_rng(contour_count)
    contours = [Contour(rng.random((int(rng.integers(1, 400)), 2)) * 100, bool(rng.random() < 0.5))
                for _ in range(contour_count)]
    circles = [(float(x), float(y), float(r)) for x, y, r in rng.random((40, 3))]
    packed = pack(contours)
    assert np.array_equal(preview_segments(packed, circles), _reference_preview(contours, circles))
    assert contour_lengths(packed) == [c.length for c in contours]  # to the last bit


def _reference_cluster(points: np.ndarray, tol: float) -> list[set[int]]:
    """Groups of points as the cell-and-centre rule defines them, joined by a plain union-find."""
    cells = np.floor(points / tol).astype(np.int64)
    keys, inverse = np.unique(cells, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    centre = np.array([points[inverse == k].mean(axis=0) for k in range(len(keys))])
    index = {(int(x), int(y)): i for i, (x, y) in enumerate(keys.tolist())}
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, (x, y) in enumerate(keys.tolist()):
        for dx, dy in ((1, -1), (1, 0), (1, 1), (0, 1)):
            j = index.get((x + dx, y + dy))
            if j is not None and math.dist(centre[i], centre[j]) <= tol:
                parent[find(j)] = find(i)
    groups: dict[int, set[int]] = {}
    for point, key in enumerate(inverse.tolist()):
        groups.setdefault(find(key), set()).add(point)
    return sorted(groups.values(), key=min)


def test_path_ends_cluster_as_the_rule_says() -> None:
    rng = np.random.default_rng(7)
    # ends on a coarse grid, jittered around the tolerance, so cells and neighbours both matter
    points = np.round(rng.random((3000, 2)) * 40) * 0.05 + rng.normal(0, 0.004, (3000, 2))
    labels = _cluster(points, 0.01)
    groups: dict[int, set[int]] = {}
    for point, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(point)
    got = sorted(groups.values(), key=min)
    assert got == _reference_cluster(points, 0.01)
    assert len(got) < len(points)  # some ends were joined: the test can tell


CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "drawings"


def _curve_paths() -> list[ezdxf.path.Path]:
    """Paths of every curve in the corpus's readable ASCII drawings, and of random ones made here."""
    paths = []
    for name in sorted(CORPUS.glob("*")) if CORPUS.is_dir() else []:
        try:
            doc = ezdxf.readfile(str(name))
        except Exception:  # noqa: BLE001 - the broken ones are recovery's, not this test's
            continue
        for entity in doc.modelspace():
            if entity.dxftype() in ("ARC", "CIRCLE", "ELLIPSE", "LWPOLYLINE", "POLYLINE", "SPLINE"):
                try:
                    paths.append(ezdxf.path.make_path(entity))
                except Exception:  # noqa: BLE001, S112 - an entity ezdxf cannot make a path of
                    continue
    rng = np.random.default_rng(7)
    doc = ezdxf.new()
    msp = doc.modelspace()
    for _ in range(300):
        x, y, r = rng.uniform(-500, 500), rng.uniform(-500, 500), rng.uniform(0.01, 300)
        start, end = rng.uniform(0, 360, 2)
        paths.append(ezdxf.path.make_path(msp.add_arc((x, y), r, start, end)))
        points = [(*rng.uniform(-50, 50, 2), 0, 0, rng.uniform(-2, 2)) for _ in range(5)]
        paths.append(ezdxf.path.make_path(msp.add_lwpolyline(points, format="xyseb", close=True)))
        paths.append(ezdxf.path.make_path(msp.add_spline(rng.uniform(-80, 80, (6, 2)).tolist())))
    return paths


def test_curves_flatten_as_ezdxf_flattens_their_paths() -> None:
    paths = _curve_paths()
    assert len(paths) > 900  # the corpus's curves are there too
    for path in paths:
        control = path.control_vertices()
        if not control:
            continue
        extent = max(max(abs(v.x) for v in control), max(abs(v.y) for v in control), 1.0)
        for distance in (0.01, extent * 1e-5):
            assert flattening(path, control, distance) == list(path.flattening(distance, segments=8))


def test_coordinates_are_written_as_repr_writes_them() -> None:
    rng = np.random.default_rng(3)
    scale = 10.0 ** rng.integers(0, 7, 50_000)
    values = np.concatenate([
        rng.uniform(-2000, 2000, 200_000),  # drawing coordinates in mm
        np.round(rng.uniform(-2000, 2000, 50_000) * scale) / scale,  # as typed: few decimals
        rng.uniform(-1, 1, 100_000) * 10.0 ** rng.integers(-12, 22, 100_000),  # either side of both exponent limits
        [0.0, -0.0, 1e-4, -1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 1e15, 5e-324,
         1.7976931348623157e308, 0.1, 1 / 3, 2.5, 100.0],
    ])
    written = float_reprs(values)
    assert written == list(map(repr, values.tolist()))
    assert "1e-05" in float_reprs(np.array([1e-5])) and float_reprs(np.zeros(0)) == []
