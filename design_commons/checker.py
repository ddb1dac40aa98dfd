"""``cosmoloc validate FILE...``: check design files locally, the same report the hub gives.

Exit codes: 0 every file passed (warnings allowed), 1 some file failed, 2 a usage or I/O
error (a file that cannot be opened). It keeps going after a bad file.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from design_commons.limits import DEFAULT_LIMITS, Limits
from design_commons.validation import validate

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MARK = {"passed": "PASS", "warnings": "WARN", "failed": "FAIL"}


def check_file(path: Path, unit: str, limits: Limits) -> dict[str, Any]:
    """Validate one file; the report as a dict with ``file``, ``kind``, ``format``, ``requirements``.

    Raises OSError when the file cannot be read.
    """
    data = path.read_bytes()
    try:
        result = validate(data, path.name, unit, limits)
    except MemoryError:
        return {"file": str(path), "status": "failed", "kind": "unknown", "format": "",
                "issues": [{"code": "too_large", "severity": "error",
                            "message": "The file needs more memory than is available."}],
                "metrics": {}, "requirements": {}}
    return {"file": str(path), **result.report.to_dict(), "kind": result.kind, "format": result.format,
            "requirements": result.requirements}


def describe(report: dict[str, Any]) -> str:
    """A few human lines about one report."""
    m = report.get("metrics", {})
    facts = []
    if "triangles" in m:
        facts.append(f"{m['triangles']} triangles")
    bbox = m.get("bbox_mm") or m.get("extents_mm")
    if bbox:
        facts.append(" x ".join(f"{v:.1f}" for v in bbox) + " mm")
    if "volume_mm3" in m and m.get("watertight"):
        facts.append(f"{m['volume_mm3'] / 1000:.1f} cm3")
    if "cut_length_mm" in m:
        facts.append(f"cut {m['cut_length_mm']:.0f} mm")
    head = f"{MARK.get(report['status'], report['status'].upper())}  {report['file']}"
    if facts:
        head += f"  ({report.get('format', '')}: {', '.join(facts)})"
    lines = [head]
    for issue in report.get("issues", []):
        lines.append(f"      {issue['severity']:<7} {issue['code']}: {issue['message']}")
        if issue.get("hint") and issue["severity"] != "info":
            lines.append(f"              fix: {issue['hint']}")
    return "\n".join(lines)


def run(paths: Iterable[str], unit: str = "mm", as_json: bool = False, out: IO[str] | None = None,
        err: IO[str] | None = None, progress: Any = None, limits: Limits = DEFAULT_LIMITS) -> int:
    """Check every path, print one report each (a JSON line with ``--json``), return the exit code.

    ``progress`` is an optional callable told the name of each file as it starts.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    code = EXIT_OK
    for name in paths:
        path = Path(name)
        if progress is not None:
            progress(path.name)
        try:
            report = check_file(path, unit, limits)
        except OSError as exc:
            msg = f"cannot read {name}: {exc.strerror or exc}"
            if as_json:
                out.write(json.dumps({"file": name, "status": "error", "error": msg}) + "\n")
            err.write(f"error: {msg}\n")
            code = EXIT_USAGE
            continue
        if as_json:
            out.write(json.dumps(report) + "\n")
        else:
            out.write(describe(report) + "\n")
        out.flush()
        if report["status"] == "failed" and code == EXIT_OK:
            code = EXIT_FAILED
    return code
