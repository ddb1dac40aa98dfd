"""DXF drawing validation speed and memory, measured against ezdxf's readfile in the same run.

Generates ASCII DXF drawings of lines, slots (lines and arcs), polylines with bulges, circles,
arcs and splines at 1k, 10k, 100k entities and the 200k limit, then measures:

  (a) baseline: ``ezdxf.readfile`` of the same file (a whole document, nothing checked);
  (b) our full validation (report, contours, cut length, canonical DXF, preview) with the
      one-pass reader, as a ratio to (a), and "before": the same validation through a whole
      ezdxf document (``one_pass=False``, the path every file took before, and still the path
      of files the one-pass reader steps aside for);
  (c) where the time goes: each step of the one-pass validation timed on its own (with
      ``--document-steps`` also the steps of the document path);
  (d) ezdxf's lighter readers on the same file: ``iterdxf.single_pass_modelspace`` and the
      low-level tag loader alone, as ratios to (a);
  (e) peak memory of both validations, in a fresh child process per file and path:
      tracemalloc peak and the growth of VmHWM, both against the file size.

Targets: (b) <= 1.0x readfile at 10k and 100k entities; (e) <= 8x the file size.

    python benchmarks/drawing_validation.py            # 1k, 10k, 100k and 200k entities
    python benchmarks/drawing_validation.py --quick    # 1k and 10k only
"""
from __future__ import annotations

import argparse
import gc
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ezdxf
from ezdxf.addons import iterdxf
from ezdxf.lldxf.tagger import ascii_tags_loader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# One memory probe for every benchmark: a fresh child validates the file.
from benchmarks.mesh_validation import measure_memory, memory_child, print_table  # noqa: E402
from design_commons.drawings.blocks import MAX_BLOCK_DEPTH, expanded_entity_count  # noqa: E402
from design_commons.drawings.canonical import preview_segments, write_canonical  # noqa: E402
from design_commons.drawings.contours import Contour, chain_paths, contour_lengths, pack  # noqa: E402
from design_commons.drawings.drawing_units import resolve_units  # noqa: E402
from design_commons.drawings.fastread import read_fast  # noqa: E402
from design_commons.drawings.flatten import flatten_modelspace  # noqa: E402
from design_commons.drawings.inspection import validate_drawing  # noqa: E402
from design_commons.drawings.reading import check_record_count, load_drawing  # noqa: E402
from design_commons.limits import DEFAULT_LIMITS  # noqa: E402

#: Entities in one cell of the generated sheet: a rectangle of 4 LINEs, a slot of 2 LINEs and
#: 2 ARCs, a closed LWPOLYLINE with bulges, a CIRCLE, a lone ARC and a SPLINE; 12 in all.
CELL = 12
PITCH = 40.0  # mm between cells


