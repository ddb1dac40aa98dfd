"""Ready-by P50/P90 on opening hours in the lab's zone: closed weekend and days, a DST change, queues."""
import datetime as dt

import pytest

from design_commons import readyby

UTC = dt.UTC
WEEKDAYS = {"timezone": "Europe/Madrid", "week": {d: [["09:00", "19:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}


def at(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_work_waits_over_a_closed_weekend():
    hours = readyby.opening_hours(WEEKDAYS)
    friday_5pm = at("2026-12-04T16:00")  # 17:00 in Madrid (CET, UTC+1)
    # 2 h on Friday until 19:00, the other 2 h on Monday from 09:00: 11:00 CET = 10:00 UTC
    assert readyby.lay_onto(friday_5pm, 4 * 3600, hours) == at("2026-12-07T10:00")
    closed_monday = readyby.opening_hours({**WEEKDAYS, "closed": ["2026-12-07"]})
    assert readyby.lay_onto(friday_5pm, 4 * 3600, closed_monday) == at("2026-12-08T10:00")
    assert readyby.lay_onto(friday_5pm, 4 * 3600, None) == at("2026-12-04T20:00")  # unattended


def test_starting_before_opening_and_split_days():
    hours = readyby.opening_hours({"timezone": "Europe/Madrid", "week": {"tue": [["09:00", "13:00"], ["15:00", "19:00"]]}})
    # Tuesday 07:00 CET: 4 h in the morning, then 1 h from 15:00 -> 16:00 CET = 15:00 UTC
    assert readyby.lay_onto(at("2026-12-08T06:00"), 5 * 3600, hours) == at("2026-12-08T15:00")


def test_a_dst_change_is_counted_in_real_hours():
    hours = readyby.opening_hours({"timezone": "Europe/Madrid", "week": {d: [["09:00", "19:00"]] for d in readyby.DAYS}})
    saturday_6pm = at("2026-10-24T16:00")  # 18:00 CEST (UTC+2)
    # clocks go back on Sunday 25 October: 1 h on Saturday, then Sunday 09:00-11:00 CET (UTC+1) = 10:00 UTC
    assert readyby.lay_onto(saturday_6pm, 3 * 3600, hours) == at("2026-10-25T10:00")
    allday = readyby.opening_hours({"timezone": "Europe/Madrid", "week": {"sun": [["00:00", "24:00"]]}})
    # that Sunday has 25 hours: 25 h of work from its midnight end at its end (23:00 UTC), not a week later
    assert readyby.lay_onto(at("2026-10-24T22:00"), 25 * 3600, allday) == at("2026-10-25T23:00")


def test_spread_widens_p90():
    ratios = [1.0 + i / 10 for i in range(10)]  # 1.0 .. 1.9: median 1.45, 90th percentile 1.81
    assert readyby.spread(ratios) == pytest.approx(1.81 / 1.45)
    assert readyby.spread([1.0, 2.0]) == readyby.DEFAULT_SPREAD  # too little history
    r = readyby.ready_by(at("2026-12-07T08:00"), "p1", 3600, 3600, None, 1.5)
    assert (r.p50, r.p90) == (at("2026-12-07T10:00"), at("2026-12-07T11:00"))
    assert r.to_json() == {"p50": "2026-12-07T10:00:00Z", "p90": "2026-12-07T11:00:00Z"}


def test_the_machine_with_the_shorter_queue_is_chosen():
    now = at("2026-12-07T08:00")  # Monday 09:00 in Madrid
    machines = [("slow", 3 * 3600, 1800, 1.5), ("quick", 2 * 3600, 1800, 1.5)]
    r = readyby.earliest(now, machines, readyby.opening_hours(WEEKDAYS))
    assert r.machine_key == "quick" and r.p50 == at("2026-12-07T10:30")
    assert readyby.earliest(now, list(reversed(machines)), None).machine_key == "quick"


@pytest.mark.parametrize("body", [
    {"timezone": "Nowhere/City", "week": {"mon": [["09:00", "10:00"]]}},
    {"timezone": "UTC", "week": {"mon": [["10:00", "09:00"]]}},
    {"timezone": "UTC", "week": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}},
    {"timezone": "UTC", "week": {"funday": [["09:00", "10:00"]]}},
    {"timezone": "UTC", "week": {"mon": [["9", "10"]]}},
    {"timezone": "UTC", "week": {}},
    {"timezone": "UTC", "week": {"mon": [["09:00", "10:00"]]}, "closed": ["25/12/2026"]},
])
def test_bad_opening_hours_are_refused(body):
    with pytest.raises(readyby.ReadyByError):
        readyby.opening_hours(body)


def test_work_past_ten_years_of_openings_is_refused():
    hours = readyby.opening_hours({"timezone": "UTC", "week": {"mon": [["09:00", "09:01"]]}})
    with pytest.raises(readyby.ReadyByError) as e:
        readyby.lay_onto(at("2026-12-07T08:00"), 1000 * 3600, hours)  # 60,000 one-minute openings
    assert e.value.code == "too_far_ahead"
