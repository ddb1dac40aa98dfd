"""DXF drawing validation speed and memory, measured against ezdxf's readfile in the same run.

Generates ASCII DXF drawings of lines, slots (lines and arcs), polylines with bulges, circles,
arcs and splines at 1k, 10k, 100k entities and the 200k limit, then measures:

  (a) baseline: ``ezdxf.readfile`` of the same file (a whole document, nothing checked);
  (b) our full ``design_commons.validation.validate`` (report, contours, cut length, canonical
      DXF, preview), as a ratio to (a);
  (c) where our time goes: each step of the validation timed on its own;
  (d) ezdxf's lighter readers on the same file: ``iterdxf.single_pass_modelspace`` and the
      low-level tag loader alone, as ratios to (a);
  (e) peak memory of our validation, in a fresh child process per file: tracemalloc peak and
      the growth of VmHWM, both against the file size.

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

# One memory probe for every benchmark: a fresh child validates the file (by its name's format).
from benchmarks.mesh_validation import measure_memory, print_table  # noqa: E402
from design_commons.drawings.blocks import MAX_BLOCK_DEPTH, expanded_entity_count  # noqa: E402
from design_commons.drawings.canonical import preview_segments, write_canonical  # noqa: E402
from design_commons.drawings.contours import Contour, chain_paths  # noqa: E402
from design_commons.drawings.drawing_units import resolve_units  # noqa: E402
from design_commons.drawings.flatten import flatten_modelspace  # noqa: E402
from design_commons.drawings.reading import check_record_count, load_drawing  # noqa: E402
from design_commons.limits import DEFAULT_LIMITS  # noqa: E402
from design_commons.validation import validate  # noqa: E402

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


def steps(data: bytes) -> dict[str, float]:
    """Seconds per step of :func:`design_commons.drawings.validate_drawing`, in its order."""
    clock: dict[str, float] = {}

    def timed(name: str, function: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = function()
        clock[name] = clock.get(name, 0.0) + time.perf_counter() - start
        return value

    timed("record count", lambda: check_record_count(data, DEFAULT_LIMITS))
    loaded = timed("read (ezdxf document)", lambda: load_drawing(data))
    msp = loaded.doc.modelspace()
    timed("blocks expanded count", lambda: expanded_entity_count(loaded.doc, msp, DEFAULT_LIMITS))
    units = timed("units", lambda: resolve_units(loaded.doc, data, "mm"))
    shapes = timed("flatten", lambda: flatten_modelspace(msp, units.mm_per_unit, MAX_BLOCK_DEPTH))
    timed("audit", loaded.audit)
    chained = timed("chain contours", lambda: chain_paths(shapes.paths, 0.01))
    contours = [Contour(points, True) for points in shapes.loops] + chained.contours
    timed("canonical DXF", lambda: write_canonical(contours, shapes.circles, shapes.texts))
    timed("preview", lambda: preview_segments(contours, shapes.circles))
    return clock


def best(function: Callable[[], Any], repeats: int) -> float:
    """Best wall time of ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def run_case(target: int, workdir: Path, memory: bool) -> list[tuple[str, str]]:
    path = workdir / f"drawing_{target}.dxf"
    make_drawing(target).saveas(path)
    data = path.read_bytes()
    report = validate(data, path.name).report
    entities = sum(report.metrics["entities"].values())
    assert report.status.value != "failed", report.to_dict()
    repeats = 3 if target <= 10_000 else 1
    t_read = best(lambda: readfile(path), repeats)
    t_ours = best(lambda: validate(data, path.name), repeats)
    t_single = best(lambda: single_pass(path), repeats)
    t_tags = best(lambda: tag_loader(path), repeats)
    clock = steps(data)
    label = f"{entities:,} entities"
    rows = [
        (f"{label}: file size", f"{len(data) / 1024 / 1024:.1f} MB"),
        (f"{label}: (a) ezdxf.readfile", f"{t_read * 1000:.0f} ms ({entities / t_read:,.0f} entities/s)"),
        (f"{label}: (b) ours, full validate", f"{t_ours * 1000:.0f} ms = {t_ours / t_read:.2f}x readfile"),
        (f"{label}: (c) where the time goes",
         ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in clock.items())),
        (f"{label}: (d) iterdxf.single_pass_modelspace", f"{t_single * 1000:.0f} ms = {t_single / t_read:.2f}x readfile"),
        (f"{label}: (d) ascii_tags_loader alone", f"{t_tags * 1000:.0f} ms = {t_tags / t_read:.2f}x readfile"),
    ]
    if memory:
        mem = measure_memory(path)
        mb = 1024 * 1024
        rows.append((f"{label}: (e) peak memory",
                     f"tracemalloc {mem['tracemalloc_peak'] / mb:.0f} MB = {mem['tracemalloc_peak'] / mem['size']:.1f}x "
                     f"file; VmHWM growth {mem['rss_growth'] / mb:.0f} MB = {mem['rss_growth'] / mem['size']:.1f}x file"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k entities only")
    parser.add_argument("--sizes", help="comma-separated entity counts instead of the default ones")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    args = parser.parse_args()
    if args.sizes:
        targets = [int(size) for size in args.sizes.split(",")]
    else:
        targets = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, DEFAULT_LIMITS.max_entities]
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in targets:
            rows.extend(run_case(target, Path(tmp), memory=not args.no_memory))
    print_table(rows)


if __name__ == "__main__":
    main()
