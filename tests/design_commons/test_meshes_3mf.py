"""3MF: zip limits, hostile XML, units, components and build items, fast vertex reading."""
from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest
import trimesh

from design_commons.limits import DEFAULT_LIMITS, Limits
from design_commons.meshes import read_mesh
from design_commons.meshes.model_xml import _read_triangles_slowly, _read_vertices_slowly, read_triangles, read_vertices
from design_commons.meshes.threemf import read_3mf
from design_commons.reports import LimitExceeded, UnreadableFile
from design_commons.validation import Validation, validate

CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel0" '
        'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>')


def mesh_xml(mesh: trimesh.Trimesh, vertex: str = 'x="{0}" y="{1}" z="{2}"',
             triangle: str = 'v1="{0}" v2="{1}" v3="{2}"') -> str:
    vertices = "".join(f"<vertex {vertex.format(*v)}/>" for v in mesh.vertices.tolist())
    triangles = "".join(f"<triangle {triangle.format(*f)}/>" for f in mesh.faces.tolist())
    return f"<mesh><vertices>{vertices}</vertices><triangles>{triangles}</triangles></mesh>"


def model(resources: str, build: str | None, unit: str = "millimeter", prolog: str = "") -> str:
    build_xml = "" if build is None else f"<build>{build}</build>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<model unit="{unit}" xmlns="{CORE}">'
            f"<resources>{resources}</resources>{build_xml}</model>")