def make_drawing(entities: int) -> ezdxf.document.Drawing:
    """An R2010 drawing in mm with about ``entities`` model-space entities in a square grid."""
    doc = ezdxf.new("R2010")
    doc.units = ezdxf.units.MM
    msp = doc.modelspace()
    cells = max(1, entities // CELL)  # never past the limit when asked for exactly the limit
    side = math.ceil(math.sqrt(cells))
    for i in range(cells):
        x, y = PITCH * (i % side), PITCH * (i // side)
        corners = [(x, y), (x + 30, y), (x + 30, y + 30), (x, y + 30)]
        for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
            msp.add_line(a, b)
        msp.add_line((x + 5, y + 5), (x + 15, y + 5))  # a slot: two lines, two half circles
        msp.add_line((x + 15, y + 8), (x + 5, y + 8))
        msp.add_arc((x + 15, y + 6.5), 1.5, -90, 90)
        msp.add_arc((x + 5, y + 6.5), 1.5, 90, 270)
        msp.add_lwpolyline([(x + 18, y + 4, 0, 0, 0.5), (x + 26, y + 4, 0, 0, 0.0), (x + 26, y + 12, 0, 0, -0.4),
                            (x + 18, y + 12)], format="xyseb", close=True)
        msp.add_circle((x + 10, y + 20), 4)
        msp.add_arc((x + 22, y + 20), 3, 0, 180)
        msp.add_spline([(x + 4, y + 26), (x + 10, y + 28), (x + 16, y + 25), (x + 26, y + 27)])
    return doc


def readfile(path: Path) -> None:
    ezdxf.readfile(str(path))


def single_pass(path: Path) -> int:
    return sum(1 for _ in iterdxf.single_pass_modelspace(open(path, "rb")))  # noqa: SIM115


def tag_loader(path: Path) -> int:
    with open(path, encoding="utf-8", errors="surrogateescape") as stream:
        return sum(1 for _ in ascii_tags_loader(stream))


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, function: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = function()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        return value


def steps(data: bytes) -> dict[str, float]:
    """Seconds per step of :func:`design_commons.drawings.validate_drawing` with the one-pass reader."""
    timed = _Clock()
    timed("record count", lambda: check_record_count(data, DEFAULT_LIMITS))
    read = timed("one-pass read and flatten", lambda: read_fast(data, "mm", DEFAULT_LIMITS))
    assert read is not None, "the one-pass reader stepped aside for the benchmark drawing"
    paths, loops = read.shapes.release()
    chained = timed("chain contours", lambda: chain_paths(paths, 0.01))
    packed = timed("pack", lambda: pack([Contour(points, True) for points in loops] + chained.contours))
    timed("cut length", lambda: contour_lengths(packed))
    timed("canonical DXF", lambda: write_canonical(packed, read.shapes.circles, read.shapes.texts))
    timed("preview", lambda: preview_segments(packed, read.shapes.circles))
    return timed.seconds


def document_steps(data: bytes) -> dict[str, float]:
    """Seconds per step of the validation through a whole ezdxf document (as before)."""
    timed = _Clock()
    timed("record count", lambda: check_record_count(data, DEFAULT_LIMITS))
    loaded = timed("read (ezdxf document)", lambda: load_drawing(data))
    msp = loaded.doc.modelspace()
    timed("blocks expanded count", lambda: expanded_entity_count(loaded.doc, msp, DEFAULT_LIMITS))
    units = timed("units", lambda: resolve_units(loaded.doc, data, "mm"))
    shapes = timed("flatten", lambda: flatten_modelspace(msp, units.mm_per_unit, MAX_BLOCK_DEPTH))
    timed("audit", loaded.audit)
    paths, loops = shapes.release()
    chained = timed("chain contours", lambda: chain_paths(paths, 0.01))
    packed = timed("pack", lambda: pack([Contour(points, True) for points in loops] + chained.contours))
    timed("cut length", lambda: contour_lengths(packed))
    timed("canonical DXF", lambda: write_canonical(packed, shapes.circles, shapes.texts))
    timed("preview", lambda: preview_segments(packed, shapes.circles))
    return timed.seconds


def best(function: Callable[[], Any], repeats: int) -> float:
    """Best wall time of ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _memory(path: Path, size: int, document: bool) -> str:
    mem = measure_memory(path, __file__, ("--document",) if document else ())
    mb = 1024 * 1024
    return (f"tracemalloc {mem['tracemalloc_peak'] / mb:.0f} MB = {mem['tracemalloc_peak'] / size:.1f}x file; "
            f"VmHWM growth {mem['rss_growth'] / mb:.0f} MB = {mem['rss_growth'] / size:.1f}x file")


def _steps(clock: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in clock.items())


def run_case(target: int, workdir: Path, memory: bool, document: bool) -> list[tuple[str, str]]:
    path = workdir / f"drawing_{target}.dxf"
    make_drawing(target).saveas(path)
    data = path.read_bytes()
    fast = validate_drawing(data)
    whole = validate_drawing(data, one_pass=False)
    report = fast.report
    entities = sum(report.metrics["entities"].values())
    assert report.status.value != "failed", report.to_dict()
    assert report.to_dict() == whole.report.to_dict(), "the two readers disagree"
    repeats = 3 if target <= 10_000 else 1
    t_read = best(lambda: readfile(path), repeats)
    t_ours = best(lambda: validate_drawing(data), repeats)
    t_before = best(lambda: validate_drawing(data, one_pass=False), repeats)
    t_single = best(lambda: single_pass(path), repeats)
    t_tags = best(lambda: tag_loader(path), repeats)
    label = f"{entities:,} entities"
    rows = [
        (f"{label}: file size", f"{len(data) / 1024 / 1024:.1f} MB"),
        (f"{label}: (a) ezdxf.readfile", f"{t_read * 1000:.0f} ms ({entities / t_read:,.0f} entities/s)"),
        (f"{label}: (b) ours, full validation (one pass)", f"{t_ours * 1000:.0f} ms = {t_ours / t_read:.2f}x readfile"),
        (f"{label}: (b) before: through a whole document",
         f"{t_before * 1000:.0f} ms = {t_before / t_read:.2f}x readfile"),
        (f"{label}: (c) where the time goes (one pass)", _steps(steps(data))),
    ]
    if document:
        rows.append((f"{label}: (c) where the time goes (document)", _steps(document_steps(data))))
    rows += [
        (f"{label}: (d) iterdxf.single_pass_modelspace", f"{t_single * 1000:.0f} ms = {t_single / t_read:.2f}x readfile"),
        (f"{label}: (d) ascii_tags_loader alone", f"{t_tags * 1000:.0f} ms = {t_tags / t_read:.2f}x readfile"),
    ]
    if memory:
        rows.append((f"{label}: (e) peak memory, one pass", _memory(path, len(data), document=False)))
        rows.append((f"{label}: (e) peak memory, before", _memory(path, len(data), document=True)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k entities only")
    parser.add_argument("--sizes", help="comma-separated entity counts instead of the default ones")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument("--document-steps", action="store_true", help="also time the document path's steps")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--document", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        one_pass = not args.document
        memory_child(args.memory_child, lambda data, _name: validate_drawing(data, one_pass=one_pass))
        return
    if args.sizes:
        targets = [int(size) for size in args.sizes.split(",")]
    else:
        targets = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, DEFAULT_LIMITS.max_entities]
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in targets:
            rows.extend(run_case(target, Path(tmp), memory=not args.no_memory, document=args.document_steps))
    print_table(rows)


if __name__ == "__main__":
    main()
