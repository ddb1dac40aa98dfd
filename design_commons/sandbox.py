"""Validate an untrusted file in a child process with memory and CPU bounds.

One hostile file (a zip bomb, a billion-triangle header, a parser that loops) must not take
the hub down. The child is forked from a small server process that already imported the
parsers (multiprocessing's ``forkserver``), so starting one costs milliseconds, not an
interpreter start. Inside, ``RLIMIT_AS`` bounds memory and ``RLIMIT_CPU`` bounds time; the
parent also waits no longer than a wall-clock bound and kills a child that overstays.

Each child may take up to ``parse_memory_mb`` and ``parse_seconds``, so a process runs at most
a few at once: :class:`SandboxSlots` is the one counter that every caller in a process (the
anonymous check and background validation) takes a slot from.
"""
from __future__ import annotations

import json
import multiprocessing
import resource
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from design_commons.limits import DEFAULT_LIMITS, Limits
from design_commons.reports import Report

_PRELOAD = ["design_commons.validation", "design_commons.meshes", "design_commons.drawings",
            "design_commons.thumbnails", "numpy"]
_ctx: Any = None


@dataclass
class IsolatedResult:
    """What the child found: the report and requirements as JSON-ready dicts, plus output files."""

    kind: str
    format: str
    report: dict[str, Any]
    requirements: dict[str, Any]
    canonical: bytes | None
    canonical_ext: str | None
    thumbnail_png: bytes | None
    #: the verdict came from a bound (time, memory, a killed child), not from the bytes alone: on a
    #: quieter machine or with other limits the same file may pass, so it must not be reused
    resource_limited: bool = False


class SandboxBusy(Exception):
    """Every sandbox slot of this process stayed taken for the whole wait."""


class SandboxSlots:
    """At most ``size`` sandboxed children at once in this process, shared by every caller.

    Background work (``background=True``, which waits as long as it takes) holds at most
    ``size - 1`` of them when there are two or more, so a backlog of uploads never leaves the
    callers who wait on an answer (``POST /validate``) without a sandbox.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one sandbox slot")
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._background = threading.BoundedSemaphore(max(1, size - 1))

    @contextmanager
    def hold(self, wait_s: float | None = None, background: bool = False) -> Iterator[None]:
        """Hold one slot for the ``with`` block; wait ``wait_s`` seconds at most (None: as long as it takes).

        Raises :class:`SandboxBusy` when no slot came free in time.
        """
        if background and not self._background.acquire(timeout=wait_s):
            raise SandboxBusy(f"background work holds its {max(1, self.size - 1)} sandboxes")
        try:
            if not self._slots.acquire(timeout=wait_s):
                raise SandboxBusy(f"all {self.size} sandboxes are busy")
            try:
                yield
            finally:
                self._slots.release()
        finally:
            if background:
                self._background.release()


def _context() -> Any:
    global _ctx
    if _ctx is None:
        _ctx = multiprocessing.get_context("forkserver")
        _ctx.set_forkserver_preload(_PRELOAD)
    return _ctx


def _address_space_now() -> int:
    """Bytes of address space this process already has mapped (libraries, thread stacks)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _child(src: str, filename: str, unit: str, limits: Limits, out_dir: str, thumbnail: bool) -> None:
    # The bound is on what parsing may add to what the preloaded libraries already mapped.
    mem = _address_space_now() + limits.parse_memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.parse_seconds, limits.parse_seconds + 5))
    from design_commons.validation import validate

    out = Path(out_dir)
    data = Path(src).read_bytes()
    try:
        result = validate(data, filename, unit, limits)
    except MemoryError:
        (out / "memory").write_text("1")
        return
    except Exception as exc:  # a parser bug on hostile input is still the file's verdict, not a crash
        (out / "crash").write_text(f"{type(exc).__name__}: {exc}"[:300])
        return
    del data
    if result.canonical is not None:
        (out / "canonical").write_bytes(result.canonical)
    meta = {"kind": result.kind, "format": result.format, "report": result.report.to_dict(),
            "requirements": result.requirements, "canonical_ext": result.canonical_ext}
    (out / "result.json").write_text(json.dumps(meta))
    if thumbnail and result.preview is not None and len(result.preview):
        try:
            from design_commons import thumbnails

            png = (thumbnails.render_mesh(result.preview) if result.kind == "mesh"
                   else thumbnails.render_drawing(result.preview))
            (out / "thumbnail.png").write_bytes(png)
        except MemoryError:
            pass  # the report stands; the file just has no picture


def _failure(kind: str, fmt: str, code: str, message: str, hint: str, resource_limited: bool = False) -> IsolatedResult:
    report = Report()
    report.error(code, message, hint)
    return IsolatedResult(kind, fmt, report.to_dict(), {}, None, None, None, resource_limited)


def validate_isolated(path: Path, filename: str, unit: str = "mm", limits: Limits = DEFAULT_LIMITS,
                      thumbnail: bool = True) -> IsolatedResult:
    """Validate the file at ``path`` (named ``filename`` by its uploader) in a bounded child.

    Never raises for a bad file: a child that runs out of memory or time gives a report with
    ``too_large`` or ``parse_error``.
    """
    from design_commons.validation import detect_format

    with open(path, "rb") as f:
        head = f.read(256)
    kind, fmt = detect_format(filename, head)
    with tempfile.TemporaryDirectory(prefix="cosmoloc-validate-") as out_dir:
        proc = _context().Process(target=_child, args=(str(path), filename, unit, limits, out_dir, thumbnail))
        proc.start()
        proc.join(timeout=limits.parse_seconds * 2 + 10)
        if proc.is_alive():
            proc.kill()
            proc.join()
            return _failure(kind, fmt, "parse_error", "Reading the file took longer than allowed.",
                            "Simplify the model or export it again.", resource_limited=True)
        out = Path(out_dir)
        result_file = out / "result.json"
        if (out / "crash").exists():
            return _failure(kind, fmt, "parse_error",
                            f"The file could not be read ({(out / 'crash').read_text()}).",
                            "Export it again from your CAD program.")
        if not result_file.exists():
            if (out / "memory").exists() or proc.exitcode in (-9, -24, 1):
                return _failure(kind, fmt, "too_large",
                                "Reading the file needs more memory or time than the hub allows.",
                                "Reduce the triangle or entity count, or split the design into several files.",
                                resource_limited=True)
            # a child that died without a word was killed from outside (or by a bound): not the bytes' verdict
            return _failure(kind, fmt, "parse_error", "The file could not be read.",
                            "Export it again from your CAD program.", resource_limited=True)
        meta = json.loads(result_file.read_text())
        canonical = (out / "canonical").read_bytes() if (out / "canonical").exists() else None
        thumb = (out / "thumbnail.png").read_bytes() if (out / "thumbnail.png").exists() else None
        return IsolatedResult(meta["kind"], meta["format"], meta["report"], meta["requirements"],
                              canonical, meta["canonical_ext"], thumb)
