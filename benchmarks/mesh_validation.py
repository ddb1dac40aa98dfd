"""Mesh validation speed and memory, measured against the floor in the same run.

Generates closed meshes (a grid of icospheres: ~100k and ~1M triangles), writes them as binary
STL and 3MF into a temporary directory, then measures:

  (a) floor: the binary STL read with ``numpy.frombuffer`` and its vertices welded
      (quantised coordinates, sort-based unique with inverse): the least any validator must do;
  (b) our full ``design_commons.validation.validate`` on the STL, as a ratio to the floor;
  (c) ``trimesh.load`` plus the equivalent checks (merge vertices, watertight, winding, volume,
      area, bounds, bodies, degenerate faces), as a ratio to the floor;
  (d) our 3MF validation against ``trimesh.load`` of the same 3MF (the loader alone);
  (e) peak memory of our validation, in a fresh child process per case: tracemalloc peak
      (numpy allocations included) and the growth of ru_maxrss, both against the file size.

Targets: (b) <= 2.5x the floor at 1M triangles; (e) < 8x the file size; (d) >= 3x faster.

    python benchmarks/mesh_validation.py            # 100k and 1M triangles
    python benchmarks/mesh_validation.py --quick    # 100k only
"""
from __future__ import annotations

import argparse
import gc
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from design_commons.meshes import read_mesh  # noqa: E402
from design_commons.validation import validate  # noqa: E402

STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attributes", "<u2")])
REPEATS = 5


