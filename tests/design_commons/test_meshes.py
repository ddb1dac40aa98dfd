"""Mesh validation on meshes made in the test: STL readers, analysis, issues, canonical file."""
from __future__ import annotations

import struct
import tracemalloc
from typing import Any

import numpy as np
import pytest
import trimesh

from design_commons.limits import Limits
from design_commons.meshes import PREVIEW_MAX_TRIANGLES, read_mesh
from design_commons.meshes.stl import write_binary_stl
from design_commons.validation import Validation, validate


def stl_bytes(mesh: Any) -> bytes:
    return trimesh.exchange.stl.export_stl(mesh)


def codes(result: Validation) -> set[str]:
    return {issue.code for issue in result.report.issues}


@pytest.fixture
def box() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(10.0, 20.0, 30.0))


def test_closed_box_passes_with_its_measures(box: trimesh.Trimesh) -> None:
    result = validate(stl_bytes(box), "box.stl")
    metrics = result.report.metrics
    assert result.report.status.value == "passed", result.report.to_dict()
    assert metrics["triangles"] == 12
    assert metrics["bodies"] == 1
    assert metrics["watertight"] and metrics["winding_consistent"]
    assert metrics["volume_mm3"] == pytest.approx(6000.0)
    assert metrics["area_mm2"] == pytest.approx(2200.0)
    assert metrics["bbox_mm"] == pytest.approx([10.0, 20.0, 30.0])
    assert result.requirements == {"processes": ["fdm", "sla", "sls", "cnc_milling"],
                                   "bbox_mm": pytest.approx([10.0, 20.0, 30.0]),
                                   "volume_mm3": pytest.approx(6000.0)}


def test_canonical_file_is_a_clean_binary_stl_in_mm(box: trimesh.Trimesh) -> None:
    result = validate(stl_bytes(box), "box.stl", unit="cm")
    assert result.canonical is not None and result.canonical_ext == "stl"
    assert len(result.canonical) == 84 + 50 * 12
    again = validate(result.canonical, "canonical.stl")
    assert again.report.metrics["bbox_mm"] == pytest.approx([100.0, 200.0, 300.0])
    assert again.report.status.value == "passed"


def test_stated_centimetres_scale_by_ten(box: trimesh.Trimesh) -> None:
    metrics = validate(stl_bytes(box), "box.stl", unit="cm").report.metrics
    assert metrics["bbox_mm"] == pytest.approx([100.0, 200.0, 300.0])
    assert metrics["volume_mm3"] == pytest.approx(6_000_000.0)
    assert metrics["unit"] == "cm"


def test_ascii_stl_with_several_solids_and_bare_endsolid(box: trimesh.Trimesh) -> None:
    text = trimesh.exchange.stl.export_stl_ascii(box)
    other = trimesh.exchange.stl.export_stl_ascii(box.copy().apply_translation([50, 0, 0]))
    data = (text.rsplit("endsolid", 1)[0] + "endsolid\n" + other).encode()  # bare endsolid
    result = validate(data, "PART.STL")
    assert result.report.metrics["triangles"] == 24
    assert result.report.metrics["bodies"] == 2
    assert result.report.status.value == "passed"


def test_binary_stl_whose_header_says_solid_is_read_as_binary(box: trimesh.Trimesh) -> None:
    data = bytearray(stl_bytes(box))
    data[:80] = b"solid exported by a careless program".ljust(80, b" ")
    assert validate(bytes(data), "box.stl").report.metrics["triangles"] == 12


def test_one_flipped_face_is_inconsistent_winding(box: trimesh.Trimesh) -> None:
    faces = box.faces.copy()
    faces[0] = faces[0][::-1]
    result = validate(stl_bytes(trimesh.Trimesh(box.vertices, faces, process=False)), "box.stl")
    assert "inconsistent_winding" in codes(result)
    assert result.report.status.value == "failed"
    assert result.canonical is None and result.requirements["processes"] == []


def test_all_faces_flipped_is_inverted_normals_and_the_canonical_copy_is_turned(box: trimesh.Trimesh) -> None:
    inside_out = trimesh.Trimesh(box.vertices, box.faces[:, ::-1], process=False)
    result = validate(stl_bytes(inside_out), "box.stl")
    assert codes(result) == {"inverted_normals"}
    assert result.report.status.value == "warnings"
    assert result.report.metrics["volume_mm3"] == pytest.approx(6000.0)
    assert result.canonical is not None
    assert codes(validate(result.canonical, "fixed.stl")) == set()


