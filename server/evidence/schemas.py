"""How build reports merge, and when a report is complete (the shapes are :mod:`cosmoloc_contract.evidence`').

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

from cosmoloc_contract.evidence import BuildReport
from design_commons.evidence import Outcome

#: The parts a complete report needs, in the order they are named to the operator.
COMPLETENESS = ("machine", "material", "settings", "outcome", "receipt")


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