def make_mesh(target: int) -> Any:
    """A grid of closed icospheres (20,480 triangles each) with about ``target`` triangles."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=5, radius=10.0)
    count = max(1, round(target / len(sphere.faces)))
    side = int(np.ceil(np.sqrt(count)))
    parts = []
    for i in range(count):
        part = sphere.copy()
        part.apply_translation([25.0 * (i % side), 25.0 * (i // side), 0.0])
        parts.append(part)
    return trimesh.util.concatenate(parts)


def floor(data: bytes) -> int:
    """Read a binary STL with frombuffer and weld its vertices; returns the vertex count."""
    (count,) = np.frombuffer(data, dtype="<u4", count=1, offset=80)
    records = np.frombuffer(data, dtype=STL_RECORD, count=int(count), offset=84)
    points = np.ascontiguousarray(records["vertices"]).reshape(-1, 3)
    lo = np.array([points[:, i].min() for i in range(3)])
    hi = np.array([points[:, i].max() for i in range(3)])
    scale = ((1 << 21) - 2) / float((hi - lo).max())
    key = np.zeros(len(points), dtype=np.int64)
    for axis in range(3):
        key <<= 21
        key |= ((points[:, axis] - lo[axis]) * scale + 0.5).astype(np.int64)
    order = np.argsort(key)
    ordered = key[order]
    new = np.empty(len(ordered), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    ids = np.cumsum(new) - 1
    inverse = np.empty_like(ids)
    inverse[order] = ids
    return int(ids[-1]) + 1


def trimesh_checks(data: bytes, file_type: str) -> dict[str, Any]:
    """trimesh.load plus the checks our report makes."""
    import trimesh

    mesh: Any = trimesh.load(io.BytesIO(data), file_type=file_type, force="mesh")
    mesh.merge_vertices()
    return {
        "watertight": mesh.is_watertight,
        "winding": mesh.is_winding_consistent,
        "volume": mesh.volume,
        "area": mesh.area,
        "bounds": mesh.bounds,
        "bodies": mesh.body_count,
        "degenerate": len(mesh.faces) - int(mesh.nondegenerate_faces().sum()),
    }


def trimesh_load(data: bytes, file_type: str) -> None:
    import trimesh

    trimesh.load(io.BytesIO(data), file_type=file_type, force="mesh")


def best(function: Callable[[], Any]) -> float:
    """Best wall time of :data:`REPEATS` runs, in seconds."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _peak_rss() -> int:
    """This process's peak resident set (VmHWM) in bytes; ru_maxrss is inherited across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


def memory_child(path: str, run: Callable[[bytes, str], Any] = validate) -> None:
    """Run in a fresh process: validate one file (with ``run``), print peak memory figures as JSON."""
    data = Path(path).read_bytes()
    run(data, Path(path).name)  # warm the imports, then measure a second, clean run
    gc.collect()
    _reset_peak_rss()
    before = _peak_rss()
    result = run(data, Path(path).name)
    rss_growth = _peak_rss() - before
    del result
    gc.collect()
    tracemalloc.start()
    run(data, Path(path).name)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"size": len(data), "tracemalloc_peak": peak, "rss_growth": rss_growth}))


def measure_memory(path: Path, script: str = __file__, extra: tuple[str, ...] = ()) -> dict[str, int]:
    """Peak memory of validating ``path`` in a fresh ``script --memory-child PATH *extra``."""
    out = subprocess.run([sys.executable, script, "--memory-child", str(path), *extra],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_case(target: int, workdir: Path) -> list[tuple[str, str]]:
    import trimesh

    mesh = make_mesh(target)
    stl_path = workdir / f"mesh_{target}.stl"
    tmf_path = workdir / f"mesh_{target}.3mf"
    stl_path.write_bytes(trimesh.exchange.stl.export_stl(mesh))
    tmf_path.write_bytes(trimesh.exchange.threemf.export_3MF(mesh))
    stl = stl_path.read_bytes()
    tmf = tmf_path.read_bytes()
    n = len(mesh.faces)

    report = validate(stl, stl_path.name).report
    assert report.metrics["watertight"] and report.metrics["triangles"] == n, report.to_dict()
    report3 = validate(tmf, tmf_path.name).report
    assert report3.metrics["triangles"] == n, report3.to_dict()

    t_floor = best(lambda: floor(stl))
    t_ours = best(lambda: validate(stl, stl_path.name))
    t_trimesh = best(lambda: trimesh_checks(stl, "stl"))
    t_ours_3mf = best(lambda: validate(tmf, tmf_path.name))
    t_trimesh_3mf = best(lambda: trimesh_load(tmf, "3mf"))
    t_read_3mf = best(lambda: read_mesh(tmf, "3mf"))
    mem_stl = measure_memory(stl_path)
    mem_3mf = measure_memory(tmf_path)

    mb = 1024 * 1024
    label = f"{n:,} triangles"
    return [
        (f"{label}: STL size / 3MF size", f"{len(stl) / mb:.1f} MB / {len(tmf) / mb:.1f} MB"),
        (f"{label}: (a) floor: frombuffer + weld", f"{t_floor * 1000:.0f} ms"),
        (f"{label}: (b) ours, full validate (STL)", f"{t_ours * 1000:.0f} ms = {t_ours / t_floor:.2f}x floor"),
        (f"{label}: (c) trimesh.load + checks (STL)", f"{t_trimesh * 1000:.0f} ms = {t_trimesh / t_floor:.2f}x floor"),
        (f"{label}: (d) ours, full validate (3MF)", f"{t_ours_3mf * 1000:.0f} ms"),
        (f"{label}: (d) ours, 3MF reader alone", f"{t_read_3mf * 1000:.0f} ms"),
        (f"{label}: (d) trimesh.load (3MF)",
         f"{t_trimesh_3mf * 1000:.0f} ms = {t_trimesh_3mf / t_ours_3mf:.1f}x our full validate, "
         f"{t_trimesh_3mf / t_read_3mf:.1f}x our reader"),
        (f"{label}: (e) peak memory, STL", _memory_text(mem_stl)),
        (f"{label}: (e) peak memory, 3MF", _memory_text(mem_3mf)),
    ]


def _memory_text(memory: dict[str, int]) -> str:
    mb = 1024 * 1024
    size = memory["size"]
    return (f"tracemalloc {memory['tracemalloc_peak'] / mb:.0f} MB = {memory['tracemalloc_peak'] / size:.1f}x file; "
            f"RSS growth {memory['rss_growth'] / mb:.0f} MB = {memory['rss_growth'] / size:.1f}x file")


def print_table(rows: list[tuple[str, str]]) -> None:
    """The rows of a benchmark as a two-column table on stdout."""
    width = max(len(name) for name, _ in rows)
    print(f"{'case'.ljust(width)}  result")
    print("-" * (width + 60))
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="100k triangles only")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    targets = [100_000] if args.quick else [100_000, 1_000_000]
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in targets:
            rows.extend(run_case(target, Path(tmp)))
    print_table(rows)


if __name__ == "__main__":
    main()
