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
        "language"?: "de-DE",                                 # BCP 47; else guessed from the text
    }
    version = {
        "number": 2,
        "created_at"?: "2024-05-01T10:00:00Z",
        "changelog"?: "thicker walls",
        "files": [{
            "id": 40, "filename": "clip.stl", "kind": "mesh" | "drawing" | "other",
            "requirements"?: {"processes": ["fdm", "sla"], "bbox_mm": [x, y, z],
                              "sheet_mm"?: [x, y], "thickness_mm"?: t},
            "validation"?: {"status": "passed" | "warnings" | "failed" | "pending", ...},
            "thumbnail_url"?: "/api/v1/files/40/thumbnail.png",
        }, ...],
        "evidence"?: {"readiness": "OTRL-4" | "OTRL-5" | None, ...},   # design_commons.evidence
    }

Lengths are in mm. The manifest's ``repo`` is the design's page on the hub
(``<base_url>/designs/<id>``). Every file URL ends in the file's own name
(``<base_url>/api/v1/designs/<id>/files/<file id>/<filename>``), so tools that look at the
extension see the format. The schema followed is the Internet of Production Alliance's
``okh.schema.json`` (OKH-LOSH, draft-07), in its latest state: see the README's "Open standards".
"""
from __future__ import annotations

import functools
import math
import tomllib
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import tomli_w

from design_commons.evidence import Readiness
from design_commons.licences import LicenceRefused, lookup
from design_commons.validation import DRAWING_PROCESSES, MESH_PROCESSES

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
#: The processes each kind of file can be made with (a mesh is never laser cut, a drawing never printed).
PROCESSES_BY_KIND: dict[str, tuple[str, ...]] = {"mesh": tuple(MESH_PROCESSES), "drawing": tuple(DRAWING_PROCESSES)}
#: Editable CAD sources, kept as documentation beside the mesh or drawing made from them
#: (OpenSCAD, FreeCAD, STEP, Fusion 360, Blender).
SOURCE_EXTENSIONS: tuple[str, ...] = (".scad", ".fcstd", ".step", ".stp", ".f3d", ".blend")
#: Texts shorter than this (in letters) say too little to tell their language.
MIN_LETTERS_FOR_LANGUAGE = 40
#: The readiness levels the hub's evidence of making can support.
EVIDENCED_READINESS = tuple(level.value for level in Readiness)
_TRL = {f"OTRL-{n}" for n in range(1, 7)}


def _tsdc(kind: str, processes: Iterable[str]) -> list[str]:
    codes: list[str] = []
    possible = PROCESSES_BY_KIND.get(kind, ())
    for process in processes:
        code = TSDC_BY_PROCESS.get(str(process)) if str(process) in possible else None
        if code and code not in codes:
            codes.append(code)
    return codes


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _dimensions(kind: str, requirements: Mapping[str, Any]) -> dict[str, float] | None:
    """``{"width", "depth", "height"}`` in mm, or None when a side is unknown.

    A mesh's box is its ``bbox_mm`` (x, y, z). A drawing is cut from a sheet: its width and depth
    are ``sheet_mm`` (else the x, y of ``bbox_mm``) and its height the stock's ``thickness_mm``;
    a drawing whose stock is not stated has no height, so no dimensions (never a height of 0).
    """
    if kind == "drawing":
        box = requirements.get("sheet_mm") or requirements.get("bbox_mm")
        box = list(box[:2]) + [requirements.get("thickness_mm")] if isinstance(box, Sequence) else None
    else:
        box = requirements.get("bbox_mm")
    if not isinstance(box, Sequence) or len(box) != 3:
        return None
    dims = [_positive(v) for v in box]
    if any(d is None for d in dims):
        return None
    width, depth, height = (round(float(d), 3) for d in dims)  # type: ignore[arg-type]
    return {"width": width, "depth": depth, "height": height}


def _manufacturable(file: Mapping[str, Any]) -> bool:
    """Meshes and drawings whose validation did not fail (a failed file cannot be ordered)."""
    if file.get("kind") not in PROCESSES_BY_KIND:
        return False
    validation = file.get("validation")
    return not (isinstance(validation, Mapping) and validation.get("status") == "failed")


def is_source_file(filename: str) -> bool:
    """True for an editable CAD source (``.scad``, ``.FCStd``, ``.step``/``.stp``, ``.f3d``, ``.blend``)."""
    return filename.lower().endswith(SOURCE_EXTENSIONS)


def _stem(filename: str) -> str:
    return filename.rsplit(".", 1)[0].lower()


def _absolute(url: str, base: str) -> str:
    return url if url.startswith(("http://", "https://")) else base + "/" + url.lstrip("/")


def file_url(base_url: str, design_id: Any, file: Mapping[str, Any]) -> str:
    """The file's content under a URL that ends in its own name and extension."""
    name = str(file.get("filename") or f"file-{file['id']}")
    return (f"{base_url.rstrip('/')}/api/v1/designs/{design_id}/files/{file['id']}/"
            f"{urllib.parse.quote(name, safe='')}")


def _licence_id(design: Mapping[str, Any]) -> str:
    raw = design.get("license")
    spdx_id = str(raw.get("id", "")) if isinstance(raw, Mapping) else str(raw or "")
    try:
        return lookup(spdx_id).id
    except LicenceRefused:
        return spdx_id  # keep what the design says; the hub refused bad licences long before


