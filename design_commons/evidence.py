"""Evidence of making: design readiness and lab reputation from the record of jobs.

Everything here is a pure function of :class:`JobRecord` values (one per job a lab was
offered), so the hub, an exported data set and a test compute the same figures.

Rates come with their Wilson score lower bound (95 %) and n, and ranking uses the lower
bound: two successes out of two (lower bound 0.34) rank below 95 out of 100 (0.89), and a
lab with no history has rate ``None`` and lower bound 0, never 100 %.

Counting rules (DESIGN.md "Commons economics", Evidence), applied before anything is
counted, so they resist cheap gaming:

- a job whose citizen is one of the lab's operator accounts counts for nothing;
- at most :data:`MAX_ORDERS_PER_CITIZEN` jobs per citizen and lab within any
  :data:`CAP_WINDOW` count (the earliest ones; a later one past the cap is ignored);
- evidence in a lab's favour (a success, an on-time delivery) needs the citizen's confirmed
  receipt; evidence against it (a failed or partial outcome, a late delivery, a decline or an
  offer left to expire) counts as soon as it happens;
- silence for :data:`CONFIRMATION_SILENCE` after completion is "not confirmed", never a
  failure of the part.

Reputation weighs each job by its age (half weight every :data:`HALF_LIFE_DAYS`, from
the time the lab was offered it) within a window; design evidence does not decay, since it
belongs to the geometry (the canonical file's sha256) that was made, and a version inherits
nothing from its predecessor.
"""
from __future__ import annotations

import enum
import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist, median
from typing import Any

#: z for a two-sided 95 % interval (1.95996...), as scipy's ``norm.ppf(0.975)``.
Z_95 = NormalDist().inv_cdf(0.975)
HALF_LIFE_DAYS = 180.0
WINDOW_DAYS = 365
MAX_ORDERS_PER_CITIZEN = 3
CAP_WINDOW = timedelta(days=90)
CONFIRMATION_SILENCE = timedelta(days=14)
#: OTRL-5 ("reproducible"): this many verified makes at this many labs, with this lower bound of success.
OTRL5_MAKES = 3
OTRL5_LABS = 2
OTRL5_LOWER_BOUND = 0.6


class Outcome(enum.StrEnum):
    """What the lab's build report says came of the job."""

    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


class FailureMode(enum.StrEnum):
    """Why a part failed or came out partial: the fixed list a report picks from."""

    ADHESION = "adhesion"
    WARPING = "warping"
    DIMENSIONAL = "dimensional"
    LAYER_SHIFT = "layer_shift"
    BREAKAGE = "breakage"
    SURFACE = "surface"
    OTHER = "other"


class FitForPurpose(enum.StrEnum):
    """The citizen's word on the part, given with the receipt."""

    YES = "yes"
    NO = "no"
    UNSURE = "unsure"


