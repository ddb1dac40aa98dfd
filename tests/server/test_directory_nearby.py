"""The directory's "labs near a point" gives exactly what measuring every lab gives, without reading them all."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import insert

from server.db import Database
from server.fablabs import service as fablabs
from server.fablabs import spatial
from server.fablabs.models import Fablab, Machine

# --- geometry ----------------------------------------------------------------------------------------------------


def test_great_circle_stays_within_the_margin_of_the_geodesic() -> None:
    rng = np.random.default_rng(3)
    n = 100_000
    lat1, lon1 = rng.uniform(-89.9, 89.9, n), rng.uniform(-180, 180, n)
    spread = rng.choice([0.01, 0.5, 5.0, 40.0], n)
    lat2 = np.clip(lat1 + rng.normal(0, 1, n) * spread, -90, 90)
    lon2 = lon1 + rng.normal(0, 1, n) * spread
    sphere = spatial.great_circle_km(lat1, lon1, lat2, lon2)
    _, _, metres = spatial.GEOD.inv(lon1, lat1, lon2, lat2)
    ratio = metres / 1000 / np.maximum(sphere, 1e-12)
    measurable = sphere > 0.001
    assert np.all(np.abs(ratio[measurable] - 1) < spatial.SPHERE_MARGIN)


@pytest.mark.parametrize("level", range(len(spatial.LEVELS)))
def test_every_point_of_a_cell_lies_within_its_distance_bounds(level: int) -> None:
    rng = np.random.default_rng(level)
    size = spatial.LEVELS[level][1]
    for origin in [(48.85, 2.35), (-33.9, 151.2), (0.0, 179.99), (64.1, -21.9), (-70.0, -179.5)]:
        # cells around the origin, and many points in each
        lat = np.clip(origin[0] + rng.normal(0, 30 * size, 400), -89.99, 89.99)
        lon = (origin[1] + rng.normal(0, 30 * size, 400) + 180) % 360 - 180
        ids = np.array([spatial.cells_of(a, b)[spatial.LEVELS[level][0]] for a, b in zip(lat, lon, strict=True)])
        lower, upper = spatial.distance_bounds(origin[0], origin[1], level, ids)
        # random points inside each cell: from the cell's own south-west corner
        ncols = int(round(360 / size))
        rows, cols = np.divmod(ids, ncols)
        for _ in range(5):
            plat = np.minimum(rows * size - 90 + rng.uniform(0, size, len(ids)), 90)
            plon = cols * size - 180 + rng.uniform(0, size, len(ids))
            d = spatial.GEOD.inv(np.full(len(ids), origin[1]), np.full(len(ids), origin[0]), plon, plat)[2] / 1000
            assert np.all(lower <= d + 1e-9) and np.all(d <= upper + 1e-9)


def test_cells_nest_exactly_at_every_level() -> None:
    rng = np.random.default_rng(5)
    points = [(90.0, 180.0), (-90.0, -180.0), (0.3, 0.3), (-89.99, 179.999), (12.1, -0.1), (45.0, 180.0)]
    points += list(zip(rng.uniform(-90, 90, 2000).round(rng.integers(1, 6)), rng.uniform(-180, 180, 2000), strict=True))
    for lat, lon in points:
        cells = list(spatial.cells_of(lat, lon).values())
        for level in range(1, len(cells)):
            assert cells[level - 1] in spatial.children(level, np.array([cells[level]])).tolist(), (lat, lon, level)


def test_runs_group_consecutive_ids() -> None:
    assert spatial.runs(np.array([7, 3, 4, 5, 9, 10, 4])) == [(3, 5), (7, 7), (9, 10)]
    assert spatial.runs(np.array([], dtype=np.int64)) == []


# --- against measuring every lab ---------------------------------------------------------------------------------

def _labs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A crowded city, a scattered region, a cluster across the antimeridian, a few labs near the pole."""
    parts = [
        (48.85 + rng.normal(0, 0.12, 3000), 2.35 + rng.normal(0, 0.18, 3000)),
        (rng.uniform(45, 52, 800), rng.uniform(-3, 8, 800)),
        (-17.0 + rng.normal(0, 0.3, 500), (179.9 + rng.normal(0, 0.4, 500) + 180) % 360 - 180),
        (rng.uniform(88.5, 89.95, 60), rng.uniform(-180, 180, 60)),
    ]
    lat = np.concatenate([p[0] for p in parts]).round(5)
    lon = np.concatenate([p[1] for p in parts]).round(5)
    lat[:40] = 48.85  # shared places: ties in distance are ranked by id
    lon[:40] = 2.40
    return lat, lon


