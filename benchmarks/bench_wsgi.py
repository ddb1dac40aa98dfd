"""The hub as gunicorn serves it, plus one constant-answer route for the benchmarks' ceiling.

    gunicorn -w 2 -k gthread --threads 8 benchmarks.bench_wsgi:app

Settings come from the COSMOLOC_* environment, as for ``cosmoloc serve``. ``/api/bench/constant``
answers the same small JSON to GET and POST without touching the database: the most these
processes can answer under a given client load, measured against the real endpoints. It sits
under ``/api/`` so it passes the same request hooks as the API (the web pages' CSRF check
applies to every other path and would refuse a POST).
"""
from __future__ import annotations

from flask import Blueprint

from server.app import create_app

bench = Blueprint("bench", __name__)


@bench.route("/api/bench/constant", methods=["GET", "POST"])
def constant() -> tuple[dict[str, bool], int]:
    return {"ok": True}, 200


app = create_app()
app.register_blueprint(bench)
