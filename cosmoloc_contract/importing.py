"""Designs imported from OKH-LOSH manifests (``POST /api/v1/designs/import``)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from cosmoloc_contract.common import Answer


class ImportForm(BaseModel):
    """A multipart form: a zip ``archive`` of manifests and their files, or one ``manifest`` and its ``files``."""

    archive: bytes | None = Field(default=None, description="a zip of OKH manifests and their files")
    manifest: bytes | None = Field(default=None, description="okh.toml, okh-<part>.toml or <name>.okh.toml")
    files: list[bytes] | None = Field(default=None, description="each named by the path the manifest gives")


class ImportedDesign(Answer):
    manifest: str
    design_id: int
    title: str
    files: list[str]
    notes: list[str]


class SkippedManifest(Answer):
    manifest: str
    code: str
    reason: str


class ImportSummary(Answer):
    """What was imported, and what was skipped and why (422 ``nothing_imported`` when nothing was)."""

    imported: list[ImportedDesign]
    skipped: list[SkippedManifest]