def package(model_xml: str | bytes, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("_rels/.rels", RELS)
        archive.writestr("3D/3dmodel.model", model_xml)
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return out.getvalue()


def box_3mf(unit: str = "millimeter", **kwargs: str) -> bytes:
    box = trimesh.creation.box(extents=(10.0, 20.0, 30.0))
    return package(model(f'<object id="1" type="model">{mesh_xml(box, **kwargs)}</object>',
                         '<item objectid="1"/>', unit))


def codes(result: Validation) -> set[str]:
    return {issue.code for issue in result.report.issues}


def test_box_3mf_passes() -> None:
    result = validate(box_3mf(), "box.3mf")
    assert result.report.status.value == "passed", result.report.to_dict()
    assert result.report.metrics["bbox_mm"] == pytest.approx([10, 20, 30])
    assert result.report.metrics["volume_mm3"] == pytest.approx(6000)
    assert result.report.metrics["objects"] == 1 and result.report.metrics["build_items"] == 1


def test_the_model_unit_wins_over_the_stated_unit() -> None:
    result = validate(box_3mf(unit="inch"), "box.3MF", unit="mm")
    assert result.report.metrics["unit"] == "in"
    assert result.report.metrics["bbox_mm"] == pytest.approx([254, 508, 762])
    assert "unit_from_file" in codes(result)


@pytest.mark.parametrize("unit", ["micron", "millimeter", "centimeter", "inch", "foot", "meter"])
def test_every_3mf_unit_is_understood(unit: str) -> None:
    assert validate(box_3mf(unit=unit), "box.3mf").report.metrics["triangles"] == 12


def test_attribute_order_and_optional_attributes_do_not_matter() -> None:
    shuffled = box_3mf(vertex='z="{2}" x="{0}" y="{1}"', triangle='pid="3" v3="{2}" p1="0" v1="{0}" v2="{1}"')
    assert read_mesh(shuffled, "3mf").triangles.tolist() == read_mesh(box_3mf(), "3mf").triangles.tolist()


def test_fast_readers_agree_with_the_element_by_element_readers() -> None:
    rng = np.random.default_rng(7)
    points = rng.normal(size=(200, 3)) * [1e-6, 1.0, 1e6]
    content = "".join(f'<vertex x="{x!r}" y="{y:.4f}" z="{z:.0f}"/>' for x, y, z in points.tolist()).encode()
    assert np.allclose(read_vertices(b"vertices", content), _read_vertices_slowly(b"<vertex", content, 200))
    faces = rng.integers(0, 200, size=(50, 3))
    content = "".join(f'<triangle v2="{b}" v1="{a}" v3="{c}" pid="1"/>' for a, b, c in faces).encode()
    assert (read_triangles(b"triangles", content) == _read_triangles_slowly(b"<triangle", content, 50)).all()
    assert (read_triangles(b"triangles", content) == faces).all()


@pytest.mark.parametrize("prolog", ['<!DOCTYPE model [<!ENTITY a "aaaa">]>', '<!ENTITY a "aaaa">'])
def test_doctype_or_entity_is_refused(prolog: str) -> None:
    data = package(model("", '<item objectid="1"/>', prolog=prolog))
    result = validate(data, "evil.3mf")
    assert codes(result) == {"parse_error"}
    assert "DOCTYPE or ENTITY" in result.report.issues[0].message


def test_zip_bomb_is_refused_before_extraction() -> None:
    padding = "<!--" + " " * 20_000_000 + "-->"  # compresses about 1000 to 1
    data = package(model("", '<item objectid="1"/>').replace("<resources>", padding + "<resources>"))
    result = validate(data, "bomb.3mf")
    assert codes(result) == {"too_large"}
    assert "zip bomb" in result.report.issues[0].message


@pytest.mark.parametrize("limits", [Limits(max_zip_entry_bytes=500), Limits(max_zip_entries=1),
                                    Limits(max_zip_total_bytes=1000), Limits(max_triangles=6)])
def test_archive_and_mesh_limits(limits: Limits) -> None:
    assert codes(validate(box_3mf(), "box.3mf", limits=limits)) == {"too_large"}


def test_components_with_transforms_are_placed() -> None:
    box = trimesh.creation.box(extents=(10.0, 10.0, 10.0))
    resources = (f'<object id="1" type="model">{mesh_xml(box)}</object>'
                 '<object id="2" type="model"><components>'
                 '<component objectid="1"/>'
                 '<component objectid="1" transform="1 0 0 0 1 0 0 0 1 30 0 0"/>'
                 '</components></object>'
                 f'<object id="3" type="model">{mesh_xml(box)}</object>')  # not in the build
    data = package(model(resources, '<item objectid="2" transform="2 0 0 0 1 0 0 0 1 0 0 5"/>'))
    metrics = validate(data, "parts.3mf").report.metrics
    assert metrics["triangles"] == 24 and metrics["bodies"] == 2
    assert metrics["bbox_mm"] == pytest.approx([80, 10, 10])
    assert metrics["bbox_min_mm"] == pytest.approx([-10, -5, 0])
    assert metrics["volume_mm3"] == pytest.approx(4000)


def test_mirroring_transform_keeps_faces_outward() -> None:
    box = trimesh.creation.box(extents=(10.0, 10.0, 10.0))
    data = package(model(f'<object id="1" type="model">{mesh_xml(box)}</object>',
                         '<item objectid="1" transform="-1 0 0 0 1 0 0 0 1 0 0 0"/>'))
    assert validate(data, "mirror.3mf").report.status.value == "passed"


def test_component_cycle_is_refused() -> None:
    resources = ('<object id="1" type="model"><components><component objectid="2"/></components></object>'
                 '<object id="2" type="model"><components><component objectid="1"/></components></object>')
    result = validate(package(model(resources, '<item objectid="1"/>')), "cycle.3mf")
    assert codes(result) == {"parse_error"} and "itself" in result.report.issues[0].message


def test_missing_build_or_missing_object_fails() -> None:
    box = trimesh.creation.box()
    resources = f'<object id="1" type="model">{mesh_xml(box)}</object>'
    assert codes(validate(package(model(resources, None)), "a.3mf")) == {"parse_error"}
    assert codes(validate(package(model(resources, '<item objectid="9"/>')), "a.3mf")) == {"parse_error"}


def test_non_utf8_model_is_a_parse_error() -> None:
    text = model('<object id="1" type="model" name="caf\u00e9"><mesh/></object>', '<item objectid="1"/>')
    result = validate(package(text.encode("latin-1")), "latin.3mf")
    assert codes(result) == {"parse_error"} and "UTF-8" in result.report.issues[0].message


def test_beam_lattice_only_object_is_empty() -> None:
    resources = ('<object id="1" type="model"><mesh><vertices><vertex x="0" y="0" z="0"/>'
                 '<vertex x="1" y="0" z="0"/></vertices><triangles/></mesh></object>')
    assert codes(validate(package(model(resources, '<item objectid="1"/>')), "beams.3mf")) == {"empty"}


def test_not_a_zip_is_a_parse_error() -> None:
    assert codes(validate(b"PK\x03\x04 not really a zip", "broken.3mf")) == {"parse_error"}


def assembly_3mf() -> bytes:
    """Two meshes, one placed through nested components with transforms, one mirrored by its item."""
    box = trimesh.creation.box(extents=(10.0, 20.0, 30.0))
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=4.0)
    shuffled = mesh_xml(sphere, vertex='y="{1}" z="{2}" x="{0}"')
    resources = (f'<object id="1" type="model">{mesh_xml(box)}</object>'
                 f'<object id="2" type="model">{shuffled}</object>'
                 '<object id="3" type="model"><components><component objectid="1"/>'
                 '<component objectid="2" transform="1 0 0 0 1 0 0 0 1 40 0 0"/></components></object>'
                 '<object id="4" type="model"><components>'
                 '<component objectid="3" transform="0 1 0 -1 0 0 0 0 1 0 0 100"/></components></object>')
    build = ('<item objectid="4" transform="2 0 0 0 1 0 0 0 1 0 0 0"/>'
             '<item objectid="2" transform="-1 0 0 0 1 0 0 0 1 0 -50 0"/>')
    return package(model(resources, build))


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 1000])
def test_elements_split_across_chunks_are_read_whole(chunk_bytes: int) -> None:
    data = assembly_3mf()
    whole = read_3mf(data, DEFAULT_LIMITS)
    chunked = read_3mf(data, DEFAULT_LIMITS, chunk_bytes=chunk_bytes)
    assert len(whole.triangles) == 12 + 2 * 320
    assert chunked.triangles.tolist() == whole.triangles.tolist()
    assert (chunked.unit, chunked.objects, chunked.build_items) == (whole.unit, whole.objects, whole.build_items)


