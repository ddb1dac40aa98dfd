"""Labs, heartbeats, matching and order placement, each against a baseline measured in the same run.

  1. near      labs within 50 km of a point near a city, among 1k, 100k and 1M labs clustered around
               the 200 biggest cities, then spread uniformly over the globe: ``fablabs.near`` (the
               directory's page of 20 and total) and ``fablabs.within`` (median, p95) against a
               full geodesic scan (pyproj over numpy arrays of every lab) and the same scan in SQL
               without the grid prefilter; growth 1M / 1k (target: at most ~10x).
  2. heartbeat ``heartbeats.record_heartbeat`` in-process with a commit per beat (beats/s) against the same writes
               as plain SQL statements (the floor).
  3. matching  ``matching.candidates`` for one order among 1k, 100k and 1M labs (a third capable) against a
               naive reference: geodesics to every lab plus the eligibility rules in plain Python over
               every lab; both answers are compared.
  4. http      orders placed per second through POST /api/v1/orders under gunicorn (2 gthread workers)
               on PostgreSQL, against a constant-answer route of the same processes (the ceiling).

SQLite always; PostgreSQL (127.0.0.1:5432, user postgres) when reachable (required for 4).
Every database is a throw-away one (``cosmoloc_bench_*``), dropped at the end, as is the server.

    python benchmarks/labs_orders.py                 # full: 1k / 100k / 1M labs, 20 s of HTTP load
    python benchmarks/labs_orders.py --quick         # 1k / 10k / 50k labs, 5 s of HTTP load
    python benchmarks/labs_orders.py --only near,matching --no-postgres
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_data as bd  # noqa: E402
from benchmarks import bench_labs as bl  # noqa: E402

SCENARIOS = ("near", "heartbeat", "matching", "http")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and short runs")
    ap.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    ap.add_argument("--no-postgres", action="store_true", help="SQLite only (skips http)")
    ap.add_argument("--seed", type=int, default=20240607)
    ap.add_argument("--threads", type=int, default=16, help="client threads for http")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    if args.quick:
        sizes, n_points, n_scan, n_orders = [1_000, 10_000, 50_000], 100, 3, 20
        hb_labs, hb_beats, http_s, ceiling_s = 500, 500, 5.0, 4.0
    else:
        sizes, n_points, n_scan, n_orders = [1_000, 100_000, 1_000_000], 200, 5, 30
        hb_labs, hb_beats, http_s, ceiling_s = 5_000, 2_000, 20.0, 10.0
    backends = ["sqlite"]
    if not args.no_postgres:
        if bd.pg_available():
            backends.append("postgresql")
        else:
            print("PostgreSQL not reachable on 127.0.0.1:5432: SQLite only, no http scenario", file=sys.stderr)
    rng = np.random.default_rng(args.seed)
    cities = bd.top_cities()
    tmpdir = Path(tempfile.mkdtemp(prefix="cosmoloc_bench_"))
    results: dict[str, Any] = {"sizes": sizes, "backends": backends}
    reports: list[str] = []
    started = time.perf_counter()
    try:
        if "heartbeat" in only:
            hb = []
            for kind in backends:
                bd.log(f"heartbeats on {kind}: {hb_labs} labs, {hb_beats} beats x 2 mixes")
                hb.append(bl.bench_heartbeats(kind, tmpdir, rng, cities, hb_labs, hb_beats))
            results["heartbeat"] = hb
            reports.append(bl.report_heartbeats(hb))
            print("\n" + reports[-1], flush=True)
        if "http" in only and "postgresql" in backends:
            from benchmarks import bench_orders

            r = bench_orders.bench_http(tmpdir, rng, args.threads, http_s, ceiling_s, n_labs=20)
            results["http"] = r
            reports.append(bench_orders.report_http(r))
            print("\n" + reports[-1], flush=True)
        if only & {"near", "matching"}:
            reports += run_spatial(args, only, backends, sizes, n_points, n_scan, n_orders, rng, cities, tmpdir,
                                   results)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print("\n" + "=" * 100)
    print(f"cosmoloc labs/orders benchmark ({'quick' if args.quick else 'full'}), {time.perf_counter() - started:.0f} s")
    for r in reports:
        print("\n" + r)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def run_spatial(args: argparse.Namespace, only: set[str], backends: list[str], sizes: list[int], n_points: int,
                n_scan: int, n_orders: int, rng: np.random.Generator, cities: bd.Cities, tmpdir: Path,
                results: dict[str, Any]) -> list[str]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    t = time.perf_counter()
    labs = bd.make_labs(rng, cities, sizes[-1], now)
    bd.log(f"generated {sizes[-1]:,} labs around {len(cities.names)} cities in {time.perf_counter() - t:.1f} s "
           f"(cells checked against spatial.cells_of)")
    points = bd.query_points(rng, cities, n_points)
    order_points = bd.query_points(rng, cities, n_orders)
    with_machines = "matching" in only
    n_orders_big = min(n_orders, 10)  # orders timed at 1M labs (each costs seconds)
    near_results, match_results, loads = [], [], []
    reference_cache: dict[int, dict[str, Any]] = {}
    for kind in backends:
        for store, done, size, seconds in bd.growing(kind, "labs", tmpdir, labs, sizes, with_machines):
            loads.append([kind, f"{done:,}..{size:,}", f"{seconds:.1f}", f"{(size - done) / seconds:,.0f}"])
            bd.log(f"{kind}: loaded labs {done:,}..{size:,}{' with 2 machines each' if with_machines else ''} "
                   f"in {seconds:.1f} s")
            if "near" in only:
                near_results.append(bl.bench_near(store, labs, size, points, scans(size, n_scan)))
                bd.log(f"{kind} {size:,}: near p50 {near_results[-1]['near_p50'] * 1000:.2f} ms")
            if "matching" in only:
                n_ref = {1_000: n_orders}.get(size, 5 if size <= 100_000 else 3)
                orders_here = order_points if size <= 100_000 else order_points[:n_orders_big]
                match_results.append(bl.bench_matching(store, labs, size, orders_here, min(n_ref, n_orders),
                                                       reference_cache))
                bd.log(f"{kind} {size:,}: candidates mean {match_results[-1]['mean'] * 1000:.1f} ms, "
                       f"naive {match_results[-1]['ref_mean'] * 1000:.0f} ms")
    reports = [bd.table("Bulk loads (labs/s; machines included when matching runs)",
                        ["db", "labs", "seconds", "labs/s"], loads)]
    print("\n" + reports[-1], flush=True)
    if near_results:
        results["near"] = near_results
        reports.append(bl.report_near(near_results))
        print("\n" + reports[-1], flush=True)
        uniform = run_near_uniform(backends, sizes, points, n_scan, rng, cities, now, tmpdir)
        results["near_uniform"] = uniform
        reports.append(bl.report_near(uniform, "spread uniformly over the globe"))
        print("\n" + reports[-1], flush=True)
    if match_results:
        results["matching"] = match_results
        reports.append(bl.report_matching(match_results))
        print("\n" + reports[-1], flush=True)
    return reports


def run_near_uniform(backends: list[str], sizes: list[int], points: list[tuple[float, float]], n_scan: int,
                     rng: np.random.Generator, cities: bd.Cities, now: dt.datetime, tmpdir: Path) -> list[dict[str, Any]]:
    """The near scenario again with labs spread uniformly over the globe (few in reach of any point)."""
    labs = bd.make_labs(rng, cities, sizes[-1], now, uniform=True)
    out = []
    for kind in backends:
        for store, _, size, _ in bd.growing(kind, "uniform", tmpdir, labs, sizes, False):
            out.append(bl.bench_near(store, labs, size, points, scans(size, n_scan)))
            bd.log(f"{kind} {size:,} uniform: near p50 {out[-1]['near_p50'] * 1000:.2f} ms")
    return out


def scans(size: int, n_scan: int) -> int:
    """Full scans to compare against at this size (each costs seconds at 1M labs)."""
    return n_scan if size <= 100_000 else min(n_scan, 3)


if __name__ == "__main__":
    sys.exit(main())
