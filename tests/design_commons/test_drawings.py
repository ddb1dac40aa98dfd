"""Drawing validation on DXF files built here with ezdxf, one behaviour per test."""
from __future__ import annotations

import io
import math

import ezdxf
import numpy as np
import pytest
from ezdxf.document import Drawing

from design_commons.drawings import validate_drawing
from design_commons.limits import Limits
from design_commons.reports import Issue, LimitExceeded, UnreadableFile
from design_commons.validation import DRAWING_PROCESSES, Validation, validate


def new_doc(insunits: int | None = 4, version: str = "R2010") -> Drawing:
    doc = ezdxf.new(version)
    if insunits is None:
        del doc.header["$INSUNITS"]
    else:
        doc.header["$INSUNITS"] = insunits
    return doc


def to_bytes(doc: Drawing, binary: bool = False) -> bytes:
    if binary:
        raw = io.BytesIO()
        doc.write(raw, fmt="bin")
        return raw.getvalue()
    text = io.StringIO()
    doc.write(text)
    return text.getvalue().encode("utf-8")


def run(doc: Drawing, unit: str = "mm", limits: Limits | None = None) -> Validation:
    return validate(to_bytes(doc), "part.dxf", unit, limits or Limits())


def codes(validation: Validation) -> list[str]:
    return [issue.code for issue in validation.report.issues]


def issue(validation: Validation, code: str) -> Issue:
    return next(i for i in validation.report.issues if i.code == code)


def rectangle(doc: Drawing, w: float, h: float, x: float = 0.0, y: float = 0.0) -> None:
    doc.modelspace().add_lwpolyline([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], close=True)


def test_closed_rectangle_in_mm_passes_with_its_size_and_cut_length() -> None:
    doc = new_doc()
    rectangle(doc, 100, 50, x=10, y=20)
    v = run(doc)
    m = v.report.metrics
    assert v.report.status.value == "passed", codes(v)
    assert m["units"] == "mm" and m["units_from_file"] is True
    assert m["extents_mm"] == [100.0, 50.0]
    assert m["closed_contours"] == 1 and m["open_contours"] == 0
    assert m["cut_length_mm"] == pytest.approx(300.0)
    assert m["dxf_version"] == "AC1024" and m["dxf_release"] == "R2010"
    assert m["entities"] == {"LWPOLYLINE": 1}
    assert m["recovered"] is False
    assert v.requirements == {"processes": DRAWING_PROCESSES, "bbox_mm": [100.0, 50.0, 0.0],
                              "sheet_mm": [100.0, 50.0], "cut_length_mm": 300.0}
    assert v.canonical_ext == "dxf" and v.canonical is not None
    assert v.preview is not None and v.preview.dtype == np.float32 and v.preview.shape == (4, 2, 2)
    assert all(i.hint for i in v.report.issues)


def test_mirrored_extrusion_is_read_in_world_coordinates() -> None:
    doc = new_doc()
    mirrored = {"extrusion": (0, 0, -1)}  # as many CAD exports write mirrored circles and arcs
    doc.modelspace().add_circle((10, 0), 2, dxfattribs=mirrored)
    doc.modelspace().add_arc((10, 0), 5, 0, 90, dxfattribs=mirrored)
    bounds = run(doc).report.metrics["bounds_mm"]
    assert bounds[0] == [pytest.approx(-15.0), pytest.approx(-2.0)]
    assert bounds[1] == [pytest.approx(-8.0), pytest.approx(5.0)]


def test_inch_drawing_is_scaled_to_mm() -> None:
    doc = new_doc(insunits=1)
    rectangle(doc, 4, 2)
    m = run(doc).report.metrics
    assert m["units"] == "in"
    assert m["extents_mm"] == [pytest.approx(101.6), pytest.approx(50.8)]
    assert m["cut_length_mm"] == pytest.approx(12 * 25.4)


