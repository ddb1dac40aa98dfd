"""Every mesh of the shared third-party corpus goes through validate(), with a pinned verdict.

Each verdict was decided from what the file really is (see ``../shared/corpus/README.md``) and
cross-checked against trimesh where the two measure the same thing. Two deliberate differences:
bodies count faces joined through shared vertices, and faces that collapse once coincident
vertices are merged are reported as degenerate and left out of the closedness test, as a
slicer drops them (so ``trimesh_P_XPM_0331_01.3mf`` is a closed tetrahedron with a warning).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from design_commons.validation import Validation, validate

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
MESHES = CORPUS / "meshes"

pytestmark = pytest.mark.skipif(
    not MESHES.is_dir(), reason=f"the shared corpus is not at {MESHES.resolve()} (<repo>/../shared/corpus)"
)

# (file, status, issue codes): the whole set of codes, so a new or lost finding shows up.
VERDICTS = [
    # model part is not UTF-8
    ("3mfc_MUSTFAIL_Chapter2.3.2a_NonUTF_Encoding.3mf", "failed", {"parse_error"}),
    # build item -> missing object
    ("3mfc_MUSTFAIL_Chapter3.4.3.1a_NotMatchingObjectIdInBuildItem.3mf", "failed", {"parse_error"}),
    # no <build>: nothing to print
    ("3mfc_MUSTFAIL_Chapter3.4b_MissingBuildElement.3mf", "failed", {"parse_error"}),
    # two transformed items: a plate
    ("3mfc_MUSTPASS_Chapter3.2c_MultipleItemsTransform.3mf", "passed", {"multiple_bodies"}),
    # one object of two components
    ("3mfc_MUSTPASS_Chapter4.2_Components.3mf", "passed", {"multiple_bodies"}),
    ("3mfc_box.3mf", "passed", set()),
    # production extension, p:UUID
    ("3mfc_box_prod.3mf", "passed", set()),
    # 17 objects, a few collapsed faces
    ("3mfc_cube_gears.3mf", "warnings", {"degenerate_faces", "multiple_bodies"}),
    ("3mfc_multiple_cylinders.3mf", "passed", {"multiple_bodies"}),
    # beam lattice only, no triangles
    ("3mfc_pyramid.3mf", "failed", {"empty"}),
    ("admesh_block_binary.stl", "passed", set()),
    # one facet missing
    ("admesh_block_fill-holes-bad.stl", "failed", {"not_watertight"}),
    # vertices slightly off: edges do not meet
    ("admesh_block_nearby-bad.stl", "failed", {"not_watertight"}),
    # one facet flipped
    ("admesh_block_normal-directions-bad.stl", "failed", {"inconsistent_winding"}),
    # stray unconnected facets
    ("admesh_block_remove-unconnected-bad.stl", "failed", {"multiple_bodies", "not_watertight"}),
    # 70 um tall (metres) and partly flipped
    ("admesh_hourglass.stl", "failed", {"inconsistent_winding", "suspicious_scale"}),
    # print plate of 2 parts
    ("atles_piCameraEnclosure.stl", "passed", {"multiple_bodies"}),
    ("losh_ClampRing.stl", "passed", set()),
    # 3 parts, degenerate slivers
    ("ofm_feet.stl", "warnings", {"degenerate_faces", "multiple_bodies"}),
    # real part, not closed
    ("ofm_sample_clips.stl", "failed", {"degenerate_faces", "multiple_bodies", "not_watertight"}),
    ("ofm_small_gear.stl", "passed", set()),
    ("prusa_fs-lever.stl", "passed", set()),
    ("prusa_plug-aligner.stl", "passed", set()),
    ("prusa_x-end-idler.stl", "passed", set()),
    ("trimesh_1002_tray_bottom.STL", "passed", set()),
    ("trimesh_20mm-xyz-cube.stl", "passed", set()),
    ("trimesh_7_8ths_cube.stl", "passed", set()),
    # 0.044 x 0.014 x 0.047: metres
    ("trimesh_ADIS16480.STL", "warnings", {"suspicious_scale"}),
    # duplicate vertex: 2 faces collapse, the rest is a closed tetrahedron
    ("trimesh_P_XPM_0331_01.3mf", "warnings", {"degenerate_faces"}),
    ("trimesh_ballA.off", "passed", set()),
    # scan with holes, in metres
    ("trimesh_bunny.ply", "failed", {"not_watertight", "suspicious_scale"}),
    ("trimesh_busted.STL", "passed", set()),
    ("trimesh_comments.off", "passed", set()),
    # 6 shells
    ("trimesh_counter.unitsmm.STL", "passed", {"multiple_bodies"}),
    # the same part, 6 objects
    ("trimesh_counterXP.3MF", "passed", {"multiple_bodies"}),
    ("trimesh_cube_and_sphere_same_name.3mf", "passed", {"multiple_bodies"}),
    ("trimesh_empty.stl", "failed", {"empty"}),
    ("trimesh_emptyIO_stl_empty_ascii.stl", "failed", {"empty"}),
    ("trimesh_emptyIO_stl_empty_bin.stl", "failed", {"empty"}),
    ("trimesh_fandisk.obj", "passed", set()),
    # unit=inch; this export has 18 open edges (trimesh agrees)
    ("trimesh_featuretype.3MF", "failed", {"not_watertight", "unit_from_file"}),
    # 5 x 2.5 x 1.375 (inches) is a plausible small part in mm
    ("trimesh_featuretype.STL", "passed", set()),
    # in metres; extra tokens on face lines
    ("trimesh_fuze_ascii.ply", "warnings", {"suspicious_scale"}),
    # non-manifold edges, duplicate face
    ("trimesh_joined_tetrahedra.obj", "failed", {"not_watertight"}),
    # two solids with inconsistent winding
    ("trimesh_multibody.stl", "failed", {"inconsistent_winding", "multiple_bodies"}),
    ("trimesh_negative_indices.obj", "passed", set()),
    # a 2-vertex face is skipped; one triangle left
    ("trimesh_notenoughindices.obj", "failed", {"not_watertight", "skipped_faces"}),
    # 0.2286 = 9 in, in metres
    ("trimesh_octagonal_pocket.stl", "warnings", {"suspicious_scale"}),
    ("trimesh_origin_inside.STL", "passed", set()),
    # point cloud
    ("trimesh_points_ascii.ply", "failed", {"empty"}),
    # n-gon fan, not a volume
    ("trimesh_polygonfaces.obj", "failed", {"not_watertight"}),
    # 12 build items of 6 meshes
    ("trimesh_pyramids.3mf", "passed", {"multiple_bodies"}),
    # 100 loose triangles
    ("trimesh_soup.stl", "failed", {"multiple_bodies", "not_watertight", "suspicious_scale"}),
    # open surface, 3 shells
    ("trimesh_teapot.stl", "failed", {"multiple_bodies", "not_watertight"}),
    ("trimesh_tet.ply", "passed", set()),
    # tetrahedron sharing the cube's corner edges: non-manifold
    # a cube and a tetrahedron on its corner: both shells closed, touching at 3 edges (was
    # "not_watertight ... holes or gaps", which it has none of)
    ("trimesh_two_objects.obj", "warnings", {"bodies_touch"}),
    # two solid blocks, bare endsolid
    ("trimesh_two_objects_mixed_case_names.stl", "passed", {"multiple_bodies"}),
    ("trimesh_unit_cube.STL", "passed", set()),
    # pieces, degenerate faces, backslash line continuations
    ("trimesh_wallhole.obj", "failed", {"degenerate_faces", "not_watertight"}),
    ("trimesh_whitespace.off", "passed", set()),
]

_cache: dict[str, Validation] = {}


def check(name: str) -> Validation:
    if name not in _cache:
        _cache[name] = validate((MESHES / name).read_bytes(), name)
    return _cache[name]


def test_the_table_covers_every_mesh_of_the_corpus() -> None:
    assert sorted(p.name for p in MESHES.iterdir()) == sorted(name for name, _, _ in VERDICTS)


@pytest.mark.parametrize(("name", "status", "codes"), VERDICTS, ids=[v[0] for v in VERDICTS])
def test_verdict(name: str, status: str, codes: set[str]) -> None:
    result = check(name)
    report = result.report
    assert report.status.value == status, report.to_dict()
    assert {issue.code for issue in report.issues} == codes, report.to_dict()
    assert all(issue.message and issue.hint for issue in report.issues if issue.code != "unit_from_file")
    json.dumps(report.to_dict())  # the report is plain JSON
    assert (result.canonical is None) == (status == "failed")
    assert result.requirements.get("processes", []) == ([] if status == "failed" else
                                                         ["fdm", "sla", "sls", "cnc_milling"])


def test_calibration_cube_is_20_mm() -> None:
    metrics = check("trimesh_20mm-xyz-cube.stl").report.metrics
    assert metrics["bbox_mm"] == pytest.approx([20, 20, 20], abs=0.01)
    assert metrics["watertight"] and metrics["bodies"] == 1


def test_featuretype_3mf_declares_inches() -> None:
    metrics = check("trimesh_featuretype.3MF").report.metrics
    assert metrics["unit"] == "in"
    assert metrics["bbox_mm"] == pytest.approx([127.0, 63.5, 34.925], rel=1e-4)


def test_sizes_drawn_in_metres_are_named() -> None:
    for name in ("trimesh_ADIS16480.STL", "trimesh_octagonal_pocket.stl", "admesh_hourglass.stl",
                 "trimesh_bunny.ply", "trimesh_fuze_ascii.ply"):
        report = check(name).report
        assert report.metrics["probable_unit"] == "m", name
    issue = next(i for i in check("trimesh_ADIS16480.STL").report.issues if i.code == "suspicious_scale")
    assert "0.044 x 0.014 x 0.047 mm" in issue.message and "metres" in issue.message


def test_counter_as_stl_and_as_3mf_agree() -> None:
    stl = check("trimesh_counter.unitsmm.STL").report.metrics
    three = check("trimesh_counterXP.3MF").report.metrics
    assert stl["bodies"] == three["bodies"] == 6
    assert stl["volume_mm3"] == pytest.approx(three["volume_mm3"], rel=1e-4)
    assert stl["bbox_mm"] == pytest.approx(three["bbox_mm"], rel=1e-4)


def test_pyramids_build_items_and_components_are_all_placed() -> None:
    # 9 build items; 3 of them place a composed part of 2 meshes: 12 pyramids from 6 meshes.
    metrics = check("trimesh_pyramids.3mf").report.metrics
    assert metrics["build_items"] == 9 and metrics["objects"] == 6 and metrics["bodies"] == 12


def test_hourglass_winding_is_reported() -> None:
    metrics = check("admesh_hourglass.stl").report.metrics
    assert metrics["watertight"] and not metrics["winding_consistent"]
