"""Fablabs and their machines (API.md, "Fablabs": Fablab, Machine)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from cosmoloc_contract.common import Answer, Page
from cosmoloc_contract.enums import LabKind, MachineState
from cosmoloc_contract.fields import MachineKey, Name, ProcessName, Timestamp, Vec3

MAX_MACHINES_IN_BODY = 200


def check_materials(values: list[str]) -> list[str]:
    """The materials stripped and case-insensitively distinct; ValueError for an empty or over-long one."""
    out: list[str] = []
    for v in values:
        v = v.strip()
        if not v or len(v) > 64:
            raise ValueError("a material is 1 to 64 characters")
        if v.lower() not in [o.lower() for o in out]:
            out.append(v)
    return out


def check_volume(v: Vec3) -> Vec3:
    if any(not (0 < x <= 100_000) for x in v):
        raise ValueError("each build volume side is a positive length in mm (at most 100 m)")
    return v


# -- requests --------------------------------------------------------------------------------


class MachineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: MachineKey
    name: Name = Field(min_length=1, max_length=200)
    process: ProcessName
    build_volume_mm: Vec3
    materials: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("build_volume_mm")
    @classmethod
    def _volume(cls, v: Vec3) -> Vec3:
        return check_volume(v)

    @field_validator("materials")
    @classmethod
    def _materials(cls, v: list[str]) -> list[str]:
        return check_materials(v)


class FablabIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(min_length=1, max_length=200)
    kind: LabKind
    description: str = Field(default="", max_length=5000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500, description="instead of latitude and longitude")
    accepting_orders: bool = True
    machines: list[MachineIn] = Field(default_factory=list, max_length=MAX_MACHINES_IN_BODY)


class FablabPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = Field(default=None, min_length=1, max_length=200)
    kind: LabKind | None = None
    description: str | None = Field(default=None, max_length=5000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)
    accepting_orders: bool | None = None
    machines: list[MachineIn] | None = Field(default=None, max_length=MAX_MACHINES_IN_BODY)


class DirectoryQuery(BaseModel):
    near: str | None = Field(default=None, description="latitude,longitude: nearest first, with distance_km")
    radius_km: float | None = Field(default=None, gt=0, description="with near")
    process: ProcessName | None = None
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=20, ge=1, le=100)


class HistoryQuery(BaseModel):
    hours: float = Field(default=24, gt=0, le=168)


# -- answers ---------------------------------------------------------------------------------


class Machine(Answer):
    key: str
    name: str
    process: str
    build_volume_mm: Vec3
    materials: list[str]
    state: MachineState
    state_reported_at: Timestamp | None
    queue_length: int


class MachineSummary(Answer):
    """All of a lab's machines in a directory entry, however many: counts, processes, some materials."""

    count: int
    available: int
    processes: dict[str, int]
    materials: list[str]
    materials_total: int


class Operator(Answer):
    id: int
    name: str


class Fablab(Answer):
    id: int
    name: str
    kind: LabKind
    description: str
    latitude: float
    longitude: float
    address: str | None
    city: str | None
    country: str | None
    location_approximate: bool
    accepting_orders: bool
    online: bool
    last_seen_at: Timestamp | None
    operator: Operator | None
    claimed: bool
    source: str | None
    machines: list[Machine]
    machines_truncated: bool | None = Field(default=None, description="directory entries: more machines than listed")
    machine_summary: MachineSummary | None = Field(default=None, description="directory entries")
    distance_km: float | None = Field(default=None, description="directory entries asked with near")


class RegisteredFablab(Fablab):
    node_token: str = Field(description="the lab's node token (cln_...), shown this once")


FablabList = Page[Fablab]


class NodeToken(Answer):
    node_token: str


class StateSample(Answer):
    at: Timestamp
    state: MachineState
    queue_length: int


class MachineHistory(Answer):
    since: Timestamp
    machines: dict[str, list[StateSample]]


class OkwRecord(RootModel[dict[str, Any]]):
    """An Open Know-Where facility record (the OKW specification's shape, not this contract's)."""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
