"""The designs a design was remixed from: one or several, each with a declared weight or equal shares.

``derived_from`` takes one id or several, comma-separated, and ``parent_weights`` (optional) one positive
decimal per parent in the same order. The first parent stays the design's ``derived_from``; every parent is
a row here, in order. Parents must already be published, so a remix can never be its own ancestor.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from server.db import Base
from server.designs.models import Design
from server.errors import invalid
from server.input_rules import MAX_DB_INT

MAX_PARENTS = 8


class DesignParent(Base):
    __tablename__ = "design_parents"

    design_id: Mapped[int] = mapped_column(ForeignKey("designs.id", ondelete="CASCADE"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("designs.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[str | None] = mapped_column(String(32))  # a decimal string; None: equal shares


def parse(session: Session, derived_from: str | None, weights: str | None) -> list[tuple[int, Fraction | None]]:
    """The parents named by a form or API request, checked: ids of published designs, distinct, at most eight,
    with positive weights given for all of them or none. 422 otherwise."""
    raw = [p.strip() for p in str(derived_from or "").split(",") if p.strip()]
    if not raw:
        if weights:
            raise invalid("parent_weights needs derived_from.", {"parent_weights": ["no parents named"]})
        return []
    try:
        ids = [int(p) for p in raw]
        if not all(1 <= i <= MAX_DB_INT for i in ids):
            raise ValueError(ids)
    except ValueError:
        raise invalid("derived_from must be a design id, or several, comma-separated.",
                      {"derived_from": ["not an id"]}) from None
    if len(set(ids)) != len(ids) or len(ids) > MAX_PARENTS:
        raise invalid(f"derived_from names at most {MAX_PARENTS} different designs.", {"derived_from": ["repeated or too many"]})
    known = set(session.scalars(select(Design.id).where(Design.id.in_(ids))))
    if known != set(ids):
        raise invalid("derived_from names no design.", {"derived_from": ["no such design"]}, code="unknown_design")
    if not weights or not weights.strip():
        return [(i, None) for i in ids]
    parts = [w.strip() for w in weights.split(",")]
    try:
        values = [Fraction(Decimal(w)) for w in parts]
    except (InvalidOperation, ValueError):
        values = []
    if len(values) != len(ids) or not all(v > 0 for v in values) or any(len(w) > 20 for w in parts):
        raise invalid("parent_weights gives one positive number per parent, in the same order.",
                      {"parent_weights": ["one positive number per parent"]}, code="invalid_weights")
    return list(zip(ids, values, strict=True))


def store(session: Session, design_id: int, parents: list[tuple[int, Fraction | None]]) -> None:
    from design_commons.ledger.events import decimal_string

    for position, (parent, weight) in enumerate(parents):
        session.add(DesignParent(design_id=design_id, parent_id=parent, position=position,
                                 weight=None if weight is None else decimal_string(weight)))
    session.flush()


def of(session: Session, design_ids: list[int]) -> dict[int, list[tuple[int, Fraction | None]]]:
    """The parents of each design, in order (designs remixed from one design before this table: their derived_from)."""
    rows = session.scalars(select(DesignParent).where(DesignParent.design_id.in_(design_ids))
                           .order_by(DesignParent.design_id, DesignParent.position))
    out: dict[int, list[tuple[int, Fraction | None]]] = {}
    for row in rows:
        out.setdefault(row.design_id, []).append((row.parent_id, None if row.weight is None else Fraction(Decimal(row.weight))))
    return out


def as_json(session: Session, design: Any) -> list[dict[str, Any]]:
    """``"parents": [{"id", "weight"}]`` of API.md (weight a decimal string, null for equal shares)."""
    listed = of(session, [design.id]).get(design.id)
    if listed is None:
        listed = [(design.derived_from_id, None)] if design.derived_from_id is not None else []
    from design_commons.ledger.events import decimal_string

    return [{"id": p, "weight": None if w is None else decimal_string(w)} for p, w in listed]