def test_lines_that_return_to_their_start_make_one_closed_contour() -> None:
    doc = new_doc()
    msp = doc.modelspace()
    # drawn out of order and in mixed directions, the last end 0.001 mm off
    msp.add_line((10, 0), (10, 5))
    msp.add_line((0, 0), (10, 0))
    msp.add_line((0, 5), (10, 5))
    msp.add_line((0, 5), (0.001, 0))
    v = run(doc)
    assert v.report.metrics["closed_contours"] == 1
    assert v.report.metrics["open_contours"] == 0
    assert "open_contour" not in codes(v)


def test_open_chain_is_an_open_contour_warning_that_says_where() -> None:
    doc = new_doc()
    msp = doc.modelspace()
    msp.add_line((0, 0), (50, 0))
    msp.add_line((50, 0), (50, 30))
    msp.add_line((50, 30), (0, 30))  # the fourth side is missing
    v = run(doc)
    assert v.report.status.value == "warnings"
    assert v.report.metrics["open_contours"] == 1 and v.report.metrics["loose_ends"] == 2
    found = issue(v, "open_contour")
    assert found.severity.value == "warning"
    assert "(0.0, 0.0)" in found.message and "30 mm apart" in found.message
    assert found.hint
    assert v.canonical is not None  # a warning does not block


def test_missing_insunits_warns_and_uses_the_stated_unit() -> None:
    doc = new_doc(insunits=None)
    rectangle(doc, 10, 10)
    v = run(doc)
    assert "unknown_units" in codes(v)
    assert "assumed millimetres" in issue(v, "unknown_units").message
    assert v.report.metrics["units"] == "mm" and v.report.metrics["units_from_file"] is False
    inches = run(doc, unit="in")
    assert "inches" in issue(inches, "unknown_units").message
    assert inches.report.metrics["extents_mm"] == [pytest.approx(254.0), pytest.approx(254.0)]


def test_unitless_insunits_counts_as_unknown() -> None:
    doc = new_doc(insunits=0)
    rectangle(doc, 10, 10)
    assert "unknown_units" in codes(run(doc))


def test_headerless_r12_reads_with_unknown_units() -> None:
    body = "".join(
        f"  0\nLINE\n  8\n0\n 10\n{x0}\n 20\n{y0}\n 30\n0.0\n 11\n{x1}\n 21\n{y1}\n 31\n0.0\n"
        for (x0, y0), (x1, y1) in [((0, 0), (20, 0)), ((20, 0), (20, 10)), ((20, 10), (0, 10)), ((0, 10), (0, 0))]
    )
    data = f"  0\nSECTION\n  2\nENTITIES\n{body}  0\nENDSEC\n  0\nEOF\n".encode("ascii")
    v = validate(data, "headerless.dxf")
    m = v.report.metrics
    assert m["closed_contours"] == 1 and m["extents_mm"] == [20.0, 10.0]
    assert "unknown_units" in codes(v)  # ezdxf's default header (metres) must not count


def test_measurement_conflicting_with_insunits_is_noted() -> None:
    doc = new_doc(insunits=4)
    doc.header["$MEASUREMENT"] = 0
    rectangle(doc, 10, 10)
    v = run(doc)
    assert issue(v, "unit_conflict").severity.value == "info"
    assert v.report.metrics["units"] == "mm"


def test_paperspace_only_drawing_has_no_cut_geometry_and_says_so() -> None:
    doc = new_doc()
    layout = doc.paperspace()
    layout.add_lwpolyline([(0, 0), (10, 0), (10, 10)], close=True)
    layout.add_circle((5, 5), 2)
    v = run(doc)
    found = issue(v, "no_cut_geometry")
    assert found.severity.value == "error" and "paper space" in found.message
    assert v.report.status.value == "failed"
    assert v.requirements["processes"] == [] and v.canonical is None


def test_text_only_drawing_is_an_engraving() -> None:
    doc = new_doc()
    doc.modelspace().add_text("HELLO", height=5)
    v = run(doc)
    assert "no_cut_geometry" not in codes(v) and "engraving_only" in codes(v)
    assert "engraved" in issue(v, "engraving_only").message
    assert v.report.metrics["engraving_texts"] == 1
    assert v.requirements["processes"] == ["laser_engraving"]


