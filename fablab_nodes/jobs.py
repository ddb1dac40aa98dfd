"""The agent's view of the hub's Job (API.md, "Node (agent) endpoints").

The hub client reads jobs as the contract's model (:class:`cosmoloc_contract.orders.Job`);
:meth:`Job.from_hub` turns one into this view. :meth:`Job.from_json` reads the JSON kept in the
agent's own records (the ledger), where a field may be missing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cosmoloc_contract import orders as contract
from cosmoloc_contract.enums import JobState

__all__ = ["GONE_STATES", "Job", "JobFile", "JobState", "Requirements"]


# States in which the hub no longer wants the lab to make the part.
GONE_STATES = frozenset({JobState.WITHDRAWN, JobState.EXPIRED, JobState.DECLINED})


@dataclass(frozen=True)
class Requirements:
    """What the part needs: ``bbox_mm`` (x, y, z), ``sheet_mm`` (x, y) for drawings, volume in mm^3."""

    processes: tuple[str, ...] = ()
    bbox_mm: tuple[float, float, float] | None = None
    volume_mm3: float | None = None
    sheet_mm: tuple[float, float] | None = None
    cut_length_mm: float | None = None
    thickness_mm: float | None = None


@dataclass(frozen=True)
class JobFile:
    """The canonical file of a job: its id, name, sha256 (hex) and requirements."""

    id: str
    filename: str
    format: str
    sha256: str
    size_bytes: int | None
    requirements: Requirements


@dataclass(frozen=True)
class Job:
    """One offer of an order to this lab. ``raw`` keeps the JSON as the hub sent it."""

    id: str
    state: JobState
    material: str
    quantity: int
    machine_key: str | None
    file: JobFile
    process: str | None = None
    expires_at: str | None = None
    distance_km: float | None = None
    progress: float | None = None
    title: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_hub(cls, answer: contract.Job) -> Job:
        """The view of a job the hub answered (already checked against the contract)."""
        return cls.from_json(answer.to_json())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        """Build a Job from a job's JSON; missing optional fields get neutral defaults, ``state`` is required
        (ValueError when it is not a job state)."""
        f = data.get("file") or {}
        req = f.get("requirements") or {}
        state = JobState(data["state"])
        requirements = Requirements(
            processes=tuple(str(p) for p in req.get("processes") or ()),
            bbox_mm=_triple(req.get("bbox_mm")),
            volume_mm3=_number(req.get("volume_mm3")),
            sheet_mm=_pair(req.get("sheet_mm")),
            cut_length_mm=_number(req.get("cut_length_mm")),
            # The stock thickness the order asks for; the hub sends it beside the requirements.
            thickness_mm=_number(req.get("thickness_mm", data.get("thickness_mm"))),
        )
        design = data.get("design") or {}
        return cls(
            id=str(data["id"]),
            state=state,
            material=str(data.get("material") or ""),
            quantity=int(data.get("quantity") or 1),
            machine_key=data.get("machine_key"),
            file=JobFile(id=str(f.get("id", "")), filename=str(f.get("filename") or "part"),
                         format=str(f.get("format") or ""), sha256=str(f.get("sha256") or "").lower(),
                         size_bytes=f.get("size_bytes"), requirements=requirements),
            process=data.get("process"),
            expires_at=data.get("expires_at"),
            distance_km=_number(data.get("distance_km")),
            progress=_number(data.get("progress")),
            title=str(design.get("title") or ""),
            raw=dict(data),
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _floats(value: Any, n: int) -> list[float] | None:
    if not isinstance(value, list | tuple) or len(value) < n:
        return None
    numbers = [_number(v) for v in value[:n]]
    return None if any(v is None for v in numbers) else [v for v in numbers if v is not None]


def _triple(value: Any) -> tuple[float, float, float] | None:
    v = _floats(value, 3)
    return (v[0], v[1], v[2]) if v else None


def _pair(value: Any) -> tuple[float, float] | None:
    v = _floats(value, 2)
    return (v[0], v[1]) if v else None
