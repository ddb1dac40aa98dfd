"""The cost of a ``/metrics`` scrape as a hub's orders grow, against ``/healthz`` in the same run.

A scrape reads orders by status, offers by outcome and labs online from the database (SQLite here).
One order made through the API is copied to 1k, 10k and 100k orders, each with one job (a fifth
of them accepted, the others declined or expired), and both endpoints are called through the Flask
test client. Reported: the median time of each and the scrape's cost as a multiple of ``/healthz``'s.

    python benchmarks/metrics_scrape.py            # 1k / 10k / 100k orders
    python benchmarks/metrics_scrape.py --quick    # 1k / 10k
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from tests.conftest import ApiUser  # noqa: E402
from tests.server.opsapp import hub_app  # noqa: E402
from tests.server.orderflow import BARCELONA, Lab, order, publish  # noqa: E402

COPY_ORDERS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO orders (citizen_id, design_id, file_id, quantity, material, process, thickness_mm, delivery_latitude,
                    delivery_longitude, delivery_address, max_distance_km, status, fablab_id, distance_km,
                    failed_attempts, next_match_at, created_at, updated_at)
SELECT citizen_id, design_id, file_id, quantity, material, process, thickness_mm, delivery_latitude,
       delivery_longitude, delivery_address, max_distance_km,
       CASE WHEN i % 5 = 0 THEN 'accepted' ELSE 'completed' END, fablab_id, distance_km, failed_attempts,
       next_match_at, created_at, updated_at
FROM orders, n WHERE orders.id = :first
"""
COPY_JOBS = """
INSERT INTO jobs (order_id, live_order_id, fablab_id, machine_key, state, distance_km, expires_at, progress,
                  last_seq, reason, note, created_at, updated_at)
SELECT o.id, NULL, j.fablab_id, j.machine_key,
       CASE WHEN o.id % 5 = 0 THEN 'accepted' WHEN o.id % 2 = 0 THEN 'declined' ELSE 'expired' END,
       j.distance_km, j.expires_at, 0, 0, '', '', j.created_at, j.updated_at
FROM orders o, jobs j WHERE j.id = :job AND o.id > :first
"""


def median_s(client: Any, url: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    sizes = [1_000, 10_000] if parser.parse_args().quick else [1_000, 10_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        from server.db import make_engine
        from server.schema import upgrade

        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        with hub_app(Path(tmp), url) as app:
            client = app.test_client()
            designer, operator, citizen = (ApiUser(client, n) for n in ("designer", "operator", "citizen"))
            lab = Lab(client, operator, "Bench lab", *BARCELONA)
            first = order(citizen, publish(designer)).get_json()["id"]
            job = lab.jobs("offered")[0]["id"]
            db = app.extensions["cosmoloc.db"].engine
            have = 1
            print(f"{'orders':>8} {'/healthz':>10} {'/metrics':>10} {'ratio':>7}")
            for size in sizes:
                with db.begin() as conn:
                    last = conn.execute(text("SELECT max(id) FROM orders")).scalar_one()
                    conn.execute(text(COPY_ORDERS), {"count": size - have, "first": first})
                    conn.execute(text(COPY_JOBS.replace("o.id > :first", "o.id > :last")), {"job": job, "last": last})
                have = size
                runs = 30
                health = median_s(client, "/healthz", runs)
                scrape = median_s(client, "/metrics", runs)
                print(f"{size:>8} {health * 1000:>8.2f}ms {scrape * 1000:>8.2f}ms {scrape / health:>6.1f}x")


if __name__ == "__main__":
    main()
