"""Every DXF of the shared third-party corpus through validate(), each verdict pinned.

The expectations follow ``corpus/README.md`` (what each file really is), not whatever the
code happened to answer: e.g. the Prusa front plate is 552 LINEs forming 19 closed loops with
no $INSUNITS; the tray's entities all sit in paper space.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from design_commons.validation import Validation, validate

DRAWINGS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "drawings"
FILES = sorted(p.name for p in DRAWINGS.glob("*")) if DRAWINGS.is_dir() else []
pytestmark = pytest.mark.skipif(not FILES, reason=f"drawing corpus not found at {DRAWINGS}")

# file -> (status, issue codes that must be present, metrics that must match)
EXPECTED: dict[str, tuple[str, set[str], dict[str, object]]] = {
    "admesh_block_basic.dxf": ("failed", {"no_cut_geometry", "3d_content"}, {"entities": {"3DFACE": 12}}),
    "atles_cut_test.dxf": ("warnings", {"unknown_units"}, {"closed_contours": 1, "open_contours": 0}),
    "atles_side1.dxf": ("warnings", {"unknown_units"}, {"closed_contours": 1, "open_contours": 0,
                                                         "entities": {"LINE": 82}}),
    "atles_tank_lid_for_shock.dxf": ("warnings", {"unknown_units"}, {"closed_contours": 8, "open_contours": 0}),
    "atles_top.dxf": ("warnings", {"unknown_units"}, {"closed_contours": 2, "open_contours": 0}),
    "ezdxf_3dface.dxf": ("warnings", {"3d_content"}, {"units": "mm", "engraving_texts": 22}),
    "ezdxf_6_closed_loop_with_arcs.dxf": ("warnings", {"suspicious_scale"},
                                          {"units": "m", "closed_contours": 1, "open_contours": 0}),
    # an outline and a round hole joined by a two-segment line, and two short ticks touching
    # them: both loops stay closed, the ticks are strays (was 1 closed + 1 "open contour")
    "ezdxf_AC1003_LINE_Example.dxf": ("warnings", {"recovered", "unknown_units", "stray_paths"},
                                      {"dxf_version": "AC1003", "recovered": True, "closed_contours": 2,
                                       "open_contours": 0, "stray_paths": 2}),
    "ezdxf_Leica_Disto_S910.dxf": ("warnings", {"unknown_units", "open_contour"}, {"engraving_texts": 11}),
    "ezdxf_Minimal_DXF_AC1009.dxf": ("failed", {"empty"}, {"dxf_version": "AC1009"}),
    "ezdxf_POLI-ALL210_12.DXF": ("warnings", {"3d_content", "open_contour"}, {}),
    "ezdxf_R12_with_trash_beyond_EOF.dxf": ("warnings", {"unknown_units"},
                                            {"closed_contours": 1, "recovered": False}),
    # text only: an engraving, valid for the engraver (was failed/no_cut_geometry); 8.4 m wide in
    # its declared metres, so the scale warning now says so too
    "ezdxf_bin_dxf_r2000.dxf": ("warnings", {"engraving_only", "suspicious_scale"},
                                {"binary": True, "dxf_version": "AC1015", "engraving_texts": 1}),
    "ezdxf_circle_radius_le_0.dxf": ("failed", {"no_cut_geometry", "degenerate_entities"}, {}),
    "ezdxf_duplicate_handles.dxf": ("warnings", {"open_contour"}, {"recovered": False}),
    "ezdxf_dxf_unicode.dxf": ("failed", {"empty"}, {}),
    "ezdxf_mtext_columns_R2018.dxf": ("warnings", {"engraving_only", "suspicious_scale"},
                                      {"dxf_version": "AC1032", "engraving_texts": 3}),
    "ezdxf_recover01.dxf": ("warnings", {"recovered"}, {"recovered": True}),
    "ofm_oshw_gear.dxf": ("warnings", {"unknown_units"}, {"closed_contours": 1, "open_contours": 0}),
    "prusa_MK3-front-plate.dxf": ("warnings", {"unknown_units"},
                                  {"closed_contours": 19, "open_contours": 0, "entities": {"LINE": 552},
                                   "units": "mm", "units_from_file": False}),
    "prusa_MK3v8b.dxf": ("warnings", {"unit_conflict", "open_contour"}, {"units": "mm"}),
    "trimesh_1002_tray_bottom.DXF": ("passed", set(), {"units": "in", "closed_contours": 24, "open_contours": 0,
                                                       "extents_mm": [355.6, 355.6]}),
    "trimesh_125_cycloidal.DXF": ("passed", set(), {"units": "in", "open_contours": 0}),
    "trimesh_LM2.dxf": ("passed", set(), {"units": "mm", "open_contours": 0}),
    "trimesh_ae.r12a.dxf": ("warnings", {"unknown_units", "open_contour"}, {}),
    "trimesh_ae.r2000a.dxf": ("warnings", {"open_contour"}, {"units": "in", "binary": False}),
    "trimesh_ae.r2013b.dxf": ("warnings", {"open_contour"}, {"units": "in", "binary": True,
                                                              "dxf_version": "AC1027"}),
    "trimesh_broken_loop.dxf": ("warnings", {"open_contour"}, {"closed_contours": 0, "open_contours": 1}),
    "trimesh_broken_pair.dxf": ("warnings", {"open_contour"}, {"closed_contours": 0}),
    "trimesh_insert.dxf": ("passed", set(), {"entities": {"INSERT": 2}, "closed_contours": 4}),
    "trimesh_single_arc.dxf": ("warnings", {"unknown_units"}, {"closed_contours": 1, "open_contours": 0}),
    "trimesh_spline.DXF": ("passed", set(), {"units": "mm", "open_contours": 0}),
    "trimesh_text.dxf": ("warnings", {"engraving_only", "unknown_units"}, {"engraving_texts": 1}),
    "trimesh_tray-easy1.dxf": ("failed", {"no_cut_geometry"}, {"units": "in", "entities": {}}),
    "trimesh_wrench.dxf": ("passed", set(), {"units": "in", "closed_contours": 2, "open_contours": 0}),
}


def check(name: str) -> Validation:
    data = (DRAWINGS / name).read_bytes()
    started = time.perf_counter()
    validation = validate(data, name)
    assert time.perf_counter() - started < 5.0, f"{name} took too long"
    return validation


def test_every_corpus_drawing_is_in_the_table() -> None:
    assert set(FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", FILES)
def test_corpus_drawing_verdict(name: str) -> None:
    status, codes, metrics = EXPECTED[name]
    validation = check(name)
    report = validation.report
    found = {issue.code for issue in report.issues}
    assert report.status.value == status, [i.to_dict() for i in report.issues]
    assert codes <= found, found
    for key, value in metrics.items():
        assert report.metrics[key] == value, key
    assert all(issue.message and issue.hint for issue in report.issues)
    assert (validation.canonical is None) == (status == "failed")
    if validation.canonical is not None:
        assert validation.canonical_ext == "dxf"
        assert validation.requirements["processes"]
        assert validation.preview is not None and validation.preview.shape[1:] == (2, 2)


def test_paperspace_tray_says_where_its_geometry_is() -> None:
    message = next(i.message for i in check("trimesh_tray-easy1.dxf").report.issues if i.code == "no_cut_geometry")
    assert "paper space" in message


def test_the_same_part_in_three_dxf_versions_measures_the_same() -> None:
    r12, r2000, r2013 = (check(n).report.metrics for n in
                         ("trimesh_ae.r12a.dxf", "trimesh_ae.r2000a.dxf", "trimesh_ae.r2013b.dxf"))
    assert r2000["extents_mm"] == r2013["extents_mm"]
    assert r2000["cut_length_mm"] == pytest.approx(r2013["cut_length_mm"], rel=1e-6)
    # the R12 copy has no $INSUNITS, so it is read as millimetres: 25.4 times smaller
    assert r12["extents_mm"] == [pytest.approx(v / 25.4, abs=1e-3) for v in r2000["extents_mm"]]
    for metrics in (r12, r2000, r2013):
        assert (metrics["closed_contours"], metrics["open_contours"]) == (4, 5)


def test_canonical_files_re_read_as_millimetres_with_the_same_extents() -> None:
    for name in ("prusa_MK3-front-plate.dxf", "trimesh_1002_tray_bottom.DXF", "trimesh_insert.dxf",
                 "trimesh_spline.DXF", "ezdxf_AC1003_LINE_Example.dxf"):
        first = check(name)
        assert first.canonical is not None
        again = validate(first.canonical, "canonical.dxf").report.metrics
        assert again["units"] == "mm" and again["insunits"] == 4
        assert again["extents_mm"] == pytest.approx(first.report.metrics["extents_mm"], abs=1e-3), name
        assert again["closed_contours"] == first.report.metrics["closed_contours"], name
        assert again["cut_length_mm"] == pytest.approx(first.report.metrics["cut_length_mm"], rel=1e-4), name
