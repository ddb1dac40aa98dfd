"""Open Know-How manifests (OKH-LOSH, ``okh.toml``) for designs in the commons.

The hub answers ``GET /api/v1/designs/{id}/okh`` with :func:`build_manifest`, fed with the
same JSON it serialises for the API (API.md), so these are the shapes read here (extra
keys are ignored, keys marked ``?`` may be missing)::

    design = {
        "id": 12,
        "title": "Cable clip",
        "description"?: "Holds a 6 mm cable under a desk",   # "" or None: title is used
        "license": {"id": "CERN-OHL-S-2.0", ...},             # or the SPDX id as a string
        "owner": {"id"?: 3, "name": "Ada"},
        "derived_from"?: 7 | None,                            # id of the parent design
        "tags"?: ["clip", "desk"],
    }
    version = {
        "number": 2,
        "created_at"?: "2024-05-01T10:00:00Z",
        "changelog"?: "thicker walls",
        "files": [{
            "id": 40, "filename": "clip.stl", "kind": "mesh" | "drawing" | "other",
            "requirements"?: {"processes": ["fdm", "sla"], "bbox_mm": [x, y, z],
                              "sheet_mm"?: [x, y]},
            "validation"?: {"status": "passed" | "warnings" | "failed" | "pending", ...},
            "thumbnail_url"?: "/api/v1/files/40/thumbnail.png",
        }, ...],
        "evidence"?: {"readiness": "OTRL-4" | "OTRL-5" | None, ...},   # design_commons.evidence
    }

Lengths are in mm. The manifest's ``repo`` is the design's page on the hub
(``<base_url>/designs/<id>``); each part's ``source`` and ``export`` are the URL of the
file's content (``<base_url>/api/v1/files/<id>/content``). The schema is the Internet of
Production Alliance's ``okh.schema.json`` (OKH-LOSH, draft-07); see
``shared/standards/README.md``.
"""
from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import tomli_w

from design_commons.licences import LicenceRefused, lookup

OKHV = "OKH-LOSHv1.0"
REQUIRED_KEYS: tuple[str, ...] = (
    "okhv", "name", "repo", "version", "license", "licensor", "function"
)

# Technology-specific Documentation Criteria (DIN SPEC 3105-1) for each process of DESIGN.md.
# Vinyl cutting has no TsDC of its own.
TSDC_BY_PROCESS: dict[str, str] = {
    "fdm": "3DP",
    "sla": "3DP",
    "sls": "3DP",
    "cnc_milling": "CNC",
    "cnc_routing": "CNC",
    "laser_cutting": "LAS",
    "laser_engraving": "LAS",
}
_MANUFACTURABLE_KINDS = ("mesh", "drawing")
#: The readiness levels the hub's evidence of making can support (``design_commons.evidence.Readiness``).
EVIDENCED_READINESS = ("OTRL-4", "OTRL-5")
_TRL = {f"OTRL-{n}" for n in range(1, 7)}


def _tsdc(processes: Iterable[str]) -> list[str]:
    codes: list[str] = []
    for process in processes:
        code = TSDC_BY_PROCESS.get(str(process))
        if code and code not in codes:
            codes.append(code)
    return codes


def _dimensions(requirements: Mapping[str, Any]) -> dict[str, float] | None:
    """``{"width", "depth", "height"}`` in mm from ``bbox_mm`` (x, y, z) or ``sheet_mm`` (x, y)."""
    box = requirements.get("bbox_mm") or requirements.get("sheet_mm")
    if not isinstance(box, Sequence) or len(box) not in (2, 3):
        return None
    try:
        dims = [float(v) for v in box] + ([0.0] if len(box) == 2 else [])
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(d) and d >= 0 for d in dims):
        return None
    return {"width": round(dims[0], 3), "depth": round(dims[1], 3), "height": round(dims[2], 3)}


