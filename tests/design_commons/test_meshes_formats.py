"""OBJ, PLY and OFF readers: quirks of real exports, limits, and never opening other files."""
from __future__ import annotations

import builtins
import struct

import numpy as np
import pytest
import trimesh

from design_commons.limits import Limits
from design_commons.meshes import read_mesh
from design_commons.validation import Validation, validate

CUBE_OBJ = b"""mtllib /etc/passwd
o cube
v 0 0 0
v 0 0 1
v 0 1 0
v 0 1 1
v 1 0 0
v 1 0 1
v 1 1 0
v 1 1 1
f 1 3 7 5
f 2 6 8 4
f 1 5 6 2
f 3 4 8 7
f 1 2 4 3
f 5 7 8 6
"""


def codes(result: Validation) -> set[str]:
    return {issue.code for issue in result.report.issues}


def test_obj_quads_become_fans_and_close_a_cube() -> None:
    result = validate(CUBE_OBJ, "cube.obj")
    assert result.report.metrics["triangles"] == 12
    assert result.report.metrics["volume_mm3"] == pytest.approx(1.0)
    assert result.report.metrics["watertight"]


def test_obj_never_opens_another_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a file was opened: {args!r}")

    monkeypatch.setattr(builtins, "open", refuse)
    assert read_mesh(CUBE_OBJ, "obj").triangles.shape == (12, 3, 3)


def test_obj_negative_indices_and_slashes() -> None:
    data = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf -4/1/1 -2//2 -3\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"
    triangles = read_mesh(data, "obj").triangles
    assert triangles[0].tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 0]]
    assert validate(data, "tet.obj").report.metrics["watertight"]


def test_obj_face_with_two_vertices_is_skipped_with_a_warning() -> None:
    result = validate(CUBE_OBJ + b"f 1 2\n", "cube.obj")
    assert "skipped_faces" in codes(result)
    assert result.report.metrics["skipped_faces"] == 1
    assert result.report.metrics["triangles"] == 12


def test_obj_index_out_of_range_is_a_parse_error() -> None:
    assert codes(validate(b"v 0 0 0\nv 1 0 0\nf 1 2 9\n", "bad.obj")) == {"parse_error"}


def test_obj_vertex_count_past_the_limit_is_refused() -> None:
    assert codes(validate(CUBE_OBJ, "cube.obj", limits=Limits(max_vertices=4))) == {"too_large"}


def test_ply_ascii_and_binary_little_endian_read_the_same() -> None:
    box = trimesh.creation.box(extents=(1, 2, 3))
    for encoding in ("ascii", "binary"):
        data = trimesh.exchange.ply.export_ply(box, encoding=encoding)
        result = validate(data, "box.ply")
        assert result.report.metrics["volume_mm3"] == pytest.approx(6.0), encoding
        assert result.report.status.value == "passed"


def _big_endian_tetrahedron() -> bytes:
    header = (b"ply\nformat binary_big_endian 1.0\nelement vertex 4\nproperty float x\n"
              b"property float y\nproperty float z\nelement face 4\n"
              b"property list uchar int vertex_indices\nend_header\n")
    vertices = struct.pack(">12f", 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1)
    faces = b"".join(struct.pack(">B3i", 3, *face) for face in ((0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)))
    return header + vertices + faces


def test_ply_binary_big_endian() -> None:
    result = validate(_big_endian_tetrahedron(), "tet.ply")
    assert result.report.metrics["volume_mm3"] == pytest.approx(1 / 6, rel=1e-5)
    assert result.report.metrics["watertight"] and result.report.status.value == "passed"


def test_ply_truncated_binary_is_a_parse_error() -> None:
    assert codes(validate(_big_endian_tetrahedron()[:-20], "tet.ply")) == {"parse_error"}


def test_ply_point_cloud_is_empty() -> None:
    data = (b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
            b"end_header\n0 0 0\n1 1 1\n")
    assert codes(validate(data, "points.ply")) == {"empty"}


def test_ply_header_past_the_limit_is_refused_before_reading() -> None:
    data = b"ply\nformat binary_little_endian 1.0\nelement vertex 4000000000\nproperty float x\nend_header\n"
    assert codes(validate(data, "huge.ply")) == {"too_large"}


def test_off_with_comments_glued_header_and_colours() -> None:
    data = b"""\t  OFF8 6 0 # counts glued to the header
# a comment line
 0 0 0
 0 0 1   # trailing comment
 0 1 0
 0 1 1
 1 0 0
 1 0 1
 1 1 0
 1 1 1
4 0 2 6 4  1.0 0.0 0.0 0.75
4 1 5 7 3
4 0 4 5 1
4 2 3 7 6
4 0 1 3 2
4 4 6 7 5
"""
    result = validate(data, "cube.off")
    assert result.report.metrics["triangles"] == 12
    assert result.report.metrics["volume_mm3"] == pytest.approx(1.0)
    assert result.report.status.value == "passed"


def test_off_truncated_is_a_parse_error() -> None:
    assert codes(validate(b"OFF\n8 6 0\n0 0 0\n", "cube.off")) == {"parse_error"}


def test_reader_output_is_float32_triangles() -> None:
    triangles = read_mesh(CUBE_OBJ, "obj").triangles
    assert triangles.dtype == np.float32 and triangles.shape == (12, 3, 3)
