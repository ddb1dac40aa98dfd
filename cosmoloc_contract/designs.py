"""Designs, their versions and files, validation reports (API.md, "Designs": Design, File, Report)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cosmoloc_contract.common import Answer, Page
from cosmoloc_contract.enums import FileKind, Severity, ValidationStatus
from cosmoloc_contract.fields import ProcessName, Timestamp

# -- requests (multipart forms and queries; the hub reads them field by field) ---------------


class DesignForm(BaseModel):
    """``POST /api/v1/designs``: a multipart form."""

    title: str
    license: str = Field(description="an SPDX id of an open licence")
    description: str | None = None
    tags: str | None = Field(default=None, description="comma-separated")
    derived_from: str | None = Field(default=None,
                                     description="the id of the design this one remixes, or several, comma-separated")
    parent_weights: str | None = Field(default=None, description="one positive decimal per parent, comma-separated, "
                                                                 "in the same order (default: equal shares)")
    unit: str | None = Field(default=None, description="mm, cm, m or in; default mm")
    files: list[bytes] = Field(description="one or more design files")


class VersionForm(BaseModel):
    """``POST /api/v1/designs/{id}/versions``: a multipart form."""

    files: list[bytes]
    changelog: str | None = None
    unit: str | None = None


class ValidateForm(BaseModel):
    """``POST /api/v1/validate``: a multipart form; nothing is stored."""

    file: bytes
    unit: str | None = None


class DesignQuery(BaseModel):
    q: str | None = Field(default=None, description="words in the title, description or tags")
    tag: str | None = None
    process: ProcessName | None = None
    license: str | None = None
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=20, ge=1, le=100)


# -- answers ---------------------------------------------------------------------------------


class Issue(Answer):
    code: str
    severity: Severity
    message: str
    hint: str | None = Field(default=None, description="how to fix it, in plain words")


class Report(Answer):
    """A validation report; ``status`` is ``failed`` when any issue is an ``error``."""

    status: ValidationStatus
    issues: list[Issue]
    metrics: dict[str, Any]
    resource_limited: bool | None = Field(default=None, description="the verdict came from a time or memory bound")


class Requirements(Answer):
    """What making the file needs: the processes able to, its size in mm (a drawing's z is 0)."""

    processes: list[ProcessName] | None = None
    bbox_mm: list[float] | None = None
    volume_mm3: float | None = None
    sheet_mm: list[float] | None = None
    cut_length_mm: float | None = None


class Licence(Answer):
    id: str
    name: str
    open: bool
    commercial_use: bool
    share_alike: bool
    url: str | None = None
    summary: str | None = None
    kind: str | None = None


class Person(Answer):
    id: int
    name: str


class DesignRef(Answer):
    id: int
    title: str


class DesignFile(Answer):
    id: int
    filename: str
    kind: FileKind
    format: str
    size_bytes: int
    sha256: str
    unit: str
    validation: Report
    requirements: Requirements
    content_url: str
    design_id: int
    version: int
    thumbnail_url: str | None = None
    manufacturing_file_url: str | None = None
    manufacturing_format: str | None = None


class Version(Answer):
    number: int
    created_at: Timestamp
    changelog: str | None
    files: list[DesignFile]


class Parent(Answer):
    """A design this one remixes, with its declared weight (a decimal string; null: equal shares)."""

    id: int
    weight: str | None


class Lineage(Answer):
    ancestors: list[DesignRef]
    derivatives: list[DesignRef]


class _DesignFields(Answer):
    id: int
    title: str
    description: str
    tags: list[str]
    license: Licence
    owner: Person
    derived_from: int | None
    created_at: Timestamp
    updated_at: Timestamp
    latest_version: int


class Design(_DesignFields):
    versions: list[Version]
    lineage: Lineage
    okh_url: str
    parents: list[Parent] = Field(description="derived_from first; [] for an original design")


class DesignSummary(_DesignFields):
    """A design in a list: its latest version only."""

    versions: list[Version]
    thumbnail_url: str | None


DesignList = Page[DesignSummary]


class CheckedFile(Report):
    """``POST /api/v1/validate``: the report of a file checked without storing it."""

    file: str
    kind: FileKind
    format: str
    requirements: Requirements
