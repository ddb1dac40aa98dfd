"""Labs near a point, heartbeat handling and order matching, measured against baselines of the same run.

Used by ``benchmarks/labs_orders.py`` (the entry point); see there and ``benchmarks/README.md``.
The data and the throw-away databases are made by :mod:`benchmarks.bench_data`.
"""
from __future__ import annotations

import datetime as dt
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_data import (  # noqa: E402
    LICENCE,
    MACHINES,
    PART,
    RADIUS_KM,
    STALE_AFTER_S,
    STATES,
    Cities,
    Labs,
    Store,
    _sqlite_ts,
    bulk_load,
    fmt_ms,
    insert_account,
    make_labs,
    pct,
    table,
)
from cosmoloc_contract.node import Heartbeat, MachineReport  # noqa: E402
from design_commons import licences  # noqa: E402
from server.fablabs import heartbeats, spatial  # noqa: E402
from server.fablabs import service as fablabs  # noqa: E402
from server.fablabs.models import Fablab  # noqa: E402
from server.orders import matching  # noqa: E402
from server.orders.models import Order  # noqa: E402

# --- 1. labs near a point ----------------------------------------------------------------------------------------

def scan_numpy(labs: Labs, n: int, lat: float, lon: float, radius: float) -> list[tuple[int, float]]:
    """The full geodesic scan: every lab of the first ``n`` (arrays in memory) measured, cut, sorted."""
    d = spatial.distances_km(lat, lon, labs.lat[:n], labs.lon[:n])
    keep = np.nonzero(d <= radius)[0]
    order = np.lexsort((keep, d[keep]))
    return [(int(i) + 1, float(d[i])) for i in keep[order]]


def scan_sql(session: Any, lat: float, lon: float, radius: float) -> list[tuple[int, float]]:
    """``within`` without the prefilter: every lab's id and position read from the database, then measured."""
    from sqlalchemy import select

    rows = session.execute(select(Fablab.id, Fablab.latitude, Fablab.longitude)).all()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    lats = np.fromiter((r[1] for r in rows), dtype=float, count=len(rows))
    lons = np.fromiter((r[2] for r in rows), dtype=float, count=len(rows))
    d = spatial.distances_km(lat, lon, lats, lons)
    keep = d <= radius
    order = np.lexsort((ids[keep], d[keep]))
    return [(int(i), float(x)) for i, x in zip(ids[keep][order], d[keep][order], strict=True)]


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def bench_near(store: Store, labs: Labs, n: int, points: list[tuple[float, float]], n_scan: int) -> dict[str, Any]:
    assert store.db is not None
    db = store.db
    t_within, t_near, hits = [], [], []
    for lat, lon in points[:5]:  # warm the caches and the connection pool
        with db.sessionmaker() as s:
            fablabs.within(s, lat, lon, RADIUS_KM)
    for lat, lon in points:
        with db.sessionmaker() as s:
            dt_, got = timed(fablabs.within, s, lat, lon, RADIUS_KM)
        t_within.append(dt_)
        hits.append(len(got))
        with db.sessionmaker() as s:
            dt_, _ = timed(fablabs.near, s, lat, lon, RADIUS_KM, None, 1, 20)
        t_near.append(dt_)
    read, levels = [], {}
    for lat, lon in points[:20]:  # how many rows the prefilter hands over, against the hits
        cov = spatial.cover(lat, lon, RADIUS_KM)
        levels[cov.column] = levels.get(cov.column, 0) + 1
        read.append(int(np.isin(labs.cells[cov.column][:n], cov.cells).sum()) if cov.column else n)
    t_np, t_sql, mismatches = [], [], 0
    for lat, lon in points[:n_scan]:
        dt_, ref = timed(scan_numpy, labs, n, lat, lon, RADIUS_KM)
        t_np.append(dt_)
        with db.sessionmaker() as s:
            dt_, ref_sql = timed(scan_sql, s, lat, lon, RADIUS_KM)
            got = fablabs.within(s, lat, lon, RADIUS_KM)
            page, total = fablabs.near(s, lat, lon, RADIUS_KM, None, 1, 20)
        t_sql.append(dt_)
        if [i for i, _ in got] != [i for i, _ in ref] or [i for i, _ in ref_sql] != [i for i, _ in ref] \
                or [lab.id for lab, _ in page] != [i for i, _ in ref[:20]] or total != len(ref):
            mismatches += 1
    return {"backend": store.kind, "labs": n, "queries": len(points), "hits_mean": float(np.mean(hits)),
            "hits_max": int(np.max(hits)), "within_p50": pct(t_within, 50), "within_p95": pct(t_within, 95),
            "near_p50": pct(t_near, 50), "near_p95": pct(t_near, 95), "scan_numpy_p50": pct(t_np, 50),
            "scan_sql_p50": pct(t_sql, 50), "scans": len(t_np), "mismatches": mismatches,
            "read_per_hit": float(np.sum(read)) / max(1, int(np.sum(hits[:20]))), "levels": levels,
            "us_per_hit": float(np.sum(t_within)) / max(1, int(np.sum(hits))) * 1e6}