def test_missing_face_is_not_watertight(box: trimesh.Trimesh) -> None:
    holed = trimesh.Trimesh(box.vertices, box.faces[1:], process=False)
    result = validate(stl_bytes(holed), "box.stl")
    assert "not_watertight" in codes(result)
    assert result.report.metrics["boundary_edges"] == 3
    assert result.report.status.value == "failed"


def test_two_separate_boxes_are_two_bodies(box: trimesh.Trimesh) -> None:
    pair = trimesh.util.concatenate([box, box.copy().apply_translation([40, 0, 0])])
    result = validate(stl_bytes(pair), "plate.stl")
    assert result.report.metrics["bodies"] == 2
    assert "multiple_bodies" in codes(result)
    assert result.report.status.value == "passed"  # a plate of parts is legitimate (info)


def test_zero_area_face_is_counted_as_degenerate(box: trimesh.Trimesh) -> None:
    triangles = np.concatenate([box.triangles, [[[0, 0, 0], [1, 1, 1], [2, 2, 2]]]]).astype(np.float32)
    data = write_binary_stl(triangles, np.zeros((13, 3), np.float32))
    result = validate(data, "box.stl")
    assert result.report.metrics["degenerate_faces"] == 1
    assert "degenerate_faces" in codes(result)


def test_truncated_binary_stl_is_a_parse_error(box: trimesh.Trimesh) -> None:
    result = validate(stl_bytes(box)[:-30], "box.stl")
    assert codes(result) == {"parse_error"}
    assert "truncated" in result.report.issues[0].message


def test_header_announcing_a_billion_triangles_is_refused_before_allocation() -> None:
    data = b"\0" * 80 + struct.pack("<I", 10**9) + b"\0" * 50
    tracemalloc.start()
    result = validate(data, "huge.stl")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert codes(result) == {"parse_error"}  # the bytes cannot hold what the header promises
    assert "truncated" in result.report.issues[0].message
    assert peak < 10_000_000


def test_binary_stl_past_the_triangle_limit_is_too_large(box: trimesh.Trimesh) -> None:
    result = validate(stl_bytes(box), "box.stl", limits=Limits(max_triangles=5))
    assert codes(result) == {"too_large"}


def test_triangle_limit_applies_to_ascii_stl(box: trimesh.Trimesh) -> None:
    data = trimesh.exchange.stl.export_stl_ascii(box).encode()
    assert codes(validate(data, "box.stl", limits=Limits(max_triangles=5))) == {"too_large"}


def test_empty_stl_is_empty() -> None:
    assert codes(validate(b"solid nothing\nendsolid nothing\n", "empty.stl")) == {"empty"}
    assert codes(validate(b"\0" * 84, "empty.stl")) == {"empty"}


@pytest.mark.parametrize(("scale", "expected"), [(0.001, "m"), (1000.0, "um")])
def test_implausible_size_names_the_probable_unit(box: trimesh.Trimesh, scale: float, expected: str) -> None:
    result = validate(stl_bytes(box.copy().apply_scale(scale * 4)), "part.stl")
    assert "suspicious_scale" in codes(result)
    assert result.report.metrics["probable_unit"] == expected
    issue = next(i for i in result.report.issues if i.code == "suspicious_scale")
    assert "probably drawn in" in issue.message and issue.hint


def test_every_issue_has_a_hint(box: trimesh.Trimesh) -> None:
    broken = trimesh.Trimesh(box.vertices * 0.001, box.faces[1:], process=False)
    result = validate(stl_bytes(broken), "part.stl")
    assert result.report.issues and all(issue.hint for issue in result.report.issues)


def test_preview_is_float32_millimetres_and_bounded() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=7)  # 327,680 triangles
    result = validate(stl_bytes(sphere), "sphere.stl", unit="cm")
    assert result.preview is not None
    assert result.preview.dtype == np.float32 and result.preview.shape[1:] == (3, 3)
    assert len(result.preview) <= PREVIEW_MAX_TRIANGLES
    assert float(result.preview.max()) == pytest.approx(10.0, rel=1e-3)


def test_large_closed_mesh_is_watertight_with_the_right_volume() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=6, radius=10.0)
    metrics = validate(stl_bytes(sphere), "sphere.stl").report.metrics
    assert metrics["watertight"] and metrics["winding_consistent"] and metrics["bodies"] == 1
    assert metrics["volume_mm3"] == pytest.approx(sphere.volume, rel=1e-5)  # reported to 6 digits
    assert metrics["area_mm2"] == pytest.approx(sphere.area, rel=1e-5)


def test_reader_gives_triangles_in_the_file_unit(box: trimesh.Trimesh) -> None:
    source = read_mesh(stl_bytes(box), "stl")
    assert source.triangles.shape == (12, 3, 3) and source.triangles.dtype == np.float32
    assert source.unit is None
