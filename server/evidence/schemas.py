"""The build report a lab files when a job ends, the citizen's receipt, and when a report is complete.

API.md "Build reports, readiness and reputation": ``POST /api/v1/node/jobs/{id}/report`` takes
``{"outcome", "failure_mode"?, "machine": {"make", "model"}?, "material": {"name", "brand"?,
"lot"?}, "settings"?: {...}, "estimated_time_s"?, "actual_time_s"?, "estimated_mass_g"?,
"actual_mass_g"?, "attempts"?, "notes"?}``. Times are seconds, masses grams. The agent sends what
it knows and the operator completes the rest: a later report replaces the fields it names and
keeps the others (:func:`merge`).

A report is *complete* (the ledger's lab share follows it) when it has the machine, the material,
at least one setting, the outcome and the citizen's receipt (:func:`missing`).
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from design_commons.evidence import FailureMode, FitForPurpose, Outcome
from server.input_rules import Name

MAX_SETTINGS = 40
MAX_TIME_S = 100 * 24 * 3600  # a hundred days of machine time
MAX_MASS_G = 1_000_000.0
_SETTING_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: The parts a complete report needs, in the order they are named to the operator.
COMPLETENESS = ("machine", "material", "settings", "outcome", "receipt")


class Machine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    make: Name = Field(min_length=1, max_length=100)
    model: Name = Field(min_length=1, max_length=100)


class Material(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(min_length=1, max_length=64)
    brand: Name | None = Field(default=None, max_length=100)
    lot: Name | None = Field(default=None, max_length=100)

    @field_validator("name")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("say which material (it cannot be only spaces)")
        return v.strip()


class Settings(BaseModel):
    """How the part was made, as far as known. The named fields are what PrusaSlicer's G-code header
    says; others may be added (lower-case names, plain values), up to :data:`MAX_SETTINGS` in all."""

    model_config = ConfigDict(extra="allow")
    layer_height_mm: float | None = Field(default=None, gt=0, le=10)
    first_layer_height_mm: float | None = Field(default=None, gt=0, le=10)
    nozzle_mm: float | None = Field(default=None, gt=0, le=10)
    infill_percent: float | None = Field(default=None, ge=0, le=100)
    perimeters: int | None = Field(default=None, ge=0, le=100)
    supports: bool | None = None
    filament_g: float | None = Field(default=None, ge=0, le=MAX_MASS_G)
    slicer: Name | None = Field(default=None, max_length=64)
    slicer_version: Name | None = Field(default=None, max_length=64)
    profile_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _bounded_extras(self) -> Settings:
        extra = self.model_extra or {}
        if len(self.model_fields_set | set(extra)) > MAX_SETTINGS:
            raise ValueError(f"at most {MAX_SETTINGS} settings")
        for key, value in extra.items():
            if not _SETTING_KEY.match(key):
                raise ValueError(f"setting names are lower-case letters, digits and _ (not {key[:40]!r})")
            if isinstance(value, str):
                if len(value) > 200 or "\n" in value:
                    raise ValueError(f"setting {key} is one line of at most 200 characters")
            elif value is not None and not isinstance(value, bool | int | float):
                raise ValueError(f"setting {key} must be a string, number, true/false or null")
        return self

    def known(self) -> dict[str, Any]:
        """The settings given, without the empty ones."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class BuildReport(BaseModel):
    """A lab's report on one job (the body of ``POST /api/v1/node/jobs/{id}/report``)."""

    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    failure_mode: FailureMode | None = None
    machine: Machine | None = None
    material: Material
    settings: Settings | None = None
    estimated_time_s: float | None = Field(default=None, ge=0, le=MAX_TIME_S, allow_inf_nan=False)
    actual_time_s: float | None = Field(default=None, ge=0, le=MAX_TIME_S, allow_inf_nan=False)
    estimated_mass_g: float | None = Field(default=None, ge=0, le=MAX_MASS_G, allow_inf_nan=False)
    actual_mass_g: float | None = Field(default=None, ge=0, le=MAX_MASS_G, allow_inf_nan=False)
    attempts: int = Field(default=1, ge=1, le=1000)
    notes: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _mode_fits_outcome(self) -> BuildReport:
        if self.outcome is Outcome.SUCCESS and self.failure_mode is not None:
            raise ValueError("a successful report has no failure_mode")
        return self


def merge(stored: BuildReport | None, update: BuildReport) -> BuildReport:
    """``update`` over ``stored``: the fields the update was given replace, the others stay.

    A success clears a stored failure mode (it no longer applies)."""
    if stored is None:
        return update
    given = update.model_dump(include=update.model_fields_set)
    merged = {**stored.model_dump(), **given}
    if merged["outcome"] == Outcome.SUCCESS:
        merged["failure_mode"] = None
    return BuildReport.model_validate(merged)


def missing(report: BuildReport | None, received: bool) -> list[str]:
    """What keeps a report from being complete, in :data:`COMPLETENESS` order ([] when complete)."""
    gaps = []
    if report is None or report.machine is None:
        gaps.append("machine")
    if report is None:
        gaps.append("material")
    if report is None or report.settings is None or not report.settings.known():
        gaps.append("settings")
    if report is None:
        gaps.append("outcome")
    if not received:
        gaps.append("receipt")
    return gaps


class Receipt(BaseModel):
    """The citizen's confirmation (optional body of ``POST /api/v1/orders/{id}/confirm``)."""

    model_config = ConfigDict(extra="forbid")
    fit_for_purpose: FitForPurpose | None = None
    comment: str = Field(default="", max_length=2000)
