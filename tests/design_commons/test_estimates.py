"""Estimates from validation reports, by DESIGN.md's formulas, checked against hand calculations."""
import pytest

from design_commons import estimates

CUBE = {"volume_mm3": 8000.0, "area_mm2": 2400.0, "bbox_mm": [20.0, 20.0, 20.0]}


def test_fdm_cube_by_hand():
    e = estimates.mesh(CUBE, "fdm", "PLA")
    # shell = min(8000, 2400 x 0.9) = 2160; extruded = 2160 + 0.15 x 5840 = 3036 mm3
    assert e.material_cm3 == pytest.approx(3.036)
    assert e.mass_g == pytest.approx(3.036 * 1.24)
    assert e.machine_time_s == pytest.approx(3.036 / 12 * 3600)  # 910.8 s at 12 cm3/h
    assert e.is_estimate and e.source == "geometry"
    assert e.assumptions["infill"] == 0.15 and e.assumptions["rate_cm3_h"] == 12.0
    assert "PrusaSlicer" in e.assumptions["density_source"]
    assert e.to_json()["is_estimate"] is True and e.to_json()["machine_time_s"] == 911


def test_fdm_thin_part_is_all_shell():
    e = estimates.mesh({"volume_mm3": 1000.0, "area_mm2": 2000.0, "bbox_mm": [50, 20, 1]}, "fdm", "PETG")
    assert e.material_cm3 == pytest.approx(1.0) and e.mass_g == pytest.approx(1.27)


def test_machine_rate_and_unknown_material():
    e = estimates.mesh(CUBE, "fdm", "Mystery filament", rate_cm3_h=24)
    assert e.machine_time_s == pytest.approx(3.036 / 24 * 3600)
    assert e.mass_g == pytest.approx(3.036 * 1.24) and "not in the vocabulary" in e.assumptions["density_source"]


def test_sla_and_sls_follow_height_and_volume():
    flat = {"volume_mm3": 8000.0, "area_mm2": 2400.0, "bbox_mm": [40.0, 20.0, 10.0]}
    sla = estimates.mesh(flat, "sla", "resin")
    assert sla.machine_time_s == pytest.approx(200 * 8)  # 10 mm / 0.05 mm layers x 8 s
    assert sla.material_cm3 == pytest.approx(8.8) and sla.mass_g == pytest.approx(8.8 * 1.10)
    sls = estimates.mesh(flat, "sls", "PA 2200")
    assert sls.machine_time_s == pytest.approx(100 * 12) and sls.mass_g == pytest.approx(8 * 0.93)


def test_cutting_time_and_sheet_by_hand():
    m = {"cut_length_mm": 1500.0, "closed_contours": 3, "open_contours": 1, "extents_mm": [300.0, 200.0]}
    e = estimates.drawing(m, "laser_cutting", "plywood", thickness_mm=3)
    assert e.machine_time_s == pytest.approx(1500 / 15 + 4 * 1.0)
    assert e.sheet_m2 == pytest.approx(0.06) and e.mass_g == pytest.approx(180 * 0.68)
    routed = estimates.drawing(m, "cnc_routing", "MDF", speed_mm_s=30)
    assert routed.machine_time_s == pytest.approx(1500 / 30 + 4 * 4.0) and routed.mass_g == 0
    assert "thickness" in routed.assumptions["mass"]


def test_missing_geometry_says_so():
    with pytest.raises(estimates.EstimateError) as e:
        estimates.mesh({"volume_mm3": 10}, "fdm", "PLA")
    assert e.value.code == "no_geometry"
    with pytest.raises(estimates.EstimateError) as e:
        estimates.drawing(CUBE, "fdm", "PLA")
    assert e.value.code == "wrong_kind"


def test_calibration_uses_the_median_of_the_last_twenty():
    history = [(100.0, 300.0)] * 5 + [(100.0, 100.0 + i) for i in range(20)]  # old jobs were 3x slower
    cal = estimates.calibration(history)
    assert cal is not None and cal.n == 20
    assert cal.factor == pytest.approx(1.095)  # median of 1.00 .. 1.19
    e = estimates.calibrated(estimates.mesh(CUBE, "fdm", "PLA"), cal)
    assert e.source == "history" and e.machine_time_s == pytest.approx(910.8 * 1.095)
    assert e.assumptions["calibration"]["jobs"] == 20 and e.assumptions["calibration"]["from"] == "geometry"
    assert estimates.calibration([(0, 10), (10, 0)]) is None
    assert estimates.calibrated(e, None) is e
