"""Heartbeats: each machine's state and queue as the agent (or an operator by hand) reports it.

A beat is the hub's most frequent write, so it runs on the tables (SQLAlchemy Core), not the ORM:
the lab and its machines are read in one statement, every reported machine is updated in one
batched statement, new history samples inserted in one, and the lab's last_seen_at set; the
unit of work cost several times what these statements do. Services take the session and flush;
the request edge commits.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from server.errors import invalid, not_found
from server.fablabs.models import AVAILABLE, Fablab, Machine, MachineState, MachineStateSample
from server.fablabs.schemas import Heartbeat, MachineIn, MachineReport
from server.fablabs.service import NODE_TOKEN_PREFIX, hash_token, is_online, new_machine

HISTORY_KEEP = dt.timedelta(days=7)
HISTORY_MIN_GAP = dt.timedelta(minutes=5)  # an unchanged state is sampled at most this often


@dataclass(slots=True)
class BeatMachine:
    """A machine as a heartbeat compares it with the agent's report (plain values, not an ORM object)."""

    id: int
    key: str
    name: str
    process: str
    build_volume_mm: tuple[float, float, float]
    materials: list[str]
    state: MachineState
    queue_length: int
    sampled_at: dt.datetime | None


@dataclass(slots=True)
class NodeLab:
    """A lab as its heartbeat needs it, machines by key: read in one statement, a snapshot never written back."""

    id: int
    accepting_orders: bool
    latitude: float
    longitude: float
    last_seen_at: dt.datetime | None
    machines: dict[str, BeatMachine]


# Heartbeats run on the tables (Core), not the ORM: a beat is a few statements, and the unit of work
# cost several times what the statements do.
_LABS, _MACHINES, _SAMPLES = (cast(Table, m.__table__) for m in (Fablab, Machine, MachineStateSample))
_NODE_LAB = (select(_LABS.c.id, _LABS.c.accepting_orders, _LABS.c.latitude, _LABS.c.longitude, _LABS.c.last_seen_at,
                    _MACHINES.c.id, _MACHINES.c.key, _MACHINES.c.name, _MACHINES.c.process, _MACHINES.c.build_x_mm,
                    _MACHINES.c.build_y_mm, _MACHINES.c.build_z_mm, _MACHINES.c.materials, _MACHINES.c.state,
                    _MACHINES.c.queue_length, _MACHINES.c.sampled_at)
             .select_from(_LABS.outerjoin(_MACHINES, _MACHINES.c.fablab_id == _LABS.c.id)))
_NODE_LAB_BY_TOKEN = _NODE_LAB.where(_LABS.c.node_token_hash == bindparam("token_hash"))
_NODE_LAB_BY_ID = _NODE_LAB.where(_LABS.c.id == bindparam("lab_id"))
_BEAT_MACHINE = (_MACHINES.update().where(_MACHINES.c.id == bindparam("b_id"))
                 .values(state=bindparam("b_state"), queue_length=bindparam("b_queue"), queue_s=bindparam("b_queue_s"),
                         state_reported_at=bindparam("b_at"), sampled_at=bindparam("b_sampled_at")))
_SEEN = _LABS.update().where(_LABS.c.id == bindparam("b_id"))  # SET: the other keys of its parameters


def _node_lab(rows: Sequence[Any]) -> NodeLab | None:
    if not rows:
        return None
    lab_id, accepting, latitude, longitude, last_seen_at = rows[0][:5]
    machines = {r[6]: BeatMachine(r[5], r[6], r[7], r[8], (r[9], r[10], r[11]), r[12] or [], r[13], r[14], r[15])
                for r in rows if r[5] is not None}
    return NodeLab(lab_id, accepting, latitude, longitude, last_seen_at, machines)


def node_lab(session: Session, token: str) -> NodeLab | None:
    """The lab a node token acts for, with its machines, for :func:`record_heartbeat`; None for an unknown token."""
    if not token.startswith(NODE_TOKEN_PREFIX):
        return None
    return _node_lab(session.execute(_NODE_LAB_BY_TOKEN, {"token_hash": hash_token(token)}).all())


def heartbeat(session: Session, lab: Fablab, beat: Heartbeat, now: dt.datetime, stale_after_s: int) -> bool:
    """:func:`record_heartbeat` for a lab held as an ORM object (an operator's report by hand). Pending changes
    are flushed first; the lab and its machines are expired afterwards, so that reading them again shows the beat."""
    session.flush()
    node = _node_lab(session.execute(_NODE_LAB_BY_ID, {"lab_id": lab.id}).all())
    if node is None:
        raise not_found("fablab")
    gained = record_heartbeat(session, node, beat, now, stale_after_s)
    for machine in lab.machines:
        session.expire(machine)
    session.expire(lab)
    return gained


def _check_reports(beat: Heartbeat, machines: dict[str, BeatMachine]) -> None:
    seen: set[str] = set()
    for report in beat.machines:
        if report.key in seen:
            raise invalid(f"Machine {report.key!r} appears twice in the heartbeat.", code="duplicate_machine_key")
        seen.add(report.key)
        if report.key not in machines and not (report.name and report.process and report.build_volume_mm):
            raise invalid(f"Unknown machine {report.key!r}: declare it with name, process and build_volume_mm.",
                          {"machines": [f"unknown key {report.key}"]}, code="unknown_machine")