class Answer(enum.StrEnum):
    """How a lab answered an offer. ``withdrawn``: the order went away before it answered."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Readiness(enum.StrEnum):
    """Open Know-How technology readiness levels the evidence can support."""

    OTRL4 = "OTRL-4"  # built and confirmed
    OTRL5 = "OTRL-5"  # reproducible


@dataclass(frozen=True)
class JobRecord:
    """One job offered to one lab, as far as it got. Times are UTC-aware; seconds and grams.

    ``lab_operator_ids``: the accounts that operate the lab (a job whose ``citizen_id`` is
    among them is a self-order). ``price_agreed``: a quote was fixed when the lab accepted.
    ``promised_by``: the quote's ready-by P90. ``outcome``: the build report's (``None``:
    no report; a job that failed without one counts as :attr:`Outcome.FAILED`).
    ``received_at``: the citizen confirmed receipt.
    """

    job_id: int
    lab_id: int
    citizen_id: int
    offered_at: datetime
    lab_operator_ids: frozenset[int] = frozenset()
    answer: Answer | None = None
    answered_at: datetime | None = None
    price_agreed: bool = False
    promised_by: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    outcome: Outcome | None = None
    failure_mode: FailureMode | None = None
    received_at: datetime | None = None
    fit_for_purpose: FitForPurpose | None = None
    estimated_time_s: float | None = None
    actual_time_s: float | None = None
    estimated_mass_g: float | None = None
    actual_mass_g: float | None = None

    def __post_init__(self) -> None:
        for name in ("offered_at", "answered_at", "promised_by", "completed_at", "failed_at", "received_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, not {value!r}")

    @property
    def self_order(self) -> bool:
        return self.citizen_id in self.lab_operator_ids

    @property
    def effective_outcome(self) -> Outcome | None:
        if self.outcome is not None:
            return self.outcome
        return Outcome.FAILED if self.failed_at is not None else None

    @property
    def verified_make(self) -> bool:
        """A successful report and a confirmed receipt whose citizen did not call it unfit."""
        return (self.effective_outcome is Outcome.SUCCESS and self.received_at is not None
                and self.fit_for_purpose is not FitForPurpose.NO)


def wilson_lower_bound(successes: float, n: float, z: float = Z_95) -> float:
    """Lower bound of the Wilson score interval for ``successes`` out of ``n`` trials.

    Counts may be weighted (fractional). ``n`` <= 0 gives 0.0 (no evidence, no credit).
    Raises ``ValueError`` for negative successes or more successes than trials.
    """
    if not (math.isfinite(successes) and math.isfinite(n)):
        raise ValueError("successes and n must be finite")
    if n <= 0:
        return 0.0
    if successes < 0 or successes > n * (1 + 1e-12):
        raise ValueError(f"successes must be from 0 to n ({n}), not {successes}")
    if successes == 0:
        return 0.0  # exactly; the formula leaves a rounding residue
    # The usual (p + z^2/2n - z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), multiplied through by n
    # so that small weighted counts do not divide by n^2.
    yes = min(successes, n)
    z2 = z * z
    spread = z * math.sqrt(yes * (n - yes) / n + z2 / 4)
    return max(0.0, (yes + z2 / 2 - spread) / (n + z2))


@dataclass(frozen=True)
class Rate:
    """A proportion with its Wilson lower bound and the number of jobs behind it.

    ``rate`` is ``None`` with no evidence (``n`` 0), never 1.0. ``weight`` is the sum of the
    jobs' age weights (equal to ``n`` when nothing decays); the bound is computed on it.
    """

    rate: float | None
    lower_bound: float
    n: int
    weight: float

    @classmethod
    def of(cls, items: Iterable[tuple[bool, float]]) -> Rate:
        """From ``(counts_as_yes, weight)`` pairs."""
        n, weight, yes = 0, 0.0, 0.0
        for hit, w in items:
            n += 1
            weight += w
            yes += w if hit else 0.0
        if n == 0 or weight <= 0:
            return cls(None, 0.0, n, weight)
        return cls(yes / weight, wilson_lower_bound(yes, weight), n, weight)

    def to_api(self) -> dict[str, Any]:
        return {"rate": self.rate, "lower_bound": self.lower_bound, "n": self.n}


def counted(jobs: Iterable[JobRecord]) -> list[JobRecord]:
    """The jobs that count, oldest first: no self-orders, and per citizen and lab at most
    :data:`MAX_ORDERS_PER_CITIZEN` in any :data:`CAP_WINDOW` (a job past the cap is ignored
    and does not itself fill the window for later ones)."""
    kept: list[JobRecord] = []
    recent: dict[tuple[int, int], deque[datetime]] = defaultdict(deque)  # kept offer times, oldest first
    for job in sorted(jobs, key=lambda j: (j.offered_at, j.job_id)):
        if job.self_order:
            continue
        times = recent[(job.citizen_id, job.lab_id)]
        while times and times[0] <= job.offered_at - CAP_WINDOW:
            times.popleft()
        if len(times) >= MAX_ORDERS_PER_CITIZEN:
            continue
        times.append(job.offered_at)
        kept.append(job)
    return kept


def _success(job: JobRecord) -> bool | None:
    """True/False when the job is evidence about success, None when it is not (yet)."""
    outcome = job.effective_outcome
    if outcome is None:
        return None
    if outcome is Outcome.SUCCESS:
        return True if job.verified_make else (False if job.received_at is not None else None)
    return False


def _ratio_median(pairs: Iterable[tuple[float | None, float | None]]) -> tuple[float | None, int]:
    ratios = [a / e for e, a in pairs if e is not None and a is not None and e > 0 and a >= 0]
    return (median(ratios) if ratios else None), len(ratios)


@dataclass(frozen=True)
class DesignEvidence:
    """What the record says about one design version's geometry (API.md ``evidence``).

    ``verified_makes``: counted jobs with a successful report and a confirmed receipt;
    ``labs``: distinct labs among them. ``success`` is over every counted job with a known
    outcome (a success counts once received). ``failure_modes``: counts of non-successes by
    mode. ``time_ratio`` / ``mass_ratio``: median actual / estimated, over ``time_n``
    and ``mass_n`` jobs.
    """

    verified_makes: int
    labs: int
    success: Rate
    failure_modes: dict[str, int]
    readiness: Readiness | None
    time_ratio: float | None
    time_n: int
    mass_ratio: float | None
    mass_n: int

    def to_api(self) -> dict[str, Any]:
        return {
            "verified_makes": self.verified_makes, "labs": self.labs, "success": self.success.to_api(),
            "failure_modes": dict(self.failure_modes),
            "readiness": self.readiness.value if self.readiness else None,
            "estimates": {"time_ratio_median": self.time_ratio, "time_n": self.time_n,
                          "mass_ratio_median": self.mass_ratio, "mass_n": self.mass_n},
        }


def readiness_level(verified_makes: int, labs: int, success: Rate) -> Readiness | None:
    """OTRL-4 at one verified make; OTRL-5 at three, at two or more labs, with a lower bound >= 0.6."""
    if verified_makes >= OTRL5_MAKES and labs >= OTRL5_LABS and success.lower_bound >= OTRL5_LOWER_BOUND:
        return Readiness.OTRL5
    return Readiness.OTRL4 if verified_makes >= 1 else None


def design_evidence(jobs: Iterable[JobRecord]) -> DesignEvidence:
    """Evidence for one design version from the jobs that made its canonical file (any labs)."""
    kept = counted(jobs)
    makes = [j for j in kept if j.verified_make]
    labs = len({j.lab_id for j in makes})
    judged = [(j, s) for j in kept if (s := _success(j)) is not None]
    success = Rate.of((s, 1.0) for _, s in judged)
    modes = Counter(str(j.failure_mode or FailureMode.OTHER) for j, s in judged
                    if not s and j.effective_outcome is not Outcome.SUCCESS)
    time_ratio, time_n = _ratio_median((j.estimated_time_s, j.actual_time_s) for j in kept)
    mass_ratio, mass_n = _ratio_median((j.estimated_mass_g, j.actual_mass_g) for j in kept)
    return DesignEvidence(len(makes), labs, success, dict(sorted(modes.items())),
                          readiness_level(len(makes), labs, success), time_ratio, time_n, mass_ratio, mass_n)


@dataclass(frozen=True)
class Reputation:
    """A lab's record over ``window_days`` (API.md ``reputation``); rates weighted by age.

    ``on_time``: delivered by the promised P90. ``success``: successful and received, not
    called unfit. ``confirmed``: completed jobs whose citizen confirmed receipt (within
    :data:`CONFIRMATION_SILENCE` a job is still pending and not counted). ``declined``:
    offers declined or left to expire, of those answered. ``acceptance_median_s``: the
    weighted median seconds from offer to acceptance.
    """

    on_time: Rate
    success: Rate
    confirmed: Rate
    declined: Rate
    acceptance_median_s: float | None
    window_days: int

    @property
    def has_history(self) -> bool:
        return any(r.n for r in (self.on_time, self.success, self.confirmed, self.declined))

    def to_api(self) -> dict[str, Any]:
        return {"on_time": self.on_time.to_api(), "success": self.success.to_api(),
                "confirmed": self.confirmed.to_api(), "declined": self.declined.to_api(),
                "acceptance_median_s": self.acceptance_median_s, "window_days": self.window_days}


def age_weight(at: datetime, now: datetime, half_life_days: float = HALF_LIFE_DAYS) -> float:
    """1.0 now, 0.5 at ``half_life_days`` old, 0.25 at twice that; the future counts as now."""
    age_days = max(0.0, (now - at).total_seconds() / 86400.0)
    return 0.5 ** (age_days / half_life_days)


def _weighted_median(values: Sequence[tuple[float, float]]) -> float | None:
    """The smallest value at which the cumulative weight reaches half the total."""
    ordered = sorted(values)
    total = sum(w for _, w in ordered)
    if not ordered or total <= 0:
        return None
    running = 0.0
    for value, w in ordered:
        running += w
        if running >= total / 2:
            return value
    return ordered[-1][0]


def _on_time(job: JobRecord, now: datetime) -> bool | None:
    if job.answer is not Answer.ACCEPTED or not job.price_agreed or job.promised_by is None:
        return None
    if job.completed_at is not None:
        if job.completed_at <= job.promised_by:
            return True if job.received_at is not None else None
        return False
    if job.failed_at is not None or now > job.promised_by:
        return False  # never ready, or already past the promise
    return None


def _confirmed(job: JobRecord, now: datetime) -> bool | None:
    if not job.price_agreed or job.completed_at is None:
        return None
    if job.received_at is not None:
        return True
    return False if now - job.completed_at >= CONFIRMATION_SILENCE else None


def lab_reputation(jobs: Iterable[JobRecord], now: datetime, window_days: int = WINDOW_DAYS,
                   half_life_days: float = HALF_LIFE_DAYS) -> Reputation:
    """A lab's reputation at ``now`` from the jobs it was offered (pass one lab's jobs).

    Jobs offered more than ``window_days`` before ``now`` are left out; the others weigh
    :func:`age_weight` of their offer time. Only jobs with an agreed price count for on
    time, success and confirmation; every answered offer counts for declines.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    start = now - timedelta(days=window_days)
    kept = [j for j in counted(jobs) if j.offered_at >= start]
    weights = {j.job_id: age_weight(j.offered_at, now, half_life_days) for j in kept}

    def rate(judge: Any) -> Rate:
        return Rate.of((hit, weights[j.job_id]) for j in kept if (hit := judge(j)) is not None)

    answered = (Answer.ACCEPTED, Answer.DECLINED, Answer.EXPIRED)
    acceptance = [((j.answered_at - j.offered_at).total_seconds(), weights[j.job_id]) for j in kept
                  if j.answer is Answer.ACCEPTED and j.answered_at is not None]
    return Reputation(
        on_time=rate(lambda j: _on_time(j, now)),
        success=rate(lambda j: _success(j) if j.price_agreed else None),
        confirmed=rate(lambda j: _confirmed(j, now)),
        declined=rate(lambda j: j.answer is not Answer.ACCEPTED if j.answer in answered else None),
        acceptance_median_s=_weighted_median(acceptance),
        window_days=window_days,
    )


def reliable_key(reputation: Reputation, distance_km: float) -> tuple[float, float]:
    """Sort key of the quote sort ``reliable``: the on-time lower bound, highest first, then nearest."""
    return (-reputation.on_time.lower_bound, distance_km)