@functools.lru_cache(maxsize=4096)  # a design's manifest is asked for again and again; its text rarely changes
def guess_language(text: str) -> str | None:
    """The language (ISO 639-1, e.g. ``"de"``) a text is written in, or None when that cannot be told.

    Uses langdetect (a port of Google's language-detection, installed with the hub), seeded so the
    answer is the same every time; texts under :data:`MIN_LETTERS_FOR_LANGUAGE` letters, and texts
    whose likeliest language is below 90 %, give None rather than a guess.
    """
    if sum(c.isalpha() for c in text) < MIN_LETTERS_FOR_LANGUAGE:
        return None
    try:
        from langdetect import DetectorFactory, detect_langs
        from langdetect.lang_detect_exception import LangDetectException
    except ImportError:
        return None
    DetectorFactory.seed = 0
    try:
        best = max(detect_langs(text), key=lambda found: found.prob)
    except LangDetectException:
        return None
    return str(best.lang).split("-")[0] if best.prob >= 0.9 else None


def _language(design: Mapping[str, Any]) -> str | None:
    stated = design.get("language")
    if isinstance(stated, str) and stated.strip():
        return stated.strip()
    text = " ".join(str(design.get(k) or "") for k in ("title", "description"))
    return guess_language(text)


def _sources(files: Sequence[Mapping[str, Any]], parts: Sequence[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    """Which editable sources belong to which part (by position in ``parts``); key -1: the module's.

    A source belongs to the parts of the same stem (``clip.scad`` to ``clip.stl``); when the version
    has one source and none matches by name, it is the source of every part; the rest are the module's.
    """
    sources = [f for f in files if is_source_file(str(f.get("filename") or ""))]
    out: dict[int, list[Mapping[str, Any]]] = {}
    unmatched = []
    for source in sources:
        matches = [i for i, p in enumerate(parts) if _stem(str(p.get("filename") or "")) == _stem(str(source["filename"]))]
        for i in matches:
            out.setdefault(i, []).append(source)
        if not matches:
            unmatched.append(source)
    if len(sources) == 1 and unmatched and parts:
        return {i: list(sources) for i in range(len(parts))}
    if unmatched:
        out[-1] = unmatched
    return out


def build_manifest(design: Mapping[str, Any], version: Mapping[str, Any], base_url: str) -> str:
    """The OKH-LOSH manifest (TOML text) of one version of a design.

    ``design`` and ``version`` have the shapes in the module docstring (the API's Design
    JSON and one item of its ``versions``); ``base_url`` is the hub's public root, e.g.
    ``https://hub.example.org`` (a trailing slash is ignored).

    - ``licensor`` is an Agent table (``{name = "..."}``): the latest schema rejects a plain string.
    - Lineage: ``fork-of`` (the ontology's ``okh:forkOf``) and, for OKH v1 readers,
      ``derivative-of``, both the parent design's page.
    - Each mesh or drawing whose validation did not fail is a ``[[part]]``: ``export`` is the
      file itself, ``source`` the designer's editable file (.scad, .FCStd, .step, .f3d, .blend)
      when one was uploaded with it; ``tsdc`` the codes of the processes the file can be made
      with (``3DP`` printing, ``LAS`` laser, ``CNC`` milling and routing), gathered at the top.
    - ``outer-dimensions`` (mm): a mesh's bounding box; a drawing's sheet, with the stock
      thickness as its height (none when not stated). The module's is the largest part's box.
    - ``documentation-language``: the design's ``language``, else the language its title and
      description are written in, else left out.
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
        "licensor": {"name": licensor.strip() or "unknown"},
        "function": description or title,
    }
    language = _language(design)
    if language:
        manifest["documentation-language"] = language
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
        parent = f"{base}/designs/{design['derived_from']}"
        manifest["fork-of"] = parent
        manifest["derivative-of"] = parent

    files = [f for f in version.get("files") or [] if isinstance(f, Mapping) and "id" in f]
    made = [f for f in files if _manufacturable(f)]
    sources = _sources(files, made)
    parts: list[dict[str, Any]] = []
    tsdc: list[str] = []
    largest: tuple[tuple[float, float], dict[str, float]] | None = None
    image: str | None = None
    for index, file in enumerate(made):
        kind = str(file.get("kind"))
        part: dict[str, Any] = {"name": str(file.get("filename") or f"file-{file['id']}")}
        requirements = file.get("requirements") or {}
        codes = _tsdc(kind, requirements.get("processes") or [])
        if codes:
            part["tsdc"] = codes
            tsdc += [c for c in codes if c not in tsdc]
        if index in sources:
            part["source"] = [file_url(base, design_id, s) for s in sources[index]]
        part["export"] = [file_url(base, design_id, file)]
        thumbnail = file.get("thumbnail_url")
        if thumbnail:
            part["image"] = _absolute(str(thumbnail), base)
            image = image or part["image"]
        dims = _dimensions(kind, requirements)
        if dims is not None:
            part["outer-dimensions"] = dims
            area = dims["width"] * dims["depth"]
            box = (area * dims["height"], area)
            if largest is None or box > largest[0]:
                largest = (box, dims)
        parts.append(part)

    if -1 in sources:
        manifest["source"] = [file_url(base, design_id, s) for s in sources[-1]]
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


def _is_agent(value: Any) -> bool:
    """A name, or an Agent table (person or organisation) with one."""
    return _nonempty_str(value) or (isinstance(value, Mapping) and _nonempty_str(value.get("name")))


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
    ``licensor`` as a name or an Agent table with a ``name`` or a list of them, ``function``) and
    the shape of the optional ``tsdc``, ``outer-dimensions``, ``technology-readiness-level``
    (``OTRL-1`` .. ``OTRL-6``), ``attestation`` (a URL) and ``[[part]]`` entries (each part has a ``name`` and a
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
        ok = _is_agent(value) or (isinstance(value, list) and bool(value) and all(_is_agent(v) for v in value))
        if not ok:
            problems.append("licensor must be a name, an agent table with a name, or a list of them")
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
