"""Mesh messages that misled on real files, each pinned on a small mesh made here.

Two closed shells that touch are not "holes or gaps"; an empty ASCII PLY is empty, not
malformed; a scale warning names a unit only when one stands out.
"""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from design_commons.validation import Validation, validate


def stl(*meshes: trimesh.Trimesh) -> bytes:
    return trimesh.exchange.stl.export_stl(trimesh.util.concatenate(list(meshes)))


def codes(result: Validation) -> set[str]:
    return {issue.code for issue in result.report.issues}


def message(result: Validation, code: str) -> str:
    return next(issue.message for issue in result.report.issues if issue.code == code)


def cube(corner: tuple[float, float, float], side: float = 10.0) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(side, side, side))
    box.apply_translation(np.array(corner) + side / 2)
    return box


def test_two_cubes_sharing_an_edge_touch_rather_than_leak() -> None:
    result = validate(stl(cube((0, 0, 0)), cube((10, 10, 0))), "pair.stl")
    found = codes(result)
    assert "not_watertight" not in found and "bodies_touch" in found, result.report.to_dict()
    assert result.report.status.value == "warnings"  # a slicer fuses them: not blocking
    assert "1 non-manifold edge" in message(result, "bodies_touch")
    assert "holes" not in message(result, "bodies_touch")
    assert result.report.metrics["watertight"] is False  # the metric keeps its meaning
    assert result.canonical is not None


def test_cube_with_a_tetrahedron_on_its_corner_edge_touches() -> None:
    tetra = trimesh.convex.convex_hull([(10, 10, 0), (10, 10, 10), (20, 12, 5), (12, 20, 5)])
    result = validate(stl(cube((0, 0, 0)), tetra), "corner.stl")
    assert "bodies_touch" in codes(result) and "not_watertight" not in codes(result)


def test_a_real_hole_beside_touching_shells_is_still_not_watertight() -> None:
    pair = trimesh.util.concatenate([cube((0, 0, 0)), cube((10, 10, 0))])
    holed = trimesh.Trimesh(pair.vertices, pair.faces[1:], process=False)
    result = validate(stl(holed), "holed.stl")
    assert "not_watertight" in codes(result) and "bodies_touch" not in codes(result)


def test_empty_ascii_ply_is_empty_like_its_binary_twin() -> None:
    header = ("ply\nformat {fmt} 1.0\nelement vertex 0\nproperty float x\nproperty float y\n"
              "property float z\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n")
    ascii_result = validate(header.format(fmt="ascii").encode(), "empty.ply")
    binary_result = validate(header.format(fmt="binary_little_endian").encode(), "empty.ply")
    assert codes(binary_result) == {"empty"}
    assert codes(ascii_result) == {"empty"}, ascii_result.report.to_dict()


def test_a_part_of_metres_in_millimetres_is_not_called_micrometres() -> None:
    # 4.57 m drawn in mm: read as micrometres it would be a 4.57 mm trinket, which nobody exports
    result = validate(stl(cube((0, 0, 0), side=4570.0)), "boat.stl")
    text = message(result, "suspicious_scale")
    assert "probable_unit" not in result.report.metrics
    assert "micrometres" not in text.split("which is")[0]
    assert "no unit" in text.lower()


def test_a_chair_of_half_a_unit_offers_no_single_guess() -> None:
    # 0.53 units: as inches 13.5 mm, as metres 530 mm; neither stands out, so both are said
    result = validate(stl(cube((0, 0, 0), side=0.53)), "chair.stl")
    text = message(result, "suspicious_scale")
    assert "probable_unit" not in result.report.metrics
    assert "probably" not in text
    assert "inches" in text and "metres" in text


@pytest.mark.parametrize(("side", "unit", "expected"), [(0.047, "mm", "m"), (120_000.0, "mm", "um"),
                                                        (50.0, "m", "mm")])
def test_a_unit_that_stands_out_is_named(side: float, unit: str, expected: str) -> None:
    result = validate(stl(cube((0, 0, 0), side=side)), "part.stl", unit=unit)
    assert result.report.metrics["probable_unit"] == expected
    assert "probably drawn in" in message(result, "suspicious_scale")