def report_near(results: list[dict[str, Any]], layout: str = "clustered around the 200 biggest cities") -> str:
    rows = []
    first: dict[str, dict[str, Any]] = {}
    for r in results:
        base = first.setdefault(r["backend"], r)
        rows.append([r["backend"], f"{r['labs']:,}", f"{r['hits_mean']:.0f}/{r['hits_max']}",
                     fmt_ms(r["near_p50"]), fmt_ms(r["near_p95"]), f"{r['near_p50'] / base['near_p50']:.1f}x",
                     fmt_ms(r["scan_numpy_p50"]), fmt_ms(r["scan_sql_p50"]),
                     f"{r['scan_numpy_p50'] / r['near_p50']:.1f}x", f"{r['scan_sql_p50'] / r['near_p50']:.0f}x",
                     fmt_ms(r["within_p50"]), fmt_ms(r["within_p95"]), f"{r['within_p50'] / base['within_p50']:.1f}x",
                     f"{r['us_per_hit']:.1f}" if r["hits_mean"] >= 1 else "-",
                     "ok" if not r["mismatches"] else f"{r['mismatches']} DIFFER"])
    return table(f"1. Labs {layout}: those within {RADIUS_KM:.0f} km of a point near a city (ms; {results[0]['queries']} queries "
                 f"per row; full scans over the first {max(r['scans'] for r in results)} of them, fewer at 1M)",
                 ["db", "labs", "in reach mean/max", "near p50", "p95", "vs 1k", "numpy scan", "SQL scan",
                  "numpy/near", "SQL/near", "within p50", "p95", "vs 1k", "within us/lab", "same result"], rows) + (
        "\n  near = the directory query: the first page of 20, nearest first, and the exact total in reach."
        "\n  within = every lab in reach with its distance (what matching uses); its cost follows the labs found."
        f"\n  prefilter level of within (first 20 queries): {results[0]['levels']}; "
        f"rows it reads per lab found: {results[-1]['read_per_hit']:.1f}")


# --- 3. matching -------------------------------------------------------------------------------------------------

def build_reference(labs: Labs, upto: int) -> None:
    """Extend the naive in-memory copy of the labs to the first ``upto`` (plain Python tuples)."""
    old = labs.now - dt.timedelta(days=1)
    for i in range(len(labs.ref), upto):
        cat = int(labs.category[i])
        (p1, bed1), m1 = MACHINES[cat][0]
        (p2, bed2), m2 = MACHINES[cat][1]
        machines = (("m1", p1, bed1, m1, STATES[int(labs.state1[i])], int(labs.queue1[i])),
                    ("m2", p2, bed2, m2, "idle", 0))
        labs.ref.append((i + 1, str(labs.kind[i]), True, 1, old if cat == 3 else labs.now, machines))


