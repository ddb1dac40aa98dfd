"""OKH-LOSH manifests built from the API's design JSON, and the manifest checker."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from design_commons.okh import OKHV, build_manifest, validate_manifest

BASE = "https://hub.example.org/"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "places"


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
    assert data["licensor"] == "Ada Lovelace"
    assert data["function"] == "Holds a 6 mm cable under a desk."
    assert data["documentation-language"] == "en"
    assert validate_manifest(text) == []


def test_parts_point_at_file_content_and_carry_tsdc_and_dimensions() -> None:
    data = tomllib.loads(build_manifest(_design(), _version(), BASE))
    parts = {p["name"]: p for p in data["part"]}
    assert set(parts) == {"clip.stl", "base.stl", "plate.dxf"}  # no "other", no failed file
    clip = parts["clip.stl"]
    url = "https://hub.example.org/api/v1/files/40/content"
    assert clip["export"] == [url] and clip["source"] == url
    assert clip["tsdc"] == ["3DP", "CNC"]
    assert clip["outer-dimensions"] == {"width": 30.0, "depth": 12.5, "height": 8.0}
    assert parts["plate.dxf"]["tsdc"] == ["LAS", "CNC"]
    assert set(data["tsdc"]) == {"3DP", "CNC", "LAS"}
    # the largest part (by bounding-box volume) gives the module's outer dimensions
    assert data["outer-dimensions"] == {"width": 60.0, "depth": 40.0, "height": 10.0}


def test_derived_design_links_its_parent_and_ppl_is_kept() -> None:
    design = _design(derived_from=7, license={"id": "LicenseRef-PPL"}, description="")
    data = tomllib.loads(build_manifest(design, _version(), "http://localhost:5000"))
    assert data["derivative-of"] == "http://localhost:5000/designs/7"
    assert data["license"] == "LicenseRef-PPL"
    assert data["function"] == "Cable clip"  # no description: the title says what it is
    assert "derivative-of" not in tomllib.loads(build_manifest(_design(), _version(), BASE))


def test_manifest_without_files_or_sizes_is_still_valid() -> None:
    text = build_manifest(_design(tags=[]), _version([]), BASE)
    data = tomllib.loads(text)
    assert "part" not in data and "outer-dimensions" not in data and "tsdc" not in data
    assert validate_manifest(text) == []


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


def test_validate_manifest_rejects_broken_toml() -> None:
    problems = validate_manifest("okhv = ")
    assert len(problems) == 1 and problems[0].startswith("not valid TOML")


def test_template_from_the_standard_has_only_the_openscad_dimensions_problem() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared"
    template = shared / "standards" / "okh-losh-template.toml"
    if not template.exists():
        pytest.skip("shared standards not present")
    problems = validate_manifest(template.read_text(encoding="utf-8"))
    # The older template writes outer-dimensions as an OpenSCAD string, the schema wants mm.
    assert problems
    assert all("outer-dimensions" in p for p in problems)


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
