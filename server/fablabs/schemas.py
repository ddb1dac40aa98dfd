"""Request bodies and JSON shapes of fablabs and machines (API.md: Fablab, Machine)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from design_commons.readyby import MAX_DAYS_AHEAD
from design_commons.validation import PROCESSES  # the one vocabulary; others import it from here too
from server.fablabs.models import AVAILABLE, Fablab, LabKind, Machine, MachineState
from server.input_rules import Name

MAX_QUEUE_S = MAX_DAYS_AHEAD * 86_400  # more queued work than the ready-by ever lays out is not believed


def _check_materials(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = v.strip()
        if not v or len(v) > 64:
            raise ValueError("a material is 1 to 64 characters")
        if v.lower() not in [o.lower() for o in out]:
            out.append(v)
    return out


def _check_process(v: str) -> str:
    if v not in PROCESSES:
        raise ValueError(f"process must be one of {', '.join(PROCESSES)}")
    return v


def _check_volume(v: tuple[float, float, float]) -> tuple[float, float, float]:
    if any(not (0 < x <= 100_000) for x in v):
        raise ValueError("each build volume side is a positive length in mm (at most 100 m)")
    return v


class MachineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    name: Name = Field(min_length=1, max_length=200)
    process: str
    build_volume_mm: tuple[float, float, float]
    materials: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("process")
    @classmethod
    def _process(cls, v: str) -> str:
        return _check_process(v)

    @field_validator("build_volume_mm")
    @classmethod
    def _volume(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        return _check_volume(v)

    @field_validator("materials")
    @classmethod
    def _materials(cls, v: list[str]) -> list[str]:
        return _check_materials(v)


class FablabIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(min_length=1, max_length=200)
    kind: LabKind
    description: str = Field(default="", max_length=5000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)
    accepting_orders: bool = True
    machines: list[MachineIn] = Field(default_factory=list, max_length=200)


class FablabPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = Field(default=None, min_length=1, max_length=200)
    kind: LabKind | None = None
    description: str | None = Field(default=None, max_length=5000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)
    accepting_orders: bool | None = None
    machines: list[MachineIn] | None = Field(default=None, max_length=200)


class MachineReport(BaseModel):
    """One machine in a heartbeat: its state, and its description when the hub may not know it yet."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    state: MachineState
    queue_length: int = Field(default=0, ge=0, le=100_000)
    # seconds of work already waiting, the current job's remainder included (API.md); absent: not known
    queue_s: float | None = Field(default=None, ge=0, le=MAX_QUEUE_S, allow_inf_nan=False)
    name: Name | None = Field(default=None, min_length=1, max_length=200)
    process: str | None = None
    build_volume_mm: tuple[float, float, float] | None = None
    materials: list[str] | None = Field(default=None, max_length=100)

    @field_validator("process")
    @classmethod
    def _process(cls, v: str | None) -> str | None:
        return _check_process(v) if v is not None else None

    @field_validator("build_volume_mm")
    @classmethod
    def _volume(cls, v: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        return _check_volume(v) if v is not None else None

    @field_validator("materials")
    @classmethod
    def _materials(cls, v: list[str] | None) -> list[str] | None:
        return _check_materials(v) if v is not None else None


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agent: str = Field(default="", max_length=100)
    machines: list[MachineReport] = Field(default_factory=list, max_length=200)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def machine_json(m: Machine) -> dict[str, Any]:
    return {"key": m.key, "name": m.name, "process": m.process,
            "build_volume_mm": [m.build_x_mm, m.build_y_mm, m.build_z_mm], "materials": list(m.materials or []),
            "state": m.state.value, "state_reported_at": _iso(m.state_reported_at), "queue_length": m.queue_length}


SUMMARY_MATERIALS = 20  # materials named in a directory entry's machine summary; the rest are counted


def machine_summary(machines: list[Machine]) -> dict[str, Any]:
    """What a directory entry says of a lab's machines: ``{"count", "available", "processes": {process: n},
    "materials": [up to SUMMARY_MATERIALS names], "materials_total"}`` (materials case-insensitively distinct,
    sorted), so a page of labs stays small however many machines or materials each lab lists."""
    processes: dict[str, int] = {}
    materials: dict[str, str] = {}
    for m in machines:
        processes[m.process] = processes.get(m.process, 0) + 1
        for name in m.materials or []:
            materials.setdefault(name.lower(), name)
    names = sorted(materials.values(), key=str.lower)
    return {"count": len(machines), "available": sum(1 for m in machines if m.state in AVAILABLE),
            "processes": dict(sorted(processes.items())), "materials": names[:SUMMARY_MATERIALS],
            "materials_total": len(names)}


def fablab_json(lab: Fablab, online: bool, distance_km: float | None = None,
                machines_listed: int | None = None) -> dict[str, Any]:
    """A lab (API.md: Fablab). ``machines_listed`` bounds ``machines`` for directory entries: they then list at
    most that many (by key), say ``machines_truncated`` and carry a ``machine_summary`` of all of them."""
    machines = sorted(lab.machines, key=lambda m: m.key)
    out: dict[str, Any] = {
        "id": lab.id, "name": lab.name, "kind": lab.kind.value, "description": lab.description,
        "latitude": lab.latitude, "longitude": lab.longitude, "address": lab.address, "city": lab.city,
        "country": lab.country, "location_approximate": lab.location_approximate,
        "accepting_orders": lab.accepting_orders, "online": online, "last_seen_at": _iso(lab.last_seen_at),
        "operator": {"id": lab.operator.id, "name": lab.operator.name} if lab.operator else None,
        "claimed": lab.operator_id is not None, "source": lab.source,
        "machines": [machine_json(m) for m in machines[:machines_listed]],
    }
    if machines_listed is not None:
        out["machines_truncated"] = len(machines) > machines_listed
        out["machine_summary"] = machine_summary(machines)
    if distance_km is not None:
        out["distance_km"] = round(distance_km, 3)
    return out