def naive_candidates(labs: Labs, n: int, order: Order, part: dict[str, Any], now: dt.datetime,
                     stale_after_s: int, licence_id: str) -> list[tuple[int, bool, str | None, tuple[str, ...]]]:
    """The reference: every lab measured (vectorised geodesic) and judged in plain Python, no index at all."""
    dist = spatial.distances_km(order.delivery_latitude, order.delivery_longitude, labs.lat[:n], labs.lon[:n]).tolist()
    reach = matching.reach_km(order)
    excluded = licences.excluded_lab_kinds(licence_id)
    processes = set(part["processes"]) & ({order.process} if order.process else set(part["processes"]))
    material = order.material.strip().lower()
    need = sorted(part["bbox_mm"])
    ordering = matching.REASONS
    eligible, rest = [], []
    for lab_id, kind, accepting, operator, seen, machines in itertools.islice(labs.ref, n):
        d = dist[lab_id - 1]
        reasons = []
        if d > order.max_distance_km:
            reasons.append("too_far")
        if not accepting:
            reasons.append("not_accepting")
        if operator is None:
            reasons.append("unclaimed")
        if seen is None or (now - seen).total_seconds() > stale_after_s:
            reasons.append("offline")
        if kind in excluded:
            reasons.append("licence")
        capable = [m for m in machines if m[1] in processes]
        best = None
        if not capable:
            reasons.append("no_process")
        else:
            machine_reasons = []
            if not any(material in {x.lower() for x in m[3]} for m in capable):
                machine_reasons.append("no_material")
            if not any(all(p <= b for p, b in zip(need, sorted(m[2]), strict=True)) for m in capable):
                machine_reasons.append("too_small")
            if not any(m[4] in STATES for m in capable):
                machine_reasons.append("machine_unavailable")
            usable = [m for m in capable if material in {x.lower() for x in m[3]} and m[4] in STATES
                      and all(p <= b for p, b in zip(need, sorted(m[2]), strict=True))]
            if usable:
                best = min(usable, key=lambda m: (m[5], 0 if m[4] == "idle" else 1, m[0]))
            else:
                reasons.extend(machine_reasons or ["machine_unavailable"])
        if d > reach:
            continue
        reasons.sort(key=ordering.index)
        if reasons:
            rest.append((d, lab_id, best[0] if best else None, tuple(reasons)))
        else:
            eligible.append(((round(d, 6), best[5], 0 if best[4] == "idle" else 1, lab_id), best[0]))
    eligible.sort()
    rest.sort()
    return ([(k[3], True, key, ()) for k, key in eligible] +
            [(lab_id, False, key, reasons) for _, lab_id, key, reasons in rest])


def transient_order(lat: float, lon: float) -> Order:
    return Order(id=-1, delivery_latitude=lat, delivery_longitude=lon, max_distance_km=100.0, material="pla",
                 process=None, thickness_mm=None, quantity=1)


def bench_matching(store: Store, labs: Labs, n: int, points: list[tuple[float, float]], n_ref: int,
                   reference_cache: dict[int, dict[str, Any]]) -> dict[str, Any]:
    assert store.db is not None
    db = store.db
    now = labs.now
    times, counts, eligible, errors, best_times = [], [], [], [], []
    answers: dict[int, list[tuple[Any, ...]]] = {}
    firsts: dict[int, int | None] = {}
    for k, (lat, lon) in enumerate([points[0]] + points):  # the first call warms up
        order = transient_order(lat, lon)
        with db.sessionmaker() as s:
            try:
                dt_, got = timed(matching.candidates, s, order, PART, now, STALE_AFTER_S, LICENCE)
            except Exception as exc:  # noqa: BLE001 - a failure is a finding, reported with its message
                s.rollback()
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
                continue
            dt_best, first = timed(matching.best, s, order, PART, now, STALE_AFTER_S, LICENCE)
        if k == 0:
            continue
        best_times.append(dt_best)
        firsts[k - 1] = first.fablab_id if first else None
        times.append(dt_)
        counts.append(len(got))
        eligible.append(sum(c.eligible for c in got))
        if k - 1 < n_ref:
            answers[k - 1] = [(c.fablab_id, c.eligible, c.machine_key, tuple(c.reasons)) for c in got]
    ref = reference_cache.get(n)
    if ref is None:
        build_reference(labs, n)
        ref_times, ref_answers = [], {}
        for k, (lat, lon) in enumerate(points[:n_ref]):
            dt_, out = timed(naive_candidates, labs, n, transient_order(lat, lon), PART, now,
                             STALE_AFTER_S, LICENCE)
            ref_times.append(dt_)
            ref_answers[k] = out
        ref = reference_cache[n] = {"times": ref_times, "answers": ref_answers}
    answered = [k for k in ref["answers"] if k in answers]  # an order the hub failed on is counted in errors
    agree = sum(answers[k] == ref["answers"][k] for k in answered)
    first_agree = sum(firsts.get(k) == next((a[0] for a in ref["answers"][k] if a[1]), None) for k in answered)
    return {"best_p50": pct(best_times, 50), "best_p95": pct(best_times, 95),
            "best_mean": float(np.mean(best_times)) if best_times else float("nan"), "first_agree": first_agree,
            "backend": store.kind, "labs": n, "orders": len(points), "cand_mean": float(np.mean(counts)) if counts
            else float("nan"), "eligible_mean": float(np.mean(eligible)) if eligible else float("nan"),
            "p50": pct(times, 50), "p95": pct(times, 95), "mean": float(np.mean(times)) if times else float("nan"),
            "ref_mean": float(np.mean(ref["times"])), "refs": len(ref["times"]), "agree": agree,
            "compared": len(answered), "errors": errors}


