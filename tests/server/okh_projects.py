"""Open-hardware projects laid out as their repositories publish them: an ``okh.toml`` beside the part files.

The manifests are written from each project's published data (name, repository, licence, licensor,
what it does); the part files are the real ones the shared corpus copied from those repositories.
They are laid out in a test's temporary folder and never shipped.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import CORPUS

STANDARDS = CORPUS.parent / "standards"

OPENFLEXURE = '''okhv = "OKH-LOSHv1.0"
name = "OpenFlexure Microscope"
repo = "https://gitlab.com/openflexure/openflexure-microscope"
version = "5.20"
license = "CERN-OHL-1.2"
licensor = "Richard Bowman"
organization = "OpenFlexure"
function = """A 3D printed microscope with a precise mechanical stage that moves by flexing plastic parts,
for lab-grade microscopy where a commercial microscope cannot be had."""
documentation-language = "en"
keywords = ["microscope", "laboratory", "3d-printing"]
tsdc = "3DP"
readme = "README.md"

[[part]]
name = "Feet"
tsdc = "3DP"
export = ["printed/feet.stl"]

[[part]]
name = "Small gear"
tsdc = "3DP"
source = "openscad/small_gear.scad"
export = "printed/small_gear.stl"

[[part]]
name = "Sample clips"
export = ["printed/sample_clips.stl", "https://build.openflexure.org/sample_clips.stl"]

[[part]]
name = "Optics module"
export = ["printed/optics_picamera_2.stl", "../../outside/optics.stl"]
'''

LOW_FEET = '''okhv = "OKH-LOSHv1.0"
name = "OpenFlexure Microscope, low-profile feet"
repo = "https://gitlab.com/example/openflexure-low-feet"
version = "1.0.0"
license = "CERN-OHL-1.2"
licensor = {name = "A. Remixer"}
function = "The microscope's feet, lower, for a stage that sits closer to the bench."
fork-of = "https://gitlab.com/openflexure/openflexure-microscope"

[[part]]
name = "Feet"
export = "feet.stl"
'''

ATLES = '''okhv = "OKH-LOSHv1.0"
name = "ATLeS enclosure"
repo = "https://github.com/liffiton/ATLeS"
version = "1.0"
license = "MIT"
licensor = "Mark Liffiton"
function = """The laser-cut hardboard box and printed camera case of ATLeS,
the Automated Tracking and Learning System for fish behaviour."""
tsdc = ["LAS", "3DP"]

[[part]]
name = "Side panel"
tsdc = "LAS"
export = "laser/side1.dxf"

[[part]]
name = "Top panel"
tsdc = "LAS"
export = "laser/top.dxf"

[[part]]
name = "Camera enclosure"
tsdc = "3DP"
export = "printed/piCameraEnclosure.stl"
'''

NON_COMMERCIAL = '''okhv = "OKH-LOSHv1.0"
name = "Desk organiser (non-commercial)"
repo = "https://example.org/desk-organiser"
version = "1"
license = "CC-BY-NC-SA-4.0"
licensor = "Some Designer"
function = "Trays for pens and clips."

[[part]]
name = "Tray"
export = "tray.stl"
'''


def corpus(*names: str) -> list[Path]:
    paths = [CORPUS / n for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"the shared corpus file {missing[0]} is absent")
    return paths


def _lay(root: Path, manifest_name: str, manifest: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / manifest_name).write_text(manifest, encoding="utf-8")
    for target, source in files.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus(source)[0], root / target)
    return root


def openflexure(root: Path) -> Path:
    return _lay(root, "okh.toml", OPENFLEXURE, {
        "printed/feet.stl": "meshes/ofm_feet.stl", "printed/small_gear.stl": "meshes/ofm_small_gear.stl",
        "printed/sample_clips.stl": "meshes/ofm_sample_clips.stl"})


def low_feet(root: Path) -> Path:
    return _lay(root, "okh.toml", LOW_FEET, {"feet.stl": "meshes/ofm_feet.stl"})


def atles(root: Path) -> Path:
    return _lay(root, "okh.toml", ATLES, {
        "laser/side1.dxf": "drawings/atles_side1.dxf", "laser/top.dxf": "drawings/atles_top.dxf",
        "printed/piCameraEnclosure.stl": "meshes/atles_piCameraEnclosure.stl"})


def losh_dummy(root: Path) -> Path:
    """OPEN-NEXT's sample project as published: its okh.toml (OKH v2.0), and a part with its own manifest."""
    (manifest,) = corpus("places/losh_okh.toml")
    (part_manifest,) = corpus("places/losh_okh-ClampRing.toml")
    _lay(root, "okh.toml", manifest.read_text(encoding="utf-8"),
         {"3DParts/ClampRing/ClampRing.stl": "meshes/losh_ClampRing.stl"})
    shutil.copyfile(part_manifest, root / "3DParts" / "ClampRing" / "okh-ClampRing.toml")
    return root


def template(root: Path) -> Path:
    """The OKH-LOSH template as published: 'the-SPDX-ID' is no licence."""
    path = STANDARDS / "okh-losh-template.toml"
    if not path.is_file():
        pytest.skip("shared/standards/okh-losh-template.toml is absent")
    return _lay(root, "okh.toml", path.read_text(encoding="utf-8"), {"xxx.stl": "meshes/ofm_feet.stl"})


def non_commercial(root: Path) -> Path:
    return _lay(root, "okh.toml", NON_COMMERCIAL, {"tray.stl": "meshes/ofm_feet.stl"})


def every_project(root: Path) -> Path:
    """All of the above side by side in one folder; the fork comes first, before its parent."""
    low_feet(root / "a-low-feet")
    openflexure(root / "openflexure")
    atles(root / "atles")
    losh_dummy(root / "losh")
    template(root / "template")
    non_commercial(root / "organiser")
    return root
