"""The methods page: every transport factor with its edition and source (each quote's ``method_url``)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from design_commons import transport

bp = Blueprint("methods", __name__)


@bp.get(transport.METHOD_URL)
def transport_methods() -> Any:
    constants = [("packaging added to the part", f"{transport.PACKAGING_KG} kg"),
                 ("road km per geodesic km", str(transport.ROAD_FACTOR)),
                 ("air: great-circle uplift", str(transport.AIR_ROUTING)),
                 ("sea: Shenzhen to Rotterdam", f"{transport.SEA_KM:,.0f} km"),
                 ("air: arrival airport to the citizen", f"{transport.AIRPORT_KM:.0f} km geodesic"),
                 ("national warehouse to the citizen", f"{transport.WAREHOUSE_KM:.0f} km geodesic")]
    return render_template("methods/transport.html", factors=transport.methods(), constants=constants,
                           words=transport.WORDS)