def report_matching(results: list[dict[str, Any]]) -> str:
    rows = []
    first: dict[str, dict[str, Any]] = {}
    for r in results:
        base = first.setdefault(r["backend"], r)
        rows.append([r["backend"], f"{r['labs']:,}", f"{r['cand_mean']:.0f}", f"{r['eligible_mean']:.0f}",
                     fmt_ms(r["p50"]), fmt_ms(r["p95"]), fmt_ms(r["mean"]),
                     f"{r['p50'] / base['p50']:.1f}x", f"{fmt_ms(r['ref_mean'])} ({r['refs']})",
                     f"{r['ref_mean'] / r['mean']:.1f}x", f"{r['agree']}/{r['compared']}",
                     fmt_ms(r["best_p50"]), fmt_ms(r["best_p95"]), f"{r['best_p50'] / base['best_p50']:.1f}x",
                     f"{r['ref_mean'] / r['best_mean']:.0f}x", f"{r['first_agree']}/{r['compared']}",
                     f"{len(r['errors'])} of {r['orders']}" if r["errors"] else "0"])
    out = table(f"3. Matching one order, ms per order (a third of labs capable). candidates(): every lab within reach "
                f"({matching.reach_km(transient_order(0, 0)):.0f} km) explained; best(): the lab the offer goes to",
                ["db", "labs", "within reach", "eligible", "cand p50", "cand p95", "cand mean", "vs smallest",
                 "naive ref mean (n)", "ref/cand", "same answer", "best p50", "best p95", "vs smallest",
                 "ref/best", "same first", "errors"], rows)
    errs = sorted({e for r in results for e in r["errors"]})
    if errs:
        out += "\n  errors: " + "\n          ".join(errs)
    return out


# --- 2. heartbeats -----------------------------------------------------------------------------------------------

def heartbeat_plan(rng: np.random.Generator, n_labs: int, n_beats: int,
                   change_p: float) -> list[tuple[int, list[tuple[str, str, int, bool]]]]:
    """Which lab beats, and each machine's (key, state, queue, changed) in that beat."""
    state = np.zeros((n_labs, 2), dtype=np.int64)
    queue = np.zeros((n_labs, 2), dtype=np.int64)
    plan = []
    for lab in rng.integers(0, n_labs, n_beats).tolist():
        machines = []
        for m in range(2):
            changed = bool(rng.random() < change_p)
            if changed:
                state[lab, m] ^= 1
                queue[lab, m] = int(rng.integers(0, 5))
            machines.append((f"m{m + 1}", STATES[int(state[lab, m])], int(queue[lab, m]), changed))
        plan.append((lab + 1, machines))
    return plan


