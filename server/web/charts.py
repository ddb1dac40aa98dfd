"""A machine's recent availability as a small inline SVG strip, drawn on the server (no JavaScript needed)."""
from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from markupsafe import Markup

COLOURS = {"idle": "#1a7f37", "busy": "#d4a72c", "paused": "#8c959f", "error": "#cf222e", "offline": "#57606a",
           "maintenance": "#8250df"}
NO_DATA = "#eaeef2"


def availability_svg(samples: list[dict[str, Any]], since: dt.datetime, now: dt.datetime, stale_after_s: int,
                     width: int = 480, height: int = 28) -> Markup:
    """A strip from ``since`` to ``now``: one segment per reported state, grey where nothing was reported.

    ``samples`` are ``{"at": iso time, "state": str}``, oldest first (fablabs.service.history). A state
    counts until the next sample, or for ``stale_after_s`` at most (after that the lab was silent).
    """
    span = max((now - since).total_seconds(), 1.0)
    rects: list[str] = []
    shares: dict[str, float] = {}
    points = [(dt.datetime.fromisoformat(s["at"]), s["state"]) for s in samples]
    for i, (at, state) in enumerate(points):
        start = max(at, since)
        end = points[i + 1][0] if i + 1 < len(points) else now
        end = min(end, at + dt.timedelta(seconds=max(stale_after_s, 1)), now)
        if end <= start:
            continue
        x = (start - since).total_seconds() / span * width
        w = max((end - start).total_seconds() / span * width, 1.0)
        shares[state] = shares.get(state, 0.0) + (end - start).total_seconds()
        rects.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{COLOURS.get(state, NO_DATA)}">'
                     f'<title>{escape(state)} from {start:%H:%M} to {end:%H:%M} UTC</title></rect>')
    free = shares.get("idle", 0.0) / span * 100
    busy = shares.get("busy", 0.0) / span * 100
    label = f"Last {span / 3600:.0f} hours: free {free:.0f}% of the time, busy {busy:.0f}%, the rest unavailable or silent."
    svg = (f'<svg class="availability" viewBox="0 0 {width} {height}" width="100%" height="{height}" role="img" '
           f'aria-label="{escape(label)}" preserveAspectRatio="none">'
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="{NO_DATA}"/>{"".join(rects)}</svg>'
           f'<p class="chart-caption">{escape(label)}</p>')
    return Markup(svg)