def test_empty_drawing_is_empty() -> None:
    v = run(new_doc())
    assert codes(v) == ["empty"] and v.report.status.value == "failed"


def test_3dfaces_are_3d_content_not_cut_geometry() -> None:
    doc = new_doc()
    doc.modelspace().add_3dface([(0, 0, 0), (10, 0, 0), (10, 10, 5), (0, 10, 5)])
    v = run(doc)
    assert {"no_cut_geometry", "3d_content"} <= set(codes(v))


def test_insert_is_expanded_with_its_transform() -> None:
    doc = new_doc()
    block = doc.blocks.new("PLATE")
    block.add_lwpolyline([(0, 0), (10, 0), (10, 5), (0, 5)], close=True)
    block.add_circle((5, 2.5), 1)
    msp = doc.modelspace()
    msp.add_blockref("PLATE", (0, 0))
    msp.add_blockref("PLATE", (100, 0), dxfattribs={"xscale": 2, "yscale": 2})
    msp.add_blockref("PLATE", (0, 100), dxfattribs={"rotation": 90})
    v = run(doc)
    m = v.report.metrics
    assert m["entities"] == {"INSERT": 3} and m["entities_expanded"] == 9
    assert m["closed_contours"] == 6
    assert m["extents_mm"] == [pytest.approx(125.0), pytest.approx(110.0)]  # the turned copy reaches x = -5
    expected = 30 + 60 + 30 + 2 * math.pi * (1 + 2 + 1)
    assert m["cut_length_mm"] == pytest.approx(expected, abs=1e-3)


def test_nested_inserts_past_the_entity_limit_are_too_large() -> None:
    doc = new_doc()
    leaf = doc.blocks.new("LEAF")
    for i in range(10):
        leaf.add_line((i, 0), (i, 1))
    for level in range(1, 6):  # 10 ** 6 lines once expanded, from a few dozen entities
        block = doc.blocks.new(f"L{level}")
        for i in range(10):
            block.add_blockref("LEAF" if level == 1 else f"L{level - 1}", (i * 20, 0))
    doc.modelspace().add_blockref("L5", (0, 0))
    v = run(doc, limits=Limits(max_entities=100_000))
    assert codes(v) == ["too_large"] and v.report.status.value == "failed"


def test_recursive_block_is_refused() -> None:
    doc = new_doc()
    block = doc.blocks.new("SELF")
    block.add_line((0, 0), (1, 0))
    block.add_blockref("SELF", (2, 0))
    doc.modelspace().add_blockref("SELF", (0, 0))
    with pytest.raises(LimitExceeded, match="contains itself"):
        validate_drawing(to_bytes(doc), "mm", Limits())
    assert codes(run(doc)) == ["too_large"]


def test_too_many_entities_are_too_large() -> None:
    doc = new_doc()
    for i in range(60):
        doc.modelspace().add_line((i, 0), (i, 1))
    assert codes(run(doc, limits=Limits(max_entities=50))) == ["too_large"]


@pytest.mark.parametrize("data", [b"", b"hello, this is not a drawing\n", b"\x89PNG\r\n\x1a\n\x00\x01\x02"])
def test_garbage_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(UnreadableFile):
        validate_drawing(data, "mm", Limits())
    v = validate(data, "junk.dxf")
    assert codes(v) == (["empty"] if not data else ["parse_error"]) and v.report.status.value == "failed"


def test_structurally_broken_file_is_read_through_recovery() -> None:
    doc = new_doc(version="R12")
    doc.modelspace().add_polyline2d([(0, 0), (30, 0), (30, 20), (0, 20)], close=True)
    text = to_bytes(doc).decode("utf-8")
    broken = text.replace("  0\nSECTION\n  2\nENTITIES\n", "  0\nENDSEC\n  0\nSECTION\n  2\nENTITIES\n", 1)
    v = validate(broken.encode("utf-8"), "broken.dxf")
    assert v.report.metrics["recovered"] is True
    found = issue(v, "recovered")
    assert "recovery" in found.message and found.hint
    assert v.report.metrics["closed_contours"] == 1


