"""The node (agent) endpoints' own shapes: heartbeats and job reports (API.md, "Node (agent) endpoints").

The job itself is :class:`cosmoloc_contract.orders.Job`.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cosmoloc_contract.common import Answer
from cosmoloc_contract.enums import JobState, MachineState
from cosmoloc_contract.fablabs import MAX_MACHINES_IN_BODY, check_materials, check_volume
from cosmoloc_contract.fields import MAX_DB_INT, MachineKey, Name, ProcessName, Timestamp, Vec3

# -- requests --------------------------------------------------------------------------------


class MachineReport(BaseModel):
    """One machine in a heartbeat: its state, and its description when the hub may not know it yet."""

    model_config = ConfigDict(extra="forbid")
    key: MachineKey
    state: MachineState
    queue_length: int = Field(default=0, ge=0, le=100_000)
    name: Name | None = Field(default=None, min_length=1, max_length=200)
    process: ProcessName | None = None
    build_volume_mm: Vec3 | None = None
    materials: list[str] | None = Field(default=None, max_length=100)

    @field_validator("build_volume_mm")
    @classmethod
    def _volume(cls, v: Vec3 | None) -> Vec3 | None:
        return check_volume(v) if v is not None else None

    @field_validator("materials")
    @classmethod
    def _materials(cls, v: list[str] | None) -> list[str] | None:
        return check_materials(v) if v is not None else None


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agent: str = Field(default="", max_length=100, description="name/version")
    machines: list[MachineReport] = Field(default_factory=list, max_length=MAX_MACHINES_IN_BODY)


class JobQuery(BaseModel):
    state: JobState | None = Field(default=None, description="no state: all")
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=20, ge=1, le=100)


class AcceptBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    machine_key: str | None = Field(default=None, max_length=64)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: str = Field(min_length=1, max_length=500)


class ProgressBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    percent: float = Field(ge=0, le=100, allow_inf_nan=False)
    state: Annotated[str, Field(json_schema_extra={"enum": [JobState.IN_PRODUCTION.value]})] | None = None
    seq: int = Field(ge=1, le=MAX_DB_INT, description="a seq not above the last one is ignored")

    @field_validator("state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        if v is not None and v != JobState.IN_PRODUCTION:
            raise ValueError("state may only be 'in_production'")
        return v


class CompleteBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    note: str = Field(default="", max_length=2000)


# -- answers ---------------------------------------------------------------------------------


class HeartbeatAnswer(Answer):
    server_time: Timestamp
    poll_interval_s: float
    offered_jobs: int
    machines_refused: list[str] | None = Field(default=None, description="keys past machines_per_lab, not added")
    machines_limit: int | None = None
