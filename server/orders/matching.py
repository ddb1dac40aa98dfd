"""Which labs can make an order, and in what order to ask them (DESIGN.md: eligibility and ranking).

A lab is eligible when it accepts orders, is claimed, its agent reported recently, the licence
allows its kind, it has not declined, let expire or failed this order, it is within the
order's distance, and one of its machines (idle or busy) has the process, the material and
room for the part. Eligible labs rank by distance, then queue length, then idle before busy.
Every other lab within reach is listed with the reasons it is not eligible.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from design_commons import fitting, licences, materials
from server.fablabs import service as fablabs
from server.fablabs.models import AVAILABLE, Fablab, LabKind, Machine, MachineState
from server.orders.models import Job, JobState, Order

# Reasons in the order a person reads them: the lab first, then its machines.
REASONS = ("too_far", "not_accepting", "unclaimed", "offline", "licence", "declined", "expired", "failed_before",
           "no_process", "no_material", "too_small", "too_thick", "machine_unavailable")


@dataclass
class Candidate:
    fablab_id: int
    fablab_name: str
    distance_km: float
    machine_key: str | None = None
    queue_length: int = 0
    idle: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.reasons

    def rank_key(self) -> tuple[float, int, int, int]:
        return (round(self.distance_km, 6), self.queue_length, 0 if self.idle else 1, self.fablab_id)

    def to_json(self) -> dict[str, Any]:
        return {"fablab": {"id": self.fablab_id, "name": self.fablab_name}, "machine_key": self.machine_key,
                "distance_km": round(self.distance_km, 3), "eligible": self.eligible, "reasons": list(self.reasons)}


def fits(requirements: dict[str, Any], machine: MachineFacts, thickness_mm: float | None) -> str | None:
    """None when the part fits the machine, else ``too_small`` or ``too_thick`` (design_commons.fitting's rule)."""
    misfit = fitting.fits(requirements, (machine.build_x_mm, machine.build_y_mm, machine.build_z_mm),
                          machine.process, thickness_mm)
    return None if misfit is None else misfit.value


def _machine_verdict(order: Order, requirements: dict[str, Any], lab: LabFacts) -> tuple[MachineFacts | None, list[str]]:
    """The best machine of the lab for the order, or the reasons none will do."""
    processes = set(requirements.get("processes") or [])
    if order.process:
        processes &= {order.process}
    with_process = [m for m in lab.machines if m.process in processes]
    if not with_process:
        return None, ["no_process"]
    reasons: list[str] = []
    with_material = [m for m in with_process if lists_material(m, order.material)]
    if not with_material:
        reasons.append("no_material")
    fit_reasons = [fits(requirements, m, order.thickness_mm) for m in with_process]
    if all(r is not None for r in fit_reasons):
        reasons.append("too_thick" if "too_thick" in fit_reasons and "too_small" not in fit_reasons else "too_small")
    if not any(m.state in AVAILABLE for m in with_process):
        reasons.append("machine_unavailable")
    usable = usable_machines(order, requirements, lab)
    if not usable:
        return None, reasons or ["machine_unavailable"]
    best = min(usable, key=lambda m: (m.queue_length, 0 if m.state == MachineState.IDLE else 1, m.key))
    return best, []


def usable_machines(order: Order, requirements: dict[str, Any], lab: LabFacts) -> list[MachineFacts]:
    """The lab's machines that can make the order now: its process, its material, available, the part fits."""
    processes = set(requirements.get("processes") or [])
    if order.process:
        processes &= {order.process}
    return [m for m in lab.machines if m.process in processes and m.state in AVAILABLE
            and lists_material(m, order.material) and fits(requirements, m, order.thickness_mm) is None]


def lists_material(machine: MachineFacts, material: str) -> bool:
    """Whether the machine lists the material: by the materials vocabulary (PLA is "polylactic acid"), else
    case-insensitively."""
    return any(materials.same(material, x) for x in machine.materials or [])


def past_labs(session: Session, order: Order) -> dict[int, str]:
    """Labs this order may not go to again, with the reason (declined, expired, failed_before)."""
    out: dict[int, str] = {}
    if order.id is None:
        return out  # not written yet (a new order, a preview): no job can name it
    names = {JobState.DECLINED: "declined", JobState.EXPIRED: "expired", JobState.FAILED: "failed_before"}
    for lab_id, state in session.execute(select(Job.fablab_id, Job.state).where(Job.order_id == order.id,
                                                                                Job.state.in_(list(names)))):
        out.setdefault(lab_id, names[state])
    return out


def reach_km(order: Order) -> float:
    """How far around the delivery point labs are looked at (and explained): a margin past the maximum."""
    return min(order.max_distance_km * 1.5 + 10.0, fablabs.MAX_RADIUS_KM)


CHUNK = 500  # labs loaded per query: far below any database's limit on bound parameters


def _judge(order: Order, requirements: dict[str, Any], lab: LabFacts, distance_km: float, now: dt.datetime,
           stale_after_s: int, excluded_kinds: set[str], before: dict[int, str]) -> Candidate:
    c = Candidate(lab.id, lab.name, distance_km)
    if c.distance_km > order.max_distance_km:
        c.reasons.append("too_far")
    if not lab.accepting_orders:
        c.reasons.append("not_accepting")
    if lab.operator_id is None:
        c.reasons.append("unclaimed")
    if not fablabs.is_online(lab.last_seen_at, now, stale_after_s):
        c.reasons.append("offline")
    if lab.kind.value in excluded_kinds:
        c.reasons.append("licence")
    if lab.id in before:
        c.reasons.append(before[lab.id])
    machine, machine_reasons = _machine_verdict(order, requirements, lab)
    c.reasons.extend(machine_reasons)
    if machine is not None:
        c.machine_key, c.queue_length, c.idle = machine.key, machine.queue_length, machine.state == MachineState.IDLE
    c.reasons.sort(key=REASONS.index)
    return c


@dataclass(slots=True)
class MachineFacts:
    """What the rules read of a machine (plain values: loading whole ORM objects cost most of the time)."""

    key: str
    process: str
    build_x_mm: float
    build_y_mm: float
    build_z_mm: float
    materials: list[str]
    state: MachineState
    queue_length: int
    queue_s: int | None = None  # seconds of work waiting, as reported at reported_at; None: not reported
    reported_at: dt.datetime | None = None

    def queued_s(self, now: dt.datetime) -> float | None:
        """The work still waiting on it now: the reported seconds less those gone since the report."""
        if self.queue_s is None:
            return None
        gone = (now - self.reported_at).total_seconds() if self.reported_at is not None else 0.0
        return max(0.0, self.queue_s - max(0.0, gone))


@dataclass(slots=True)
class LabFacts:
    """What the rules read of a lab, with its machines in key order."""

    id: int
    name: str
    kind: LabKind
    accepting_orders: bool
    operator_id: int | None
    last_seen_at: dt.datetime | None
    machines: list[MachineFacts] = field(default_factory=list)


_LAB_COLUMNS = (Fablab.id, Fablab.name, Fablab.kind, Fablab.accepting_orders, Fablab.operator_id, Fablab.last_seen_at)
_MACHINE_COLUMNS = (Machine.fablab_id, Machine.key, Machine.process, Machine.build_x_mm, Machine.build_y_mm,
                    Machine.build_z_mm, Machine.materials, Machine.state, Machine.queue_length, Machine.queue_s,
                    Machine.state_reported_at)


def load_labs(session: Session, ids: list[int]) -> dict[int, LabFacts]:
    """The labs with these ids and their machines, a chunk of ids per query (a lab's row once per machine)."""
    out: dict[int, LabFacts] = {}
    lab_width = len(_LAB_COLUMNS)
    for start in range(0, len(ids), CHUNK):
        query = (select(*_LAB_COLUMNS, *_MACHINE_COLUMNS[1:])
                 .outerjoin(Machine, Machine.fablab_id == Fablab.id).where(Fablab.id.in_(ids[start:start + CHUNK]))
                 .order_by(Fablab.id, Machine.key))
        for row in session.execute(query):
            lab = out.get(row[0])
            if lab is None:
                lab = out[row[0]] = LabFacts(*row[:lab_width])
            if row[lab_width] is not None:  # the machine's key: None for a lab without machines
                lab.machines.append(MachineFacts(*row[lab_width:]))
    return out


def candidates(session: Session, order: Order, requirements: dict[str, Any], now: dt.datetime,
               stale_after_s: int, licence_id: str, nearest: int | None = None) -> list[Candidate]:
    """Every lab within reach (or only the ``nearest`` ones): eligible first in rank order, then the rest
    with their reasons. This explains; :func:`best` is the quick way to the lab an offer goes to."""
    hits = fablabs.within(session, order.delivery_latitude, order.delivery_longitude, reach_km(order))
    if nearest is not None:
        hits = hits[:nearest]
    if not hits:
        return []
    labs = load_labs(session, [i for i, _ in hits])
    excluded_kinds = licences.excluded_lab_kinds(licence_id)
    before = past_labs(session, order)
    out = [_judge(order, requirements, labs[i], d, now, stale_after_s, excluded_kinds, before)
           for i, d in hits if i in labs]
    eligible = sorted((c for c in out if c.eligible), key=Candidate.rank_key)
    rest = sorted((c for c in out if not c.eligible), key=lambda c: (c.distance_km, c.fablab_id))
    return eligible + rest


def best(session: Session, order: Order, requirements: dict[str, Any], now: dt.datetime, stale_after_s: int,
         licence_id: str) -> Candidate | None:
    """The lab the order should be offered to: the first of :func:`candidates`' eligible labs, found
    without judging every lab (:func:`nearest_eligible`)."""
    found, _ = nearest_eligible(session, order, requirements, now, stale_after_s, licence_id, 1)
    if not found:
        return None
    nearest = round(found[0].distance_km, 6)
    return min((c for c in found if round(c.distance_km, 6) == nearest), key=Candidate.rank_key)


def nearest_eligible(session: Session, order: Order, requirements: dict[str, Any], now: dt.datetime,
                     stale_after_s: int, licence_id: str, want: int) -> tuple[list[Candidate], bool]:
    """At least the ``want`` nearest eligible labs (all of them, when there are fewer) in rank order, and
    whether every lab within the maximum distance was judged (then the list holds every eligible lab).

    The database keeps only labs that could qualify (accepting, claimed, online, of an allowed kind,
    with an available machine of a usable process). The search looks in growing circles around the
    delivery point (a sixty-fourth of the maximum distance, then 4x wider each time): once ``want``
    eligible labs lie inside the circle, no lab outside it can be nearer, so the work follows the
    labs near the citizen rather than all labs within the maximum distance.
    """
    processes = set(requirements.get("processes") or [])
    if order.process:
        processes &= {order.process}
    if not processes:
        return [], True
    excluded_kinds = licences.excluded_lab_kinds(licence_id)
    before = past_labs(session, order)
    # correlated, so both databases drive the query from the spatial index rather than from the machines
    usable = exists().where(Machine.fablab_id == Fablab.id, Machine.process.in_(sorted(processes)),
                            Machine.state.in_(AVAILABLE))
    query = select(Fablab).where(Fablab.accepting_orders.is_(True), Fablab.operator_id.is_not(None),
                                 Fablab.last_seen_at >= now - dt.timedelta(seconds=stale_after_s), usable)
    if excluded_kinds:
        query = query.where(Fablab.kind.not_in([LabKind(k) for k in sorted(excluded_kinds)]))
    judged: set[int] = set(before)
    found: list[Candidate] = []
    radius = order.max_distance_km / 64
    while True:
        radius = min(radius, order.max_distance_km)
        hits = [(i, d) for i, d in fablabs.within(session, order.delivery_latitude, order.delivery_longitude,
                                                  radius, query) if i not in judged]
        complete = True
        for start in range(0, len(hits), 50):
            batch = hits[start:start + 50]
            if len(found) >= want and round(batch[0][1], 6) > round(found[want - 1].distance_km, 6):
                complete = False
                break  # every lab left is farther than the ones wanted
            labs = load_labs(session, [i for i, _ in batch])
            for i, d in batch:
                judged.add(i)
                if i in labs:
                    c = _judge(order, requirements, labs[i], d, now, stale_after_s, excluded_kinds, before)
                    if c.eligible:
                        found.append(c)
            found.sort(key=Candidate.rank_key)
        if len(found) >= want or radius >= order.max_distance_km:
            return found, complete and radius >= order.max_distance_km
        radius *= 4
