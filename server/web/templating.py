"""What every template may use: the signed-in account, plain-words filters, asset availability."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from server.db import utcnow
from server.web import wording

STATIC = Path(__file__).resolve().parents[1] / "static"


def leaflet_installed() -> bool:
    """Leaflet is installed by ``server.web.assets`` at setup; without it the lab map becomes a list."""
    folder = Path(current_app.static_folder or STATIC) / "vendor" / "leaflet"
    return (folder / "leaflet.js").is_file() and (folder / "leaflet.css").is_file()


def _date(value: dt.datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.strftime("%d %b %Y, %H:%M UTC")


def _km(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} km" if value < 100 else f"{value:.0f} km"


def _mm(values: Any) -> str:
    if not values:
        return ""
    return " × ".join(f"{float(v):.1f}" for v in values) + " mm"


def _bytes(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size = size / 1024  # type: ignore[assignment]
    return ""


def init_app(app: Flask) -> None:
    from server.web.site import signed_in

    @app.context_processor
    def _globals() -> dict[str, Any]:
        try:
            account = signed_in()
        except Exception:  # an error page must render even when the database is down
            account = None
        settings = app.config["COSMOLOC"]
        return {"me": account, "tile_url": settings.tile_url, "leaflet_installed": leaflet_installed,
                "now": utcnow(), "process_names": wording.PROCESS_NAMES}

    env = app.jinja_env
    env.filters.update({
        "date": _date, "km": _km, "mm": _mm, "filesize": _bytes,
        "process_name": lambda p: wording.PROCESS_NAMES.get(p, p),
        "order_status": lambda s: wording.ORDER_STATUS.get(s, s),
        "reason": lambda r: wording.REASONS.get(r, r.replace("_", " ")),
        "machine_state": lambda s: wording.MACHINE_STATE.get(s, s),
        "job_state": lambda s: wording.JOB_STATE.get(s, s),
        "validation_status": lambda s: wording.VALIDATION_STATUS.get(s, s),
        "time_left": lambda t: wording.time_left(t, utcnow()),
        "ago": lambda t: wording.ago(t, utcnow()),
    })
    env.globals["event_text"] = wording.event_text