def _manufacturable(file: Mapping[str, Any]) -> bool:
    """Meshes and drawings whose validation did not fail (a failed file cannot be ordered)."""
    if file.get("kind") not in _MANUFACTURABLE_KINDS:
        return False
    validation = file.get("validation")
    return not (isinstance(validation, Mapping) and validation.get("status") == "failed")


def _absolute(url: str, base: str) -> str:
    return url if url.startswith(("http://", "https://")) else base + "/" + url.lstrip("/")


def _licence_id(design: Mapping[str, Any]) -> str:
    raw = design.get("license")
    spdx_id = str(raw.get("id", "")) if isinstance(raw, Mapping) else str(raw or "")
    try:
        return lookup(spdx_id).id
    except LicenceRefused:
        return spdx_id  # keep what the design says; the hub refused bad licences long before


def build_manifest(design: Mapping[str, Any], version: Mapping[str, Any], base_url: str) -> str:
    """The OKH-LOSH manifest (TOML text) of one version of a design.

    ``design`` and ``version`` have the shapes in the module docstring (the API's Design
    JSON and one item of its ``versions``); ``base_url`` is the hub's public root, e.g.
    ``https://hub.example.org`` (a trailing slash is ignored).

    Top-level ``tsdc`` gathers the parts' codes (``3DP`` for printing, ``LAS`` for laser,
    ``CNC`` for milling and routing); ``outer-dimensions`` is the bounding box of the part
    with the largest box volume; ``derivative-of`` (an OKH v1 key, allowed as an extra) is
    the parent design's page. Files that are not meshes or drawings, or whose validation
    failed, are not listed as parts.
    """
    base = base_url.rstrip("/")
    design_id = design["id"]
    repo = f"{base}/designs/{design_id}"
    number = version.get("number", "")
    title = str(design.get("title") or "").strip() or f"Design {design_id}"
    owner = design.get("owner")
    licensor = str(owner.get("name", "")) if isinstance(owner, Mapping) else str(owner or "")
    description = str(design.get("description") or "").strip()

    manifest: dict[str, Any] = {
        "okhv": OKHV,
        "name": title,
        "repo": repo,
        "version": str(number),
        "release": f"{repo}?version={number}",
        "license": _licence_id(design),
        "licensor": licensor.strip() or "unknown",
        "function": description or title,
        "documentation-language": "en",
    }
    evidence = version.get("evidence")
    readiness = evidence.get("readiness") if isinstance(evidence, Mapping) else None
    if readiness in EVIDENCED_READINESS:
        # only as far as the hub's evidence goes (confirmed makes), with the evidence as attestation
        manifest["technology-readiness-level"] = readiness
        manifest["attestation"] = f"{base}/api/v1/designs/{design_id}/evidence"
    tags = [str(t) for t in design.get("tags") or [] if str(t).strip()]
    if tags:
        manifest["keywords"] = tags
    if design.get("derived_from") is not None:
        manifest["derivative-of"] = f"{base}/designs/{design['derived_from']}"

    parts: list[dict[str, Any]] = []
    tsdc: list[str] = []
    largest: tuple[tuple[float, float], dict[str, float]] | None = None
    image: str | None = None
    for file in version.get("files") or []:
        if not isinstance(file, Mapping) or not _manufacturable(file):
            continue
        url = f"{base}/api/v1/files/{file['id']}/content"
        part: dict[str, Any] = {"name": str(file.get("filename") or f"file-{file['id']}")}
        requirements = file.get("requirements") or {}
        codes = _tsdc(requirements.get("processes") or [])
        if codes:
            part["tsdc"] = codes
            tsdc += [c for c in codes if c not in tsdc]
        part["source"] = url
        part["export"] = [url]
        thumbnail = file.get("thumbnail_url")
        if thumbnail:
            part["image"] = _absolute(str(thumbnail), base)
            image = image or part["image"]
        dims = _dimensions(requirements)
        if dims is not None:
            part["outer-dimensions"] = dims
            area = dims["width"] * dims["depth"]
            box = (area * dims["height"], area)  # flat drawings compare by area
            if largest is None or box > largest[0]:
                largest = (box, dims)
        parts.append(part)

    if image:
        manifest["image"] = image
    if tsdc:
        manifest["tsdc"] = tsdc
    if largest is not None:
        manifest["outer-dimensions"] = dict(largest[1])
    if parts:
        manifest["part"] = parts
    return tomli_w.dumps(manifest)


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) > 8


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_dimensions(value: Any, where: str) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{where} must be a table with width, depth and height in mm"]
    problems = []
    for key in ("width", "depth", "height"):
        number = value.get(key)
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            problems.append(f"{where}.{key} must be a number (mm)")
    return problems