def bench_heartbeats(kind: str, tmpdir: Path, rng: np.random.Generator, cities: Cities, n_labs: int,
                     n_beats: int) -> dict[str, Any]:
    """heartbeats.record_heartbeat (lab looked up by node token, as the route does; one commit per beat) against the
    floor: the same writes as plain SQL on a DBAPI connection, one transaction per beat."""
    store = Store(kind, "hb", tmpdir)
    try:
        store.create()
        assert store.db is not None
        insert_account(store)
        now = dt.datetime.now(dt.UTC)
        labs = make_labs(rng, cities, n_labs, now)
        labs.category[:] = 0  # two known machines each, online
        labs.state1[:] = 0
        labs.queue1[:] = 0
        tokens = [f"{fablabs.NODE_TOKEN_PREFIX}bench{i:08d}" for i in range(1, n_labs + 1)]
        bulk_load(store, labs, 0, n_labs, machines=True, tokens=tokens)
        db = store.db
        results: dict[str, Any] = {"backend": kind, "labs": n_labs, "beats": n_beats}
        for change_p in (0.1, 1.0):
            plan = heartbeat_plan(rng, n_labs, n_beats, change_p)
            beats = [(tokens[lab - 1], Heartbeat(agent="bench/1", machines=[
                MachineReport(key=k, state=s, queue_length=q) for k, s, q, _ in ms])) for lab, ms in plan]
            lat = []
            t0 = time.perf_counter()
            for token, beat in beats:
                t = time.perf_counter()
                with db.sessionmaker() as s:
                    lab = heartbeats.node_lab(s, token)
                    assert lab is not None
                    beat_now = dt.datetime.now(dt.UTC)
                    heartbeats.record_heartbeat(s, lab, beat, beat_now, STALE_AFTER_S)
                    s.commit()
                lat.append(time.perf_counter() - t)
            hub_rate = len(beats) / (time.perf_counter() - t0)
            floor_rate, floor_lat = heartbeat_floor(store, tokens, plan)
            results[f"p{change_p}"] = {"hub_rate": hub_rate, "hub_p50": pct(lat, 50), "hub_p95": pct(lat, 95),
                                       "floor_rate": floor_rate, "floor_p50": pct(floor_lat, 50)}
        return results
    finally:
        store.drop()


def heartbeat_floor(store: Store, tokens: list[str], plan: list[tuple[int, list[tuple[str, str, int, bool]]]]
                    ) -> tuple[float, list[float]]:
    assert store.db is not None
    sqlite = store.kind == "sqlite"
    ph = "?" if sqlite else "%s"
    conn = store.db.engine.raw_connection()
    lat = []
    try:
        cur = conn.cursor()
        t0 = time.perf_counter()
        for lab, machines in plan:
            t = time.perf_counter()
            now = dt.datetime.now(dt.UTC)
            now_v = _sqlite_ts(now) if sqlite else now
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")
            cur.execute(f"SELECT id FROM fablabs WHERE node_token_hash = {ph}", (fablabs.hash_token(tokens[lab - 1]),))
            (lab_id,) = cur.fetchone()
            for m, (key, state, queue, changed) in enumerate(machines):
                cur.execute(f"UPDATE machines SET state = {ph}, queue_length = {ph}, state_reported_at = {ph} "
                            f"WHERE fablab_id = {ph} AND key = {ph}", (state, queue, now_v, lab_id, key))
                if changed:
                    cur.execute(f"INSERT INTO machine_state_samples (machine_id, state, queue_length, at) "
                                f"VALUES ({ph}, {ph}, {ph}, {ph})", (2 * lab_id - 1 + m, state, queue, now_v))
            cur.execute(f"UPDATE fablabs SET last_seen_at = {ph} WHERE id = {ph}", (now_v, lab_id))
            if sqlite:
                cur.execute("COMMIT")
            else:
                conn.commit()
            lat.append(time.perf_counter() - t)
        rate = len(plan) / (time.perf_counter() - t0)
        cur.close()
    finally:
        conn.close()
    return rate, lat


def report_heartbeats(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        for p, label in (("p0.1", "10% of machines change"), ("p1.0", "every machine changes")):
            x = r[p]
            rows.append([r["backend"], f"{r['labs']:,}", label, f"{x['hub_rate']:.0f}", fmt_ms(x["hub_p50"]),
                         fmt_ms(x["hub_p95"]), f"{x['floor_rate']:.0f}", fmt_ms(x["floor_p50"]),
                         f"{x['floor_rate'] / x['hub_rate']:.1f}x", f"{x['hub_rate'] * 10:,.0f}"])
    return table(f"2. Heartbeats in-process (2 machines each, one session + commit per beat, "
                 f"{results[0]['beats']} beats per row)",
                 ["db", "labs", "beats", "hub beats/s", "p50 ms", "p95 ms", "floor beats/s", "floor p50",
                  "floor/hub", "labs per process @10s"], rows)
