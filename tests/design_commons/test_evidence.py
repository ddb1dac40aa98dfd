"""Evidence of making: Wilson bounds, design readiness and lab reputation, by hand and by property."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from design_commons.evidence import (
    Answer,
    FailureMode,
    FitForPurpose,
    JobRecord,
    Outcome,
    Readiness,
    age_weight,
    counted,
    design_evidence,
    lab_reputation,
    reliable_key,
    wilson_lower_bound,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OPERATORS = {1: frozenset({101}), 2: frozenset({102}), 3: frozenset({103, 104})}
_ids = iter(range(1, 10**9))


def job(lab: int = 1, citizen: int = 10, days_ago: float = 1.0, *, answer: Answer | None = Answer.ACCEPTED,
        outcome: Outcome | None = Outcome.SUCCESS, received: bool = True, late: bool = False,
        failed: bool = False, fit: FitForPurpose | None = None, mode: FailureMode | None = None,
        price: bool = True, accept_s: float = 600.0, **extra: object) -> JobRecord:
    """A job offered ``days_ago`` before NOW that ran its course (completed a day after the offer)."""
    offered = NOW - timedelta(days=days_ago)
    accepted = answer is Answer.ACCEPTED
    completed = offered + timedelta(days=1) if accepted and not failed else None
    promised = offered + timedelta(hours=12 if late else 36)
    return JobRecord(
        job_id=next(_ids), lab_id=lab, citizen_id=citizen, offered_at=offered, lab_operator_ids=OPERATORS[lab],
        answer=answer, answered_at=offered + timedelta(seconds=accept_s) if answer else None,
        price_agreed=price, promised_by=promised if accepted else None, completed_at=completed,
        failed_at=offered + timedelta(days=1) if failed else None, outcome=outcome if accepted else None,
        failure_mode=mode, received_at=completed + timedelta(days=2) if completed and received else None,
        fit_for_purpose=fit, **extra)  # type: ignore[arg-type]


# --- Wilson --------------------------------------------------------------------------------------------------

def test_two_of_two_ranks_below_ninety_five_of_a_hundred() -> None:
    assert wilson_lower_bound(2, 2) == pytest.approx(0.34238, abs=1e-5)
    assert wilson_lower_bound(95, 100) == pytest.approx(0.88825, abs=1e-5)
    assert wilson_lower_bound(2, 2) < wilson_lower_bound(95, 100)


def test_no_trials_gives_no_credit_and_nonsense_is_refused() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(0, 10) == 0.0
    with pytest.raises(ValueError):
        wilson_lower_bound(3, 2)
    with pytest.raises(ValueError):
        wilson_lower_bound(float("nan"), 2)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 2000), data=st.data())
def test_wilson_agrees_with_scipy_and_never_exceeds_the_rate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    low = wilson_lower_bound(k, n)
    assert low == pytest.approx(binomtest(k, n).proportion_ci(method="wilson").low, abs=1e-9)
    assert 0.0 <= low <= k / n


@given(yes=st.floats(0, 500), extra=st.floats(0, 500))
def test_weighted_lower_bound_stays_below_the_weighted_rate(yes: float, extra: float) -> None:
    n = yes + extra
    low = wilson_lower_bound(yes, n)
    assert 0.0 <= low <= (yes / n if n > 0 else 0.0) + 1e-12


# --- design readiness ----------------------------------------------------------------------------------------

def test_a_report_without_the_citizens_receipt_never_counts() -> None:
    evidence = design_evidence([job(received=False), job(lab=2, citizen=11, received=False)])
    assert evidence.verified_makes == 0
    assert evidence.success.n == 0 and evidence.success.rate is None
    assert evidence.readiness is None


def test_one_verified_make_is_otrl4_and_names_its_lab() -> None:
    evidence = design_evidence([job(), job(lab=2, citizen=11, received=False)])
    assert (evidence.verified_makes, evidence.labs, evidence.readiness) == (1, 1, Readiness.OTRL4)
    assert evidence.to_api()["readiness"] == "OTRL-4"
    assert evidence.to_api()["success"] == {"rate": 1.0, "lower_bound": pytest.approx(0.20654, abs=1e-5), "n": 1}


def test_otrl5_needs_two_labs_and_a_lower_bound_of_point_six() -> None:
    # k of k has lower bound k / (k + z^2): 5 of 5 gives 0.566, 6 of 6 gives 0.610.
    five = [job(lab=1 + i % 2, citizen=20 + i) for i in range(5)]
    assert design_evidence(five).readiness is Readiness.OTRL4
    six = [*five, job(lab=2, citizen=30)]
    assert design_evidence(six).success.lower_bound == pytest.approx(6 / (6 + 1.959964**2), abs=1e-5)
    assert design_evidence(six).readiness is Readiness.OTRL5
    one_lab = [replace(j, lab_id=1, lab_operator_ids=OPERATORS[1]) for j in six]
    assert design_evidence(one_lab).labs == 1
    assert design_evidence(one_lab).readiness is Readiness.OTRL4
    with_failure = [*six, job(lab=2, citizen=31, outcome=Outcome.FAILED, mode=FailureMode.WARPING)]
    assert design_evidence(with_failure).readiness is Readiness.OTRL4  # 6 of 7: 0.487


def test_failures_count_without_receipt_and_list_their_modes() -> None:
    evidence = design_evidence([
        job(citizen=1), job(citizen=2, outcome=Outcome.FAILED, mode=FailureMode.ADHESION, received=False),
        job(citizen=3, failed=True, outcome=None), job(citizen=4, outcome=Outcome.PARTIAL, mode=FailureMode.WARPING),
        job(citizen=5, fit=FitForPurpose.NO),
    ])
    assert evidence.verified_makes == 1
    assert (evidence.success.n, evidence.success.rate) == (5, pytest.approx(0.2))
    assert evidence.failure_modes == {"adhesion": 1, "other": 1, "warping": 1}


def test_estimates_are_compared_with_actual_time_and_mass() -> None:
    evidence = design_evidence([
        job(citizen=1, estimated_time_s=3600, actual_time_s=4500, estimated_mass_g=20, actual_mass_g=19),
        job(citizen=2, estimated_time_s=3600, actual_time_s=3600),
        job(citizen=3, estimated_time_s=1000, actual_time_s=2000, estimated_mass_g=10, actual_mass_g=11),
    ])
    assert (evidence.time_ratio, evidence.time_n) == (1.25, 3)
    assert (evidence.mass_ratio, evidence.mass_n) == (pytest.approx(1.025), 2)


def test_a_self_order_is_no_make() -> None:
    assert design_evidence([job(citizen=101)]).verified_makes == 0
    assert design_evidence([job(lab=3, citizen=104)]).verified_makes == 0


# --- counting rules ------------------------------------------------------------------------------------------

def test_the_fourth_order_in_ninety_days_from_one_citizen_and_lab_is_ignored() -> None:
    first = [job(days_ago=d) for d in (100, 80, 60)]
    fourth = job(days_ago=40)
    assert fourth not in counted([*first, fourth])
    later = job(days_ago=9)  # 91 days after the first: its window holds two kept jobs
    assert later in counted([*first, fourth, later])
    elsewhere = job(lab=2, days_ago=40)  # the cap is per lab
    assert elsewhere in counted([*first, elsewhere])


# --- lab reputation ------------------------------------------------------------------------------------------

def test_a_new_lab_shows_no_history_not_a_hundred_percent() -> None:
    reputation = lab_reputation([], NOW)
    assert not reputation.has_history
    assert reputation.to_api()["on_time"] == {"rate": None, "lower_bound": 0.0, "n": 0}
    assert reputation.acceptance_median_s is None
    established = lab_reputation([job(citizen=c, days_ago=c) for c in range(1, 21)], NOW)
    assert reliable_key(established, 50.0) < reliable_key(reputation, 1.0)


def test_decay_halves_the_weight_at_180_days() -> None:
    assert age_weight(NOW - timedelta(days=180), NOW) == pytest.approx(0.5)
    assert age_weight(NOW - timedelta(days=360), NOW) == pytest.approx(0.25)
    reputation = lab_reputation([job(days_ago=0), job(citizen=11, days_ago=180, late=True)], NOW)
    assert reputation.on_time.n == 2
    assert reputation.on_time.weight == pytest.approx(1.5)
    assert reputation.on_time.rate == pytest.approx(1 / 1.5)
    assert reputation.on_time.lower_bound == pytest.approx(wilson_lower_bound(1, 1.5))


def test_reputation_by_hand() -> None:
    now_ish = 1e-9  # same age for all: weights of 1
    jobs = [
        job(citizen=1, days_ago=now_ish, accept_s=60),
        job(citizen=2, days_ago=now_ish, late=True, accept_s=120),
        job(citizen=3, days_ago=now_ish, received=False, accept_s=300),  # on time, not yet confirmed
        job(citizen=4, days_ago=now_ish, failed=True, outcome=None, accept_s=900),
        job(citizen=5, days_ago=now_ish, answer=Answer.DECLINED),
        job(citizen=6, days_ago=now_ish, answer=Answer.EXPIRED),
        job(citizen=7, days_ago=now_ish, answer=Answer.WITHDRAWN),
        job(citizen=8, days_ago=now_ish, price=False, accept_s=30),  # no agreed price: only its answer counts
    ]
    at = NOW + timedelta(days=3)
    r = lab_reputation(jobs, at)
    assert (r.on_time.n, r.on_time.rate) == (3, pytest.approx(1 / 3))  # 1 on time, 1 late, 1 failed
    assert (r.success.n, r.success.rate) == (3, pytest.approx(2 / 3))  # 2 received successes, 1 failure
    assert r.confirmed.n == 2  # job 3 is within the 14 days of silence
    assert (r.declined.n, r.declined.rate) == (7, pytest.approx(2 / 7))
    assert r.acceptance_median_s == 120
    later = lab_reputation(jobs, NOW + timedelta(days=16))
    assert (later.confirmed.n, later.confirmed.rate) == (3, pytest.approx(2 / 3))
    assert later.success.n == 3  # silence is "not confirmed", never a failure


def test_unfinished_job_past_its_promise_is_late_and_old_jobs_leave_the_window() -> None:
    open_job = replace(job(days_ago=5), completed_at=None, received_at=None, outcome=None)
    assert lab_reputation([open_job], NOW).on_time.rate == 0.0
    assert not lab_reputation([job(days_ago=400)], NOW).has_history


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        JobRecord(job_id=1, lab_id=1, citizen_id=1, offered_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        lab_reputation([], datetime(2026, 1, 1))


# --- properties ----------------------------------------------------------------------------------------------

@st.composite
def jobs(draw: st.DrawFn, citizens: st.SearchStrategy[int] = st.integers(10, 14)) -> JobRecord:
    answer = draw(st.sampled_from([*Answer, None]))
    outcome = draw(st.sampled_from([*Outcome, None]))
    kwargs = dict(lab=draw(st.integers(1, 3)), citizen=draw(citizens), days_ago=draw(st.floats(0, 400)),
                  answer=answer, outcome=outcome, received=draw(st.booleans()), late=draw(st.booleans()),
                  failed=draw(st.booleans()) and outcome is not Outcome.SUCCESS, price=draw(st.booleans()),
                  fit=draw(st.sampled_from([*FitForPurpose, None])), accept_s=draw(st.floats(1, 86400)))
    return job(**kwargs)  # type: ignore[arg-type]


job_lists = st.lists(jobs(), max_size=25)
LEVEL = {None: 0, Readiness.OTRL4: 1, Readiness.OTRL5: 2}


@settings(max_examples=200, deadline=None)
@given(history=job_lists, extra=jobs(citizens=st.sampled_from([101, 102, 103, 104])))
def test_adding_a_self_order_never_changes_anything(history: list[JobRecord], extra: JobRecord) -> None:
    extra = replace(extra, citizen_id=next(iter(extra.lab_operator_ids)))
    assert lab_reputation(history, NOW) == lab_reputation([*history, extra], NOW)
    assert design_evidence(history) == design_evidence([*history, extra])


@settings(max_examples=200, deadline=None)
@given(history=job_lists, three=st.lists(jobs(citizens=st.just(99)), min_size=3, max_size=3),
       fourth=jobs(citizens=st.just(99)))
def test_a_fourth_order_in_ninety_days_never_changes_anything(history: list[JobRecord], three: list[JobRecord],
                                                              fourth: JobRecord) -> None:
    base = NOW - timedelta(days=200)
    three = [replace(j, lab_id=1, lab_operator_ids=OPERATORS[1], offered_at=base + timedelta(days=10 * i))
             for i, j in enumerate(three)]
    fourth = replace(fourth, lab_id=1, lab_operator_ids=OPERATORS[1], offered_at=base + timedelta(days=89))
    before = [*history, *three]
    assert lab_reputation(before, NOW) == lab_reputation([*before, fourth], NOW)
    assert design_evidence(before) == design_evidence([*before, fourth])


@settings(max_examples=200, deadline=None)
@given(history=job_lists, extra=jobs(citizens=st.just(98)))
def test_badges_move_up_only_on_verified_makes(history: list[JobRecord], extra: JobRecord) -> None:
    before, after = design_evidence(history), design_evidence([*history, extra])
    if extra.verified_make:
        assert after.verified_makes == before.verified_makes + 1
    else:
        assert after.verified_makes == before.verified_makes
        assert LEVEL[after.readiness] <= LEVEL[before.readiness]
    if extra.effective_outcome is Outcome.SUCCESS and extra.received_at is None:
        assert after == before  # an unconfirmed success is no evidence either way


@settings(max_examples=200, deadline=None)
@given(history=job_lists, at_days=st.floats(0, 30))
def test_every_lower_bound_is_at_most_its_rate(history: list[JobRecord], at_days: float) -> None:
    r = lab_reputation(history, NOW + timedelta(days=at_days))
    for rate in (r.on_time, r.success, r.confirmed, r.declined, design_evidence(history).success):
        assert 0.0 <= rate.lower_bound <= (rate.rate if rate.rate is not None else 0.0) + 1e-12
        assert (rate.rate is None) == (rate.n == 0)
