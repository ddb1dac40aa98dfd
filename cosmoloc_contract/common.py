"""What every part of the API shares: the answer base class, problem+json, paged lists."""
from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Answer(BaseModel):
    """A shape the hub answers with. Fields the hub leaves out (``"thumbnail_url"?`` in API.md) are
    optional here and stay out of :meth:`to_json` unless set; fields a newer hub adds are ignored by
    readers, so an older agent keeps working."""

    model_config = ConfigDict(extra="ignore")

    def to_json(self) -> dict[str, Any]:
        """The JSON object the hub sends: set fields only, enums as their values, times in ISO 8601."""
        return self.model_dump(mode="json", exclude_unset=True)


class Problem(Answer):
    """RFC 9457 problem+json: every error, with a stable ``code``; ``errors`` per field when there are."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: dict[str, Any] | None = None


class Page(Answer, Generic[T]):
    """A page of a list: ``?page=`` (from 1) and ``?per_page=`` (at most 100); ``total`` across pages."""

    items: list[T]
    page: int
    per_page: int
    total: int


class Items(Answer, Generic[T]):
    """A list answered whole (no pages)."""

    items: list[T]


class PageQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=20, ge=1, le=100)