@pytest.fixture
def directory(database_url: str):
    db = Database(database_url)
    rng = np.random.default_rng(11)
    lat, lon = _labs(rng)
    process = np.where(rng.uniform(size=len(lat)) < 0.3, "laser_cutting", "fdm")
    with db.session() as s:
        s.execute(insert(Fablab), [{"id": i + 1, "name": f"Lab {i + 1}", "kind": "fablab", "latitude": float(a),
                                    "longitude": float(b), **spatial.cells_of(float(a), float(b))}
                                   for i, (a, b) in enumerate(zip(lat, lon, strict=True))])
        s.execute(insert(Machine), [{"fablab_id": i + 1, "key": "m", "name": "m", "process": str(p), "build_x_mm": 200,
                                     "build_y_mm": 200, "build_z_mm": 200, "materials": ["PLA"]}
                                    for i, p in enumerate(process)])
    yield db, lat, lon, process
    db.dispose()


def _measured(lat: np.ndarray, lon: np.ndarray, keep: np.ndarray, origin: tuple[float, float],
              radius: float) -> tuple[list[int], np.ndarray]:
    d = spatial.distances_km(origin[0], origin[1], lat, lon)
    ids = np.arange(1, len(lat) + 1)
    inside = (d <= radius) & keep
    order = np.lexsort((ids[inside], d[inside]))
    return ids[inside][order].tolist(), d[inside][order]


QUERIES = [
    ((48.85, 2.35), 50.0),  # the middle of the city: thousands in reach
    ((49.10, 2.10), 30.0),  # its edge
    ((48.86, 2.36), 2.5),  # a small circle: covered by the finest cells
    ((48.0, 3.0), 400.0),  # a wide one: coarse cells, refined where crowded
    ((-17.0, 179.95), 80.0),  # across the antimeridian
    ((-17.0, -179.8), 60.0),
    ((89.5, 10.0), 150.0),  # near the pole: from the 10-degree cells around it
    ((48.85, 2.35), 20_000.0),  # the whole world: every lab, nearest first
    ((10.0, 10.0), 50.0),  # nobody
]


@pytest.mark.parametrize(("origin", "radius"), QUERIES)
def test_pages_and_totals_match_measuring_every_lab(directory, origin, radius) -> None:
    db, lat, lon, process = directory
    for proc in (None, "laser_cutting"):
        keep = np.ones(len(lat), bool) if proc is None else process == proc
        want_ids, want_dist = _measured(lat, lon, keep, origin, radius)
        for per_page in (20, 100):
            pages = range(1, min(len(want_ids) // per_page + 2, 4))
            for page in [*pages, len(want_ids) // per_page + 1, len(want_ids) // per_page + 2]:
                with db.session() as s:
                    hits, total = fablabs.near(s, origin[0], origin[1], radius, proc, page, per_page)
                    got = [(lab.id, d) for lab, d in hits]
                lo = (page - 1) * per_page
                assert total == len(want_ids), (proc, page)
                assert [i for i, _ in got] == want_ids[lo:lo + per_page], (proc, page)
                assert np.allclose([d for _, d in got], want_dist[lo:lo + per_page], atol=1e-6)


def test_a_crowded_city_is_counted_without_reading_every_lab(directory, monkeypatch) -> None:
    db, lat, lon, _ = directory
    measured = []
    real = spatial.distances_km

    def counting(latitude, longitude, lats, lons):
        measured.append(len(lats))
        return real(latitude, longitude, lats, lons)

    monkeypatch.setattr(spatial, "distances_km", counting)
    with db.session() as s:
        hits, total = fablabs.near(s, 48.85, 2.35, 50.0, None, 1, 20)
    assert len(hits) == 20 and total > 3000
    assert sum(measured) < total / 4, (sum(measured), total)  # the edge and the page, not the whole circle
