"""Validation reports: coded issues with a severity, and the metrics measured on a file.

A report is what ``POST /api/v1/validate`` answers and what each stored file carries:
``{"status": "passed"|"warnings"|"failed", "issues": [{"code", "severity", "message"}], "metrics": {...}}``.
Exceptions are for "cannot read at all"; everything else is an issue in a report.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"  # blocks manufacture
    WARNING = "warning"  # shown, does not block
    INFO = "info"


class ValidationStatus(enum.StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    WARNINGS = "warnings"
    FAILED = "failed"


Status = ValidationStatus  # the name the library's own modules use


@dataclass
class Issue:
    code: str
    severity: Severity
    message: str
    hint: str | None = None  # how to fix it, in plain words

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "severity": self.severity.value, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass
class Report:
    """Issues found in one file plus its metrics (lengths in mm, volumes in mm^3)."""

    issues: list[Issue] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def add(self, code: str, severity: Severity, message: str, hint: str | None = None) -> None:
        self.issues.append(Issue(code, severity, message, hint))

    def error(self, code: str, message: str, hint: str | None = None) -> None:
        self.add(code, Severity.ERROR, message, hint)

    def warning(self, code: str, message: str, hint: str | None = None) -> None:
        self.add(code, Severity.WARNING, message, hint)

    def info(self, code: str, message: str, hint: str | None = None) -> None:
        self.add(code, Severity.INFO, message, hint)

    def has(self, code: str) -> bool:
        return any(i.code == code for i in self.issues)

    @property
    def status(self) -> Status:
        if any(i.severity is Severity.ERROR for i in self.issues):
            return Status.FAILED
        if any(i.severity is Severity.WARNING for i in self.issues):
            return Status.WARNINGS
        return Status.PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "issues": [i.to_dict() for i in self.issues],
            "metrics": self.metrics,
        }


class UnreadableFile(Exception):
    """The file cannot be read at all; the caller turns it into a ``parse_error`` issue."""


class LimitExceeded(Exception):
    """An untrusted file is past one of the limits (bytes, triangles, entities, zip ratio).

    Carries the stable issue code (``too_large``) and a message for the designer.
    """

    def __init__(self, message: str, code: str = "too_large") -> None:
        super().__init__(message)
        self.code = code


class CodedError(ValueError):
    """Input a pure function cannot use, with a stable ``code`` the hub answers as problem+json."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