def _check_tsdc(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return []
    return [f"{where} must be a TsDC code or a list of them"]


def validate_manifest(toml_text: str) -> list[str]:
    """Problems with an OKH-LOSH manifest; an empty list means it conforms.

    Checks the keys ``okh.schema.json`` requires (``okhv`` exactly ``OKH-LOSHv1.0``,
    ``name``, ``repo`` as an http(s) URL, ``version`` as a string or number, ``license``,
    ``licensor`` as a string or list of strings, ``function``) and the shape of the optional
    ``tsdc``, ``outer-dimensions``, ``technology-readiness-level`` (``OTRL-1`` .. ``OTRL-6``),
    ``attestation`` (a URL) and ``[[part]]`` entries (each part has a ``name`` and a
    ``source`` or ``export``). Problems are plain sentences naming the key.
    """
    try:
        data = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        return [f"not valid TOML: {exc}"]

    problems = [f"{key} is required" for key in REQUIRED_KEYS if key not in data]
    if "okhv" in data and data["okhv"] != OKHV:
        problems.append(f"okhv must be {OKHV!r}, not {data['okhv']!r}")
    if "name" in data and not _nonempty_str(data["name"]):
        problems.append("name must be a non-empty string")
    if "repo" in data and not _is_url(data["repo"]):
        problems.append("repo must be an http(s):// URL")
    if "version" in data:
        value = data["version"]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append("version must be a string or a number")
    if "license" in data and not _nonempty_str(data["license"]):
        problems.append("license must be an SPDX license expression")
    if "licensor" in data:
        value = data["licensor"]
        ok = _nonempty_str(value) or (
            isinstance(value, list) and bool(value) and all(_nonempty_str(v) for v in value)
        )
        if not ok:
            problems.append("licensor must be a name or a list of names")
    if "function" in data and not _nonempty_str(data["function"]):
        problems.append("function must be a non-empty string")

    if "technology-readiness-level" in data and data["technology-readiness-level"] not in _TRL:
        problems.append("technology-readiness-level must be one of OTRL-1 .. OTRL-6")
    if "attestation" in data and not _is_url(data["attestation"]):
        problems.append("attestation must be an http(s):// URL")
    if "tsdc" in data:
        problems += _check_tsdc(data["tsdc"], "tsdc")
    if "outer-dimensions" in data:
        problems += _check_dimensions(data["outer-dimensions"], "outer-dimensions")
    parts = data.get("part", [])
    if not isinstance(parts, list):
        return problems + ["part must be an array of tables ([[part]])"]
    for index, part in enumerate(parts, start=1):
        where = f"part[{index}]"
        if not isinstance(part, Mapping):
            problems.append(f"{where} must be a table")
            continue
        if not _nonempty_str(part.get("name")):
            problems.append(f"{where}.name is required")
        if "source" not in part and "export" not in part:
            problems.append(f"{where} needs a source or an export")
        if "tsdc" in part:
            problems += _check_tsdc(part["tsdc"], f"{where}.tsdc")
        if "outer-dimensions" in part:
            problems += _check_dimensions(part["outer-dimensions"], f"{where}.outer-dimensions")
    return problems
