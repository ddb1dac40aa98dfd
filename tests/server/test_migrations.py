"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import server.models  # noqa: F401  (every table on the metadata)
from server.db import Base


def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_cell_micro_migration_fills_nested_cells_for_existing_labs(tmp_path) -> None:
    """Labs placed before 0005 get their finest cell, and every level recomputed so cells nest exactly."""
    from sqlalchemy import text

    from server.db import Database
    from server.fablabs import service as fablabs
    from server.fablabs import spatial
    from server.schema import upgrade

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    upgrade(engine, "0004")
    places = [(48.8566, 2.3522), (48.9, 2.3), (-17.0, 179.99), (0.3, 0.3), (89.99, -180.0)]
    with engine.begin() as conn:
        for i, (lat, lon) in enumerate(places, start=1):
            conn.execute(text(
                "INSERT INTO fablabs (id, name, kind, description, latitude, longitude, cell_fine, cell_mid, "
                "cell_coarse, address, city, country, location_approximate, accepting_orders, source, created_at, "
                "updated_at) VALUES (:i, :n, 'fablab', '', :lat, :lon, 0, 0, 0, '', '', '', 0, 1, 'registered', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"i": i, "n": f"lab {i}", "lat": lat, "lon": lon})
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT latitude, longitude, cell_micro, cell_fine, cell_mid, cell_coarse "
                                 "FROM fablabs ORDER BY id")).all()
    engine.dispose()
    for lat, lon, *cells in rows:
        assert dict(zip([c for c, _ in spatial.LEVELS], cells, strict=True)) == spatial.cells_of(lat, lon)
    db = Database(url)
    with db.session() as s:
        hits, total = fablabs.near(s, 48.8566, 2.3522, 10.0, None, 1, 20)
    db.dispose()
    assert [lab.id for lab, _ in hits] == [1, 2] and total == 2
