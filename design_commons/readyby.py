"""When a part is ready: work laid onto a lab's weekly opening hours in its own time zone.

A machine with ``queue_s`` of work waiting and a job of ``job_s`` is ready, at the median, once
``queue_s + job_s`` seconds of opening time have passed (all seconds, if it runs unattended);
at the 90th percentile once that work times the machine's spread has (:func:`spread`: the
90th percentile of its actual/estimated ratios over their median, :data:`DEFAULT_SPREAD`
without history). Opening hours are wall-clock times in an IANA zone (``zoneinfo``), so a
day on which clocks change is as long as it really is; listed dates are closed all day.
"""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from design_commons.reports import CodedError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_SPREAD = 1.5
MIN_HISTORY = 5  # ratios before a machine's own spread is used
MAX_DAYS_AHEAD = 3660  # work that needs more opening time than ten years' is refused, not searched for
MAX_CLOSED = 400
UTC = dt.UTC


class ReadyByError(CodedError):
    """A figure this module cannot work out."""


def _clock(text: Any) -> dt.time | None:
    """``"09:00"`` as a time; ``"24:00"`` (end of day) as None."""
    if text == "24:00":
        return None
    try:
        return dt.time.fromisoformat(text) if isinstance(text, str) and len(text) == 5 else _bad(text)
    except ValueError:
        return _bad(text)


def _bad(text: Any) -> dt.time:
    raise ReadyByError("invalid_opening_hours", f"{text!r} is not a time of day as HH:MM")


@dataclass(frozen=True)
class OpeningHours:
    timezone: str
    week: dict[str, tuple[tuple[dt.time, dt.time | None], ...]]  # None: until midnight
    closed: frozenset[dt.date]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_json(self) -> dict[str, Any]:
        return {"timezone": self.timezone,
                "week": {d: [[a.strftime("%H:%M"), b.strftime("%H:%M") if b else "24:00"] for a, b in spans]
                         for d, spans in self.week.items() if spans},
                "closed": [d.isoformat() for d in sorted(self.closed)]}

    def spans_on(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The day's opening spans as UTC instants (wall times in the lab's zone; a gap or fold
        of a clock change resolved as zoneinfo does, ``fold=0``)."""
        if day in self.closed:
            return []
        zone, out = self.zone, []
        for start, end in self.week.get(DAYS[day.weekday()], ()):
            a = dt.datetime.combine(day, start, zone)
            b = (dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone) if end is None
                 else dt.datetime.combine(day, end, zone))
            out.append((a.astimezone(UTC), b.astimezone(UTC)))
        return out


def opening_hours(body: Any) -> OpeningHours:
    """Opening hours from API.md's shape: ``{"timezone", "week": {"mon": [["09:00", "19:00"]]}, "closed": [...]}``."""
    if not isinstance(body, dict):
        raise ReadyByError("invalid_opening_hours", "opening_hours is an object")
    name = body.get("timezone")
    try:
        if not isinstance(name, str) or not name:
            raise ZoneInfoNotFoundError
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReadyByError("unknown_timezone", f"{name!r} is not an IANA time zone") from None
    week = body.get("week") or {}
    if not isinstance(week, dict) or set(week) - set(DAYS):
        raise ReadyByError("invalid_opening_hours", f"week's days are {', '.join(DAYS)}")
    parsed: dict[str, tuple[tuple[dt.time, dt.time | None], ...]] = {}
    for day, spans in week.items():
        if not isinstance(spans, list) or len(spans) > 10:
            raise ReadyByError("invalid_opening_hours", f"{day} is a list of at most 10 [open, close] pairs")
        out = []
        for span in spans:
            if not isinstance(span, list) or len(span) != 2:
                raise ReadyByError("invalid_opening_hours", f"{day}: each span is [\"HH:MM\", \"HH:MM\"]")
            a, b = _clock(span[0]), _clock(span[1])
            if a is None or (b is not None and b <= a):
                raise ReadyByError("invalid_opening_hours", f"{day}: {span} closes before it opens")
            out.append((a, b))
        out.sort()
        if any(x[1] is None or x[1] > y[0] for x, y in zip(out, out[1:], strict=False)):
            raise ReadyByError("invalid_opening_hours", f"{day}: spans overlap")
        parsed[day] = tuple(out)
    closed = body.get("closed") or []
    if not isinstance(closed, list) or len(closed) > MAX_CLOSED:
        raise ReadyByError("invalid_opening_hours", f"closed is a list of at most {MAX_CLOSED} dates")
    try:
        days = frozenset(dt.date.fromisoformat(d) for d in closed)
    except (TypeError, ValueError):
        raise ReadyByError("invalid_opening_hours", "closed dates are written YYYY-MM-DD") from None
    if not any(parsed.values()):
        raise ReadyByError("invalid_opening_hours", "the week has no opening hours (say unattended if it never closes)")
    return OpeningHours(name, parsed, days)


def lay_onto(start: dt.datetime, work_s: float, hours: OpeningHours | None) -> dt.datetime:
    """The instant ``work_s`` seconds of opening time after ``start`` (aware); every second counts
    when ``hours`` is None (unattended)."""
    start = start.astimezone(UTC)
    if hours is None:
        return start + dt.timedelta(seconds=work_s)
    left = dt.timedelta(seconds=work_s)
    day = start.astimezone(hours.zone).date() - dt.timedelta(days=1)  # a span from the day before may run on
    for _ in range(MAX_DAYS_AHEAD):
        for a, b in hours.spans_on(day):
            a = max(a, start)
            if b <= a:
                continue
            if b - a >= left:
                return a + left
            left -= b - a
        day += dt.timedelta(days=1)
    raise ReadyByError("too_far_ahead", "the work needs more opening time than the next ten years hold")


def spread(ratios: list[float] | tuple[float, ...]) -> float:
    """How much wider the 90th percentile is than the median, from a machine's actual/estimated ratios."""
    if len(ratios) < MIN_HISTORY:
        return DEFAULT_SPREAD
    median = statistics.median(ratios)
    p90 = statistics.quantiles(ratios, n=10, method="inclusive")[-1]
    return max(1.0, p90 / median) if median > 0 else DEFAULT_SPREAD


@dataclass(frozen=True)
class ReadyBy:
    machine_key: str
    p50: dt.datetime
    p90: dt.datetime

    def to_json(self) -> dict[str, str]:
        return {"p50": self.p50.isoformat().replace("+00:00", "Z"), "p90": self.p90.isoformat().replace("+00:00", "Z")}


def ready_by(now: dt.datetime, machine_key: str, queue_s: float, job_s: float, hours: OpeningHours | None,
             machine_spread: float = DEFAULT_SPREAD) -> ReadyBy:
    """P50 and P90 of one machine: its queue and this job laid onto the opening hours."""
    work = max(0.0, queue_s) + job_s
    return ReadyBy(machine_key, lay_onto(now, work, hours), lay_onto(now, work * machine_spread, hours))


def earliest(now: dt.datetime, machines: list[tuple[str, float, float, float]], hours: OpeningHours | None) -> ReadyBy:
    """Of (key, queue_s, job_s, spread) machines that can all make the part, the one ready first (P50, then P90, key)."""
    if not machines:
        raise ReadyByError("no_machine", "no machine to lay the work on")
    found = [ready_by(now, key, q, j, hours, s) for key, q, j, s in machines]
    return min(found, key=lambda r: (r.p50, r.p90, r.machine_key))
