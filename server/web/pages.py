"""The home page: what cosmoloc is, live figures and recent designs."""
from __future__ import annotations

from typing import Any

from flask import render_template

from server.db import utcnow
from server.designs import schemas as design_schemas
from server.designs import service as designs
from server.edge import db, paginate
from server.web.figures import figures
from server.web.site import bp, settings


@bp.get("/")
def home() -> Any:
    recent, _total = paginate(db(), designs.search_query(), 1, 6)
    return render_template("home.html", figures=figures(db(), utcnow(), settings().node_stale_after_s),
                           recent=[design_schemas.design_summary(d) for d in recent])
