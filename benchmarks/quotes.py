"""Quotes for a part among growing numbers of labs, against baselines measured in the same run.

Labs are clustered around the 200 biggest cities (as in ``labs_orders.py``), a third of them with a
rate card. For points near cities, one page of 20 quotes (``server.quotes.service.quote_page``,
nearest first, 100 km) is timed beside ``matching.best`` (the one lab an offer goes to, by the same
rules) on the same database. Reported: the page's cost per size, its growth against the 1k-lab cost
(issue 10's target: the first page among 1M labs within 3x the cost among 1k), and its cost as a
multiple of ``best``; the same for ``sort=cheapest``, which prices the nearest 200 eligible labs.

    python benchmarks/quotes.py                  # 1k / 100k / 1M labs
    python benchmarks/quotes.py --quick          # 1k / 10k / 50k labs
    python benchmarks/quotes.py --no-postgres
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
from benchmarks.bench_labs import transient_order  # noqa: E402
from cosmoloc_contract.quotes import QuoteQuery  # noqa: E402
from design_commons import pricing  # noqa: E402
from server.designs.models import DesignFile  # noqa: E402
from server.orders import matching  # noqa: E402
from server.quotes import service  # noqa: E402

CARD = pricing.card_to_json(pricing.parse_card({
    "currency": "EUR", "vat_percent": 21, "minimum": "5.00", "unattended": True,
    "lines": [{"machine_key": "m1", "material": "PLA", "setup": "3.00", "per_gram": "0.03", "per_hour": "2.00"}]}))
METRICS = {"volume_mm3": 200_000.0, "area_mm2": 50_000.0, "bbox_mm": bd.PART["bbox_mm"]}


def add_cards(store: bd.Store, lo: int, hi: int) -> None:
    """A rate card for every third lab of ids lo+1..hi."""
    assert store.db is not None
    now = bd._sqlite_ts(dt.datetime.now(dt.UTC)) if store.kind == "sqlite" else dt.datetime.now(dt.UTC)
    card = json.dumps(CARD)
    rows = [{"f": i, "c": card, "t": now} for i in range(lo + 1, hi + 1) if i % 3 == 0]
    with store.db.engine.begin() as conn:
        for start in range(0, len(rows), 10_000):
            conn.exec_driver_sql("INSERT INTO rate_card_versions (fablab_id, version, card, created_at) "
                                 "VALUES (%(f)s, 1, %(c)s, %(t)s)" if store.kind != "sqlite" else
                                 "INSERT INTO rate_card_versions (fablab_id, version, card, created_at) "
                                 "VALUES (:f, 1, :c, :t)", rows[start:start + 10_000])


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def bench(store: bd.Store, n: int, points: list[tuple[float, float]], now: dt.datetime) -> dict[str, Any]:
    assert store.db is not None
    row = DesignFile(report={"metrics": METRICS}, requirements=bd.PART)
    page_t, cheap_t, best_t, totals, priced = [], [], [], [], []
    for k, (lat, lon) in enumerate([points[0]] + points):  # the first call warms up
        args = QuoteQuery(material="PLA", near=f"{lat},{lon}", max_distance_km=100, per_page=20)
        with store.db.sessionmaker() as s:
            t_page, found = timed(service.quote_page, s, bd.LICENCE, row, args, bd.STALE_AFTER_S, now)
            cheapest = args.model_copy(update={"sort": "cheapest"})
            t_cheap, _ = timed(service.quote_page, s, bd.LICENCE, row, cheapest, bd.STALE_AFTER_S, now)
            t_best, _ = timed(matching.best, s, transient_order(lat, lon), bd.PART, now, bd.STALE_AFTER_S,
                              bd.LICENCE)
        if k:
            page_t.append(t_page)
            cheap_t.append(t_cheap)
            best_t.append(t_best)
            totals.append(found.total)
            priced.append(sum(q.price is not None for q in found.items))
    return {"backend": store.kind, "labs": n, "page_p50": bd.pct(page_t, 50), "page_mean": float(np.mean(page_t)),
            "best_p50": bd.pct(best_t, 50), "cheap_p50": bd.pct(cheap_t, 50), "eligible_mean": float(np.mean(totals)),
            "priced_mean": float(np.mean(priced))}


def report(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        first = next(x for x in results if x["backend"] == r["backend"])
        rows.append([r["backend"], f"{r['labs']:,}", bd.fmt_ms(r["page_p50"]), bd.fmt_ms(r["page_mean"]),
                     f"{r['page_p50'] / first['page_p50']:.1f}x", bd.fmt_ms(r["best_p50"]),
                     f"{r['page_p50'] / r['best_p50']:.1f}x", f"{r['eligible_mean']:.0f}", f"{r['priced_mean']:.1f}",
                     bd.fmt_ms(r["cheap_p50"]), f"{r['cheap_p50'] / first['cheap_p50']:.1f}x"])
    return bd.table("Quotes: first page of 20 (nearest, 100 km) against the 1k-lab cost and matching.best",
                    ["backend", "labs", "page p50", "page mean", "vs 1k", "best p50", "page / best",
                     "eligible labs judged", "priced on page", "cheapest p50", "vs 1k"], rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20261206)
    args = ap.parse_args()
    sizes = [1_000, 10_000, 50_000] if args.quick else [1_000, 100_000, 1_000_000]
    rng = np.random.default_rng(args.seed)
    now = dt.datetime.now(dt.UTC)
    cities = bd.top_cities()
    labs = bd.make_labs(rng, cities, sizes[-1], now)
    points = bd.query_points(rng, cities, args.points)
    backends = ["sqlite"] + ([] if args.no_postgres or not bd.pg_available() else ["postgresql"])
    tmpdir = Path(tempfile.mkdtemp(prefix="cosmoloc-bench-quotes-"))
    results = []
    try:
        for kind in backends:
            for store, done, size, seconds in bd.growing(kind, "quotes", tmpdir, labs, sizes, True):
                add_cards(store, done, size)
                bd.log(f"{kind}: {size:,} labs loaded in {seconds:.1f} s")
                results.append(bench(store, size, points, now))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