def test_binary_dxf_reads_like_ascii() -> None:
    doc = new_doc()
    rectangle(doc, 40, 30)
    v = validate(to_bytes(doc, binary=True), "part.dxf")
    assert v.report.status.value == "passed", codes(v)
    assert v.report.metrics["binary"] is True and v.report.metrics["extents_mm"] == [40.0, 30.0]


def test_metres_part_of_hundreds_of_metres_is_suspicious() -> None:
    doc = new_doc(insunits=6)
    rectangle(doc, 141, 179)
    found = issue(run(doc), "suspicious_scale")
    assert found.severity.value == "warning" and "millimetres" in found.message
    assert "141.0 x 179.0 mm" in found.message


def test_degenerate_circles_are_ignored_with_a_warning() -> None:
    doc = new_doc()
    rectangle(doc, 10, 10)
    doc.modelspace().add_circle((5, 5), 0)
    doc.modelspace().add_circle((5, 5), 2)
    v = run(doc)
    found = issue(v, "degenerate_entities")
    assert found.severity.value == "warning" and "CIRCLE" in found.message
    assert v.report.metrics["closed_contours"] == 2


def test_bulged_polyline_and_arcs_are_flattened_to_their_length() -> None:
    doc = new_doc()
    msp = doc.modelspace()
    # a disc of diameter 10 (y from -5 to 5) as two half-circle bulges
    msp.add_lwpolyline([(0, 0, 1), (10, 0, 1)], format="xyb", close=True)
    # a slot: two lines and two half arcs, chained
    msp.add_line((20, 0), (40, 0))
    msp.add_arc((40, 5), 5, -90, 90)
    msp.add_line((40, 10), (20, 10))
    msp.add_arc((20, 5), 5, 90, 270)
    v = run(doc)
    m = v.report.metrics
    assert m["closed_contours"] == 2 and m["open_contours"] == 0
    # curves are flattened with a chord error of 0.01 mm, so a little length is lost
    assert m["cut_length_mm"] == pytest.approx(math.pi * 10 + 40 + math.pi * 10, rel=1e-3)
    assert m["extents_mm"] == [pytest.approx(45.0, abs=1e-3), pytest.approx(15.0, abs=1e-3)]


def test_spline_is_flattened() -> None:
    doc = new_doc()
    doc.modelspace().add_spline([(0, 0), (10, 10), (20, 0), (30, 10)])
    m = run(doc).report.metrics
    assert m["open_contours"] == 1 and m["cut_length_mm"] > 30
    assert m["extents_mm"][0] == pytest.approx(30.0, abs=0.01)


def test_canonical_dxf_is_millimetres_with_the_same_geometry() -> None:
    doc = new_doc(insunits=1)
    rectangle(doc, 4, 2)
    doc.modelspace().add_circle((2, 1), 0.5)
    doc.modelspace().add_text("ID 7", height=0.25, dxfattribs={"insert": (0.2, 0.2)})
    v = run(doc)
    assert v.canonical is not None
    canonical = ezdxf.read(io.StringIO(v.canonical.decode("utf-8")))
    assert canonical.header["$INSUNITS"] == 4
    assert canonical.dxfversion == "AC1024"
    auditor = canonical.audit()
    assert not auditor.has_errors and not auditor.has_fixes
    msp = canonical.modelspace()
    assert len(msp.query("CIRCLE")) == 1 and msp.query("CIRCLE")[0].dxf.radius == pytest.approx(12.7)
    text = msp.query("TEXT")[0]
    assert text.dxf.layer == "ENGRAVE" and text.dxf.height == pytest.approx(6.35)
    again = validate(v.canonical, "canonical.dxf")
    for key in ("extents_mm", "closed_contours", "open_contours", "cut_length_mm", "engraving_texts"):
        assert again.report.metrics[key] == v.report.metrics[key], key
    assert again.report.metrics["units"] == "mm" and again.report.metrics["units_from_file"] is True