def within_machine_limit(lab: NodeLab, beat: Heartbeat, max_machines: int) -> tuple[Heartbeat, list[str]]:
    """The beat without the machines it declares past ``max_machines`` in all, and the keys left out.

    A lab at its limit still reports the state of the machines the hub knows: refusing the whole beat
    would take the lab offline and stop its jobs, so the agent gets a 200 naming what was not added
    (``machines_refused``) and can tell its operator. The first declared machines, in the beat's order, fit.
    """
    room = max_machines - len(lab.machines)
    kept: list[MachineReport] = []
    refused: list[str] = []
    for report in beat.machines:
        if report.key not in lab.machines and report.name and report.process and report.build_volume_mm:
            if room <= 0:
                refused.append(report.key)
                continue
            room -= 1
        kept.append(report)
    if not refused:
        return beat, []
    return beat.model_copy(update={"machines": kept}), refused


def _declared(lab_id: int, report: MachineReport, now: dt.datetime) -> Machine:
    """A machine the agent declares in its heartbeat, in the state it reports (sampled now)."""
    assert report.name and report.process and report.build_volume_mm
    machine = new_machine(MachineIn(key=report.key, name=report.name, process=report.process,
                                 build_volume_mm=report.build_volume_mm, materials=report.materials or []))
    machine.fablab_id = lab_id
    machine.state, machine.queue_length, machine.queue_s = report.state, report.queue_length, queued_seconds(report)
    machine.state_reported_at = machine.sampled_at = now
    return machine


def queued_seconds(report: MachineReport) -> int | None:
    """The report's ``queue_s`` in whole seconds, rounded up (a beat without it: not known, None)."""
    return None if report.queue_s is None else math.ceil(report.queue_s)


def _described(machine: BeatMachine, report: MachineReport) -> dict[str, Any]:
    """The columns of the machine's description that the report changes."""
    changes: dict[str, Any] = {}
    if report.name and report.name != machine.name:
        changes["name"] = report.name
    if report.process and report.process != machine.process:
        changes["process"] = report.process
    if report.build_volume_mm and tuple(report.build_volume_mm) != machine.build_volume_mm:
        changes["build_x_mm"], changes["build_y_mm"], changes["build_z_mm"] = report.build_volume_mm
    if report.materials is not None and report.materials != machine.materials:
        changes["materials"] = list(report.materials)
    return changes


def _prune_due(sampled_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a sample taken now prunes its machine's history: the first one in each HISTORY_MIN_GAP of the
    clock does, so a machine whose state changes at every beat is pruned that often, not at every beat."""
    gap = HISTORY_MIN_GAP.total_seconds()
    return sampled_at is None or sampled_at.timestamp() // gap != now.timestamp() // gap


def record_heartbeat(session: Session, lab: NodeLab, beat: Heartbeat, now: dt.datetime, stale_after_s: int) -> bool:
    """Record a heartbeat: each machine's state and queue, new machines declared by the agent.

    Checks every machine first and changes nothing when one is wrong (422 ``unknown_machine``).
    A machine's state joins its history when it changes, or every HISTORY_MIN_GAP; samples older than
    HISTORY_KEEP are dropped (see :func:`_prune_due`). Returns True when capacity appeared: the lab
    came back online, a machine became available, was added, or gained a material; nearby unmatched
    orders are then retried soon.
    """
    _check_reports(beat, lab.machines)
    gained = not is_online(lab.last_seen_at, now, stale_after_s)
    beats: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    prune: list[int] = []
    new: list[Machine] = []
    for report in beat.machines:
        machine = lab.machines.get(report.key)
        if machine is None:
            new.append(_declared(lab.id, report, now))
            gained = True
            continue
        described = _described(machine, report)
        if described:
            session.execute(_MACHINES.update().where(_MACHINES.c.id == machine.id).values(described))
        if report.materials is not None and {m.lower() for m in report.materials} - {m.lower() for m in machine.materials}:
            gained = True
        if report.state in AVAILABLE and machine.state not in AVAILABLE:
            gained = True
        sampled_at = machine.sampled_at
        if (machine.state != report.state or machine.queue_length != report.queue_length or sampled_at is None
                or now - sampled_at >= HISTORY_MIN_GAP):
            samples.append({"machine_id": machine.id, "state": report.state, "queue_length": report.queue_length,
                            "at": now})
            if _prune_due(sampled_at, now):
                prune.append(machine.id)
            sampled_at = now
        beats.append({"b_id": machine.id, "b_state": report.state, "b_queue": report.queue_length,
                      "b_queue_s": queued_seconds(report), "b_at": now, "b_sampled_at": sampled_at})
    if beats:
        session.execute(_BEAT_MACHINE, beats)
    if new:
        session.add_all(new)
        session.flush()  # their ids, for their first samples
        samples += [{"machine_id": m.id, "state": m.state, "queue_length": m.queue_length, "at": now} for m in new]
    if samples:
        session.execute(_SAMPLES.insert(), samples)
    if prune:
        session.execute(_SAMPLES.delete().where(_SAMPLES.c.machine_id.in_(prune), _SAMPLES.c.at < now - HISTORY_KEEP))
    session.execute(_SEEN, {"b_id": lab.id, "last_seen_at": now, **({"agent": beat.agent[:100]} if beat.agent else {})})
    if gained and lab.accepting_orders:
        from server.orders.service import capacity_appeared

        capacity_appeared(session, lab.latitude, lab.longitude, now)
        return True
    return False