def test_streamed_3mf_matches_the_mesh_trimesh_reads() -> None:
    data = assembly_3mf()
    ours = read_3mf(data, DEFAULT_LIMITS, chunk_bytes=100)
    theirs = trimesh.load(io.BytesIO(data), file_type="3mf", force="mesh")
    assert np.allclose(np.sort(ours.triangles.reshape(-1, 3), axis=0), np.sort(theirs.triangles.reshape(-1, 3), axis=0),
                       atol=1e-5)


@pytest.mark.parametrize("chunk_bytes", [5, 1 << 20])
def test_doctype_after_the_first_chunk_is_refused(chunk_bytes: int) -> None:
    box = trimesh.creation.box(extents=(10.0, 10.0, 10.0))
    vertices = mesh_xml(box).replace("<vertex ", '<!DOCTYPE x [<!ENTITY a "aaaa">]><vertex ', 1)
    data = package(model(f'<object id="1" type="model">{vertices}</object>', '<item objectid="1"/>'))
    with pytest.raises(UnreadableFile, match="DOCTYPE or ENTITY"):
        read_3mf(data, DEFAULT_LIMITS, chunk_bytes=chunk_bytes)
    assert codes(validate(data, "evil.3mf")) == {"parse_error"}


def test_triangle_limit_refuses_before_allocating_the_mesh() -> None:
    box = trimesh.creation.box()
    box.faces = np.random.default_rng(1).integers(0, 8, size=(240_000, 3))  # on 8 vertices
    data = package(model(f'<object id="1" type="model">{mesh_xml(box)}</object>', '<item objectid="1"/>'))
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match="more than 1,000 triangles"):
            read_3mf(data, Limits(max_triangles=1000), chunk_bytes=64 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 240_000 * 4 * 3 / 4  # a quarter of what the vertex indices alone would take


def test_placements_past_the_limit_are_refused_before_placing() -> None:
    box = trimesh.creation.box()
    items = '<item objectid="1"/>' * 100
    data = package(model(f'<object id="1" type="model">{mesh_xml(box)}</object>', items))
    with pytest.raises(LimitExceeded, match="The build places 1,200 triangles"):
        read_3mf(data, Limits(max_triangles=1000))


def test_an_unclosed_vertices_element_is_a_parse_error() -> None:
    text = model('<object id="1" type="model"><mesh><vertices><vertex x="0" y="0" z="0"/>', None)
    text = text[:text.index("</resources>")]
    assert codes(validate(package(text), "cut.3mf")) == {"parse_error"}
