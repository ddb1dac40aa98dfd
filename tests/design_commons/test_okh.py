"""OKH-LOSH manifests built from the API's design JSON, and the manifest checker."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from design_commons.okh import OKHV, build_manifest, guess_language, validate_manifest

BASE = "https://hub.example.org/"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "places"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "standards" / "okh.schema.json"


def schema_errors(manifest: str | dict[str, Any]) -> list[str]:
    """What the iop-alliance OKH-LOSH JSON schema (vendored, see tests/standards/README.md) finds wrong."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    data = tomllib.loads(manifest) if isinstance(manifest, str) else manifest
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data))


def _design(**changes: Any) -> dict[str, Any]:
    design: dict[str, Any] = {
        "id": 12,
        "title": "Cable clip",
        "description": "Holds a 6 mm cable under a desk.",
        "tags": ["clip", "desk"],
        "license": {"id": "CERN-OHL-S-2.0", "name": "CERN OHL S", "open": True,
                    "commercial_use": True, "share_alike": True},
        "owner": {"id": 3, "name": "Ada Lovelace"},
        "derived_from": None,
        "created_at": "2024-05-01T10:00:00Z",
        "latest_version": 2,
    }
    design.update(changes)
    return design


def _version(files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    if files is None:
        files = [
            {"id": 40, "filename": "clip.stl", "kind": "mesh", "format": "stl",
             "validation": {"status": "passed", "issues": [], "metrics": {}},
             "requirements": {"processes": ["fdm", "sla", "cnc_milling"],
                              "bbox_mm": [30.0, 12.5, 8.0], "volume_mm3": 900.0}},
            {"id": 41, "filename": "base.stl", "kind": "mesh",
             "requirements": {"processes": ["fdm"], "bbox_mm": [60, 40, 10]}},
            {"id": 42, "filename": "plate.dxf", "kind": "drawing",
             "requirements": {"processes": ["laser_cutting", "cnc_routing"],
                              "bbox_mm": [100.0, 80.0, 0.0], "sheet_mm": [100.0, 80.0]}},
            {"id": 43, "filename": "README.txt", "kind": "other", "requirements": {}},
            {"id": 44, "filename": "broken.stl", "kind": "mesh",
             "validation": {"status": "failed"}, "requirements": {"processes": ["fdm"]}},
        ]
    return {"number": 2, "created_at": "2024-05-02T10:00:00Z", "changelog": "thicker walls",
            "files": files}


def test_manifest_has_the_required_keys_and_validates() -> None:
    text = build_manifest(_design(), _version(), BASE)
    data = tomllib.loads(text)
    assert data["okhv"] == OKHV == "OKH-LOSHv1.0"
    assert data["name"] == "Cable clip"
    assert data["repo"] == "https://hub.example.org/designs/12"
    assert data["version"] == "2"
    assert data["release"].startswith("https://hub.example.org/designs/12")
    assert data["license"] == "CERN-OHL-S-2.0"
    assert data["licensor"] == {"name": "Ada Lovelace"}
    assert data["function"] == "Holds a 6 mm cable under a desk."
    assert validate_manifest(text) == []
    assert schema_errors(text) == []


def test_parts_point_at_file_content_and_carry_tsdc_and_dimensions() -> None:
    data = tomllib.loads(build_manifest(_design(), _version(), BASE))
    parts = {p["name"]: p for p in data["part"]}
    assert set(parts) == {"clip.stl", "base.stl", "plate.dxf"}  # no "other", no failed file
    clip = parts["clip.stl"]
    assert clip["export"] == ["https://hub.example.org/api/v1/designs/12/files/40/clip.stl"]
    assert "source" not in clip  # no editable file was uploaded
    assert clip["tsdc"] == ["3DP", "CNC"]
    assert clip["outer-dimensions"] == {"width": 30.0, "depth": 12.5, "height": 8.0}
    assert parts["plate.dxf"]["tsdc"] == ["LAS", "CNC"]
    assert parts["plate.dxf"]["export"][0].endswith("/files/42/plate.dxf")
    assert set(data["tsdc"]) == {"3DP", "CNC", "LAS"}
    # the largest part (by bounding-box volume) gives the module's outer dimensions
    assert data["outer-dimensions"] == {"width": 60.0, "depth": 40.0, "height": 10.0}
    assert schema_errors(data) == []


def test_derived_design_links_its_parent_and_ppl_is_kept() -> None:
    design = _design(derived_from=7, license={"id": "LicenseRef-PPL"}, description="")
    data = tomllib.loads(build_manifest(design, _version(), "http://localhost:5000"))
    assert data["fork-of"] == data["derivative-of"] == "http://localhost:5000/designs/7"
    assert data["license"] == "LicenseRef-PPL"
    assert data["function"] == "Cable clip"  # no description: the title says what it is
    assert schema_errors(data) == []
    original = tomllib.loads(build_manifest(_design(), _version(), BASE))
    assert "derivative-of" not in original and "fork-of" not in original


def test_manifest_without_files_or_sizes_is_still_valid() -> None:
    text = build_manifest(_design(tags=[]), _version([]), BASE)
    data = tomllib.loads(text)
    assert "part" not in data and "outer-dimensions" not in data and "tsdc" not in data
    assert validate_manifest(text) == []
    assert schema_errors(text) == []


def test_licence_id_is_canonicalised() -> None:
    data = tomllib.loads(build_manifest(_design(license={"id": "cc-by-sa-4.0"}), _version(), BASE))
    assert data["license"] == "CC-BY-SA-4.0"


def test_validate_manifest_reports_each_problem() -> None:
    text = '\n'.join([
        'okhv = "OKH-LOSHv0.9"', 'name = ""', 'repo = "gitlab.com/x"', 'version = true',
        'license = "MIT"', 'licensor = []',
        '[[part]]', 'tsdc = 3',
    ])
    problems = validate_manifest(text)
    joined = "\n".join(problems)
    for key in ("okhv", "name", "repo", "version", "licensor", "function", "part[1].name",
                "part[1] needs a source", "part[1].tsdc"):
        assert key in joined, key
    assert not any(p.startswith("license") for p in problems)


def test_editable_sources_are_the_parts_source_and_kept_as_documentation() -> None:
    files = [
        {"id": 1, "filename": "clip.stl", "kind": "mesh", "requirements": {"processes": ["fdm"], "bbox_mm": [3, 4, 5]}},
        {"id": 2, "filename": "clip.scad", "kind": "other", "requirements": {"processes": []}},
        {"id": 3, "filename": "bracket.stl", "kind": "mesh", "requirements": {"processes": ["fdm"]}},
        {"id": 4, "filename": "Bracket.FCStd", "kind": "other"},
        {"id": 5, "filename": "assembly.step", "kind": "other"},
        {"id": 6, "filename": "notes.md", "kind": "other"},
    ]
    text = build_manifest(_design(), _version(files), BASE)
    data = tomllib.loads(text)
    parts = {p["name"]: p for p in data["part"]}
    assert set(parts) == {"clip.stl", "bracket.stl"}  # sources are documentation, not parts
    assert parts["clip.stl"]["source"] == ["https://hub.example.org/api/v1/designs/12/files/2/clip.scad"]
    assert parts["clip.stl"]["export"] == ["https://hub.example.org/api/v1/designs/12/files/1/clip.stl"]
    assert parts["bracket.stl"]["source"] == ["https://hub.example.org/api/v1/designs/12/files/4/Bracket.FCStd"]
    # a source no part is named after belongs to the whole module
    assert data["source"] == ["https://hub.example.org/api/v1/designs/12/files/5/assembly.step"]
    assert schema_errors(text) == []


def test_a_single_source_of_another_name_is_every_parts_source() -> None:
    files = [{"id": 1, "filename": "body.stl", "kind": "mesh"}, {"id": 2, "filename": "lid.3mf", "kind": "mesh"},
             {"id": 3, "filename": "enclosure.f3d", "kind": "other"}]
    data = tomllib.loads(build_manifest(_design(), _version(files), BASE))
    assert [p["source"] for p in data["part"]] == [[BASE + "api/v1/designs/12/files/3/enclosure.f3d"]] * 2
    assert "source" not in data


def test_file_urls_quote_names_and_keep_the_extension() -> None:
    files = [{"id": 9, "filename": "Halter für Rohr #2.stl", "kind": "mesh"}]
    data = tomllib.loads(build_manifest(_design(), _version(files), BASE))
    url = data["part"][0]["export"][0]
    assert url == BASE + "api/v1/designs/12/files/9/Halter%20f%C3%BCr%20Rohr%20%232.stl"
    assert url.endswith(".stl")


def test_tsdc_only_from_processes_the_kind_of_file_can_be_made_with() -> None:
    files = [{"id": 1, "filename": "a.stl", "kind": "mesh", "requirements": {"processes": ["laser_cutting", "sls"]}},
             {"id": 2, "filename": "b.dxf", "kind": "drawing", "requirements": {"processes": ["vinyl_cutting"]}},
             {"id": 3, "filename": "c.dxf", "kind": "drawing", "requirements": {"processes": []},
              "validation": {"status": "pending"}}]
    data = tomllib.loads(build_manifest(_design(), _version(files), BASE))
    parts = {p["name"]: p for p in data["part"]}
    assert parts["a.stl"]["tsdc"] == ["3DP"]  # a mesh is never laser cut
    assert "tsdc" not in parts["b.dxf"] and "tsdc" not in parts["c.dxf"]  # vinyl cutting has no TsDC; pending: none yet
    assert data["tsdc"] == ["3DP"]


def test_a_drawings_height_is_its_stock_thickness_never_zero() -> None:
    files = [{"id": 1, "filename": "side.dxf", "kind": "drawing",
              "requirements": {"processes": ["laser_cutting"], "bbox_mm": [300, 200, 0], "sheet_mm": [300, 200],
                               "thickness_mm": 3}},
             {"id": 2, "filename": "lid.dxf", "kind": "drawing",
              "requirements": {"processes": ["laser_cutting"], "bbox_mm": [100, 80, 0], "sheet_mm": [100, 80]}}]
    data = tomllib.loads(build_manifest(_design(), _version(files), BASE))
    parts = {p["name"]: p for p in data["part"]}
    assert parts["side.dxf"]["outer-dimensions"] == {"width": 300.0, "depth": 200.0, "height": 3.0}
    assert "outer-dimensions" not in parts["lid.dxf"]  # stock not stated: no made-up height
    assert data["outer-dimensions"]["height"] == 3.0
    assert schema_errors(data) == []


def test_documentation_language_comes_from_the_design() -> None:
    german = _design(title="Kabelhalter", description="Hält ein sechs Millimeter dickes Kabel unter dem "
                     "Schreibtisch fest und lässt sich ohne Werkzeug montieren.")
    data = tomllib.loads(build_manifest(german, _version(), BASE))
    assert data["documentation-language"] == "de"
    spanish = _design(title="Soporte de cable", description="Sujeta un cable de seis milímetros debajo del "
                      "escritorio y se monta sin herramientas.")
    assert tomllib.loads(build_manifest(spanish, _version(), BASE))["documentation-language"] == "es"
    stated = tomllib.loads(build_manifest(_design(language="pt-BR"), _version(), BASE))
    assert stated["documentation-language"] == "pt-BR"
    # a title alone says too little: no language rather than a wrong one
    assert "documentation-language" not in tomllib.loads(build_manifest(_design(description=""), _version(), BASE))
    assert guess_language("Kit") is None
    assert schema_errors(data) == [] and schema_errors(stated) == []


def test_the_schema_refuses_what_the_manifest_must_not_be() -> None:
    good = tomllib.loads(build_manifest(_design(), _version(), BASE))
    assert schema_errors(good) == []
    # the latest iop-alliance schema cannot tell a plain-string licensor from an Agent: it is refused
    assert any(e.startswith("licensor:") for e in schema_errors({**good, "licensor": "Ada Lovelace"}))
    assert any(e.startswith("okhv:") for e in schema_errors({**good, "okhv": "2.0"}))
    flat = {**good, "outer-dimensions": {"width": 100.0, "depth": 80.0}}
    assert any("'height' is a required property" in e for e in schema_errors(flat))


def test_validate_manifest_rejects_broken_toml() -> None:
    problems = validate_manifest("okhv = ")
    assert len(problems) == 1 and problems[0].startswith("not valid TOML")


def test_template_from_the_standard_has_only_the_openscad_dimensions_problem() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared"
    template = shared / "standards" / "okh-losh-template.toml"
    if not template.exists():
        pytest.skip("shared standards not present")
    text = template.read_text(encoding="utf-8")
    problems = validate_manifest(text)
    # The older template writes outer-dimensions as an OpenSCAD string, the schema wants mm.
    assert problems
    assert all("outer-dimensions" in p for p in problems)
    # Against the latest schema it also disagrees in mass (a table, not grams), string licensor and
    # organization, and a single standard-compliance: where the upstream states differ (README).
    keys = {e.split(":")[0] for e in schema_errors(text)}
    assert keys == {"licensor", "organization", "mass", "outer-dimensions", "part/0/mass",
                    "part/0/outer-dimensions", "standard-compliance"}


def _corpus(name: str) -> str:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {name} not present")
    return path.read_text(encoding="utf-8")


def test_losh_dummy_manifest_is_an_okh_v2_variant() -> None:
    problems = validate_manifest(_corpus("losh_okh.toml"))
    assert "okhv must be 'OKH-LOSHv1.0', not '2.0'" in problems
    # outer-dimensions is an OpenSCAD string, and the part misspells "width" as "widht"
    assert any(p.startswith("outer-dimensions must be a table") for p in problems)
    assert "part[1].outer-dimensions.width must be a number (mm)" in problems
    assert "technology-readiness-level must be one of OTRL-1 .. OTRL-6" in problems  # it says "OTLR-5"
    assert not any(p.endswith("is required") for p in problems)
    assert len(problems) == 4


def test_fairit_manifest_differs_only_in_its_okh_version() -> None:
    assert validate_manifest(_corpus("fairit_okh.toml")) == [
        "okhv must be 'OKH-LOSHv1.0', not '2.4'"
    ]


@pytest.mark.parametrize(("readiness", "expected"), [(None, None), ("OTRL-4", "OTRL-4"), ("OTRL-5", "OTRL-5"),
                                                     ("OTRL-6", None)])
def test_readiness_goes_only_as_far_as_the_evidence(readiness: str | None, expected: str | None) -> None:
    version = {**_version(), "evidence": {"verified_makes": 3, "readiness": readiness}}
    text = build_manifest(_design(), version, BASE)
    data = tomllib.loads(text)
    assert data.get("technology-readiness-level") == expected
    if expected:
        assert data["attestation"] == "https://hub.example.org/api/v1/designs/12/evidence"
    else:
        assert "attestation" not in data
    assert validate_manifest(text) == []
    assert "technology-readiness-level" not in tomllib.loads(build_manifest(_design(), _version(), BASE))


def test_a_made_up_readiness_level_is_a_problem() -> None:
    text = 'technology-readiness-level = "OTRL-9"\nattestation = "x"\n' + build_manifest(_design(), _version(), BASE)
    assert validate_manifest(text) == ["technology-readiness-level must be one of OTRL-1 .. OTRL-6",
                                       "attestation must be an http(s):// URL"]
