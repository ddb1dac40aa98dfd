"""Drawing messages that misled on real files, each pinned on a small DXF made here.

Text alone is an engraving, not a failure; a unit is named only when it stands out; leader
lines touching an outline leave the outline closed and are reported apart.
"""
from __future__ import annotations

import io

import ezdxf
from ezdxf.document import Drawing

from design_commons.validation import Validation, validate


def new_doc(insunits: int = 4) -> Drawing:
    doc = ezdxf.new("R2010")
    doc.header["$INSUNITS"] = insunits
    return doc


def run(doc: Drawing, unit: str = "mm") -> Validation:
    text = io.StringIO()
    doc.write(text)
    return validate(text.getvalue().encode(), "part.dxf", unit)


def codes(validation: Validation) -> set[str]:
    return {issue.code for issue in validation.report.issues}


def message(validation: Validation, code: str) -> str:
    return next(issue.message for issue in validation.report.issues if issue.code == code)


def square_of_lines(doc: Drawing, side: float, x: float = 0.0, y: float = 0.0) -> None:
    corners = [(x, y), (x + side, y), (x + side, y + side), (x, y + side)]
    for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
        doc.modelspace().add_line(a, b)


def test_engraving_only_drawing_is_valid_for_the_engraver_alone() -> None:
    doc = new_doc()
    doc.modelspace().add_text("SERIAL 0042", height=5, dxfattribs={"insert": (10, 10)})
    v = run(doc)
    assert v.report.status.value == "warnings", v.report.to_dict()
    assert "nothing for a cutter" in message(v, "engraving_only")
    assert v.requirements["processes"] == ["laser_engraving"]
    assert v.requirements["cut_length_mm"] == 0.0 and v.requirements["sheet_mm"][0] > 0
    assert v.canonical is not None and b"SERIAL 0042" in v.canonical
    assert v.preview is not None and v.preview.shape == (4, 2, 2)


def test_text_in_model_space_with_the_part_in_paper_space_still_fails() -> None:
    doc = new_doc()
    doc.modelspace().add_text("NOTE", height=5)
    doc.paperspace().add_circle((5, 5), 2)
    v = run(doc)
    assert "no_cut_geometry" in codes(v) and v.report.status.value == "failed"


def test_a_sheet_of_metres_in_millimetres_is_not_called_micrometres() -> None:
    doc = new_doc()
    square_of_lines(doc, 9000.0)  # 9 m drawn in mm: no sheet process makes that
    v = run(doc)
    text = message(v, "suspicious_scale")
    assert "probable_unit" not in v.report.metrics
    assert "micrometres" not in text and "No unit" in text


def test_a_half_unit_sheet_lists_the_readings_without_a_guess() -> None:
    doc = new_doc()
    square_of_lines(doc, 0.53)
    v = run(doc)
    text = message(v, "suspicious_scale")
    assert "probable_unit" not in v.report.metrics and "No unit stands out" in text
    assert "inches" in text and "metres" in text


def test_a_leader_touching_an_outline_leaves_the_outline_closed() -> None:
    doc = new_doc()
    square_of_lines(doc, 50.0)
    square_of_lines(doc, 10.0, x=20.0, y=20.0)  # a hole
    msp = doc.modelspace()
    msp.add_line((50, 50), (70, 70))  # a leader from the corner of the outline
    msp.add_line((70, 70), (90, 70))  # and its shoulder
    msp.add_line((0, 0), (-10, -10))  # a second stray, from another corner
    msp.add_line((-15, 20), (-15, 30))  # an open contour touching nothing
    v = run(doc)
    metrics = v.report.metrics
    assert metrics["closed_contours"] == 2, v.report.to_dict()
    assert metrics["open_contours"] == 1
    assert metrics["stray_paths"] == 2
    assert "stray_paths" in codes(v) and "2" in message(v, "stray_paths")
    assert "1 outline(s) do not close" in message(v, "open_contour")
