"""Build reports, their photos, design evidence and lab reputation (API.md "Build reports, readiness and
reputation").

``POST /api/v1/node/jobs/{id}/report`` takes a :class:`BuildReport` (times in seconds, masses in grams)
and answers the job with its ``report``; ``POST /api/v1/orders/{id}/confirm`` takes an optional
:class:`Receipt`. The vocabularies (outcome, failure mode, fit for purpose, readiness) are
:mod:`cosmoloc_contract.enums`'.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cosmoloc_contract.common import Answer
from cosmoloc_contract.enums import FailureMode, FitForPurpose, Outcome, Readiness
from cosmoloc_contract.fields import Name
from cosmoloc_contract.orders import Job

# -- requests --------------------------------------------------------------------------------

MAX_SETTINGS = 40
MAX_TIME_S = 100 * 24 * 3600  # a hundred days of machine time
MAX_MASS_G = 1_000_000.0
_SETTING_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: The parts a complete report needs, in the order they are named to the operator.


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


class Receipt(BaseModel):
    """The citizen's confirmation (optional body of ``POST /api/v1/orders/{id}/confirm``)."""

    model_config = ConfigDict(extra="forbid")
    fit_for_purpose: FitForPurpose | None = None
    comment: str = Field(default="", max_length=2000)


class PhotoForm(BaseModel):
    """``POST /api/v1/node/jobs/{id}/report/photos``: a multipart form with one photo."""

    photo: bytes = Field(description="JPEG or PNG")


# -- answers ---------------------------------------------------------------------------------


class Photo(Answer):
    """A build photo, re-encoded from its pixels: the picture and its thumbnail."""

    id: int
    media_type: str
    width: int
    height: int
    url: str
    thumbnail_url: str


class StoredMachine(Answer):
    make: str
    model: str


class StoredMaterial(Answer):
    name: str
    brand: str | None
    lot: str | None


class FiledReport(Answer):
    """A job's build report as filed (later reports merged in), whether it is ``complete`` and what is ``missing``."""

    outcome: Outcome
    failure_mode: FailureMode | None
    machine: StoredMachine | None
    material: StoredMaterial
    settings: dict[str, Any] | None = Field(description="the settings given (empty ones left out)")
    estimated_time_s: float | None
    actual_time_s: float | None
    estimated_mass_g: float | None
    actual_mass_g: float | None
    attempts: int
    notes: str
    complete: bool
    missing: list[str] = Field(description="of machine, material, settings, outcome, receipt, in that order")
    photos: list[Photo]
    filed_at: str
    updated_at: str


class JobWithReport(Job):
    """The job as its lab sees it, with its ``report`` (null before one is filed)."""

    report: FiledReport | None


class Rate(Answer):
    """A rate with the lower bound of its Wilson interval and the number of cases it rests on."""

    rate: float | None
    lower_bound: float
    n: int


class EstimateAccuracy(Answer):
    time_ratio_median: float | None
    time_n: int
    mass_ratio_median: float | None
    mass_n: int


class Evidence(Answer):
    verified_makes: int
    labs: int
    success: Rate
    failure_modes: dict[str, int]
    readiness: Readiness | None
    estimates: EstimateAccuracy


class VersionEvidence(Answer):
    number: int
    evidence: Evidence
    photos: list[Photo] = Field(description="photos of received orders only")


class DesignEvidence(Answer):
    design_id: int
    versions: list[VersionEvidence]


class Reputation(Answer):
    on_time: Rate
    success: Rate
    confirmed: Rate
    declined: Rate
    acceptance_median_s: float | None
    window_days: int


class LabReputation(Answer):
    fablab_id: int
    reputation: Reputation
