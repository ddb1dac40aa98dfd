"""The build report's shape, how a later report completes an earlier one, and when a report is complete."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from cosmoloc_contract.evidence import BuildReport, Receipt
from server.evidence.schemas import merge, missing

AGENT = {"outcome": "success", "material": {"name": "PLA"}, "actual_time_s": 5400, "estimated_time_s": 5000,
         "settings": {"layer_height_mm": 0.2, "infill_percent": 15, "nozzle_mm": 0.4, "filament_g": 21.3,
                      "slicer": "PrusaSlicer", "slicer_version": "2.8.1", "profile_sha256": "ab" * 32}}


def _errors(body: dict) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        BuildReport.model_validate(body)
    return {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


def test_the_agents_report_is_complete_but_for_the_machine_and_the_receipt() -> None:
    report = BuildReport.model_validate(AGENT)
    assert missing(report, received=False) == ["machine", "receipt"]
    assert missing(None, received=False) == ["machine", "material", "settings", "outcome", "receipt"]


def test_the_operator_completes_it_and_the_receipt_makes_it_complete() -> None:
    agent = BuildReport.model_validate(AGENT)
    operator = BuildReport.model_validate({"outcome": "success", "material": {"name": "PLA", "brand": "Prusament",
                                                                               "lot": "2026-11-A"},
                                           "machine": {"make": "Prusa", "model": "MK4"}, "notes": "clean print"})
    report = merge(agent, operator)
    assert report.actual_time_s == 5400 and report.settings is not None and report.settings.nozzle_mm == 0.4
    assert report.material.brand == "Prusament" and report.machine is not None and report.machine.model == "MK4"
    assert missing(report, received=False) == ["receipt"]
    assert missing(report, received=True) == []


def test_a_report_without_settings_is_never_complete() -> None:
    bare = BuildReport.model_validate({"outcome": "partial", "failure_mode": "warping", "material": {"name": "PETG"},
                                       "machine": {"make": "Creality", "model": "Ender 3"}, "settings": {}})
    assert missing(bare, received=True) == ["settings"]


def test_a_success_clears_the_failure_mode_of_an_earlier_report() -> None:
    failed = BuildReport.model_validate({"outcome": "failed", "failure_mode": "adhesion", "material": {"name": "PLA"}})
    assert merge(failed, BuildReport.model_validate(AGENT)).failure_mode is None


@pytest.mark.parametrize(("change", "field"), [
    ({"outcome": "done"}, "outcome"),
    ({"failure_mode": "gremlins", "outcome": "failed"}, "failure_mode"),
    ({"failure_mode": "warping"}, ""),  # a success has no failure mode
    ({"material": {"name": "   "}}, "material.name"),
    ({"material": {"name": "PLA\nPETG"}}, "material.name"),
    ({"machine": {"make": "Prusa"}}, "machine.model"),
    ({"actual_time_s": -1}, "actual_time_s"),
    ({"actual_mass_g": 1e12}, "actual_mass_g"),
    ({"attempts": 0}, "attempts"),
    ({"settings": {"profile_sha256": "not-a-hash"}}, "settings.profile_sha256"),
    ({"settings": {"Bad Key": 1}}, "settings"),
    ({"settings": {"nested": {"a": 1}}}, "settings"),
    ({"settings": {f"k{i}": i for i in range(41)}}, "settings"),
    ({"colour": "red"}, "colour"),
])
def test_bad_reports_are_refused_field_by_field(change: dict, field: str) -> None:
    body = {k: v for k, v in AGENT.items() if k not in change} | change
    assert field in _errors(body)


def test_material_is_required_and_extra_settings_are_kept() -> None:
    assert "material" in _errors({"outcome": "success"})
    report = BuildReport.model_validate({**AGENT, "settings": {"bed_temperature_c": 60, "brim": True}})
    assert report.settings is not None and report.settings.known() == {"bed_temperature_c": 60, "brim": True}


def test_the_receipt_takes_fit_for_purpose_and_a_comment() -> None:
    assert Receipt.model_validate({}).fit_for_purpose is None
    assert Receipt.model_validate({"fit_for_purpose": "unsure", "comment": "fits, wobbles"}).comment == "fits, wobbles"
    with pytest.raises(ValidationError):
        Receipt.model_validate({"fit_for_purpose": "maybe"})


@pytest.mark.parametrize("body", [AGENT, {"outcome": "failed", "material": {"name": "PETG"}},
                                  {**AGENT, "machine": {"make": "Prusa", "model": "MK4"}, "attempts": 2,
                                   "material": {"name": "PLA", "brand": "Fiberlogy", "lot": "L1"},
                                   "settings": {"nozzle_mm": 0.6, "brim": True, "fan": "auto"}, "notes": "ok"}])
def test_a_stored_report_reads_back_as_filed(body: dict) -> None:
    from server.evidence.models import BuildReportRecord

    report = BuildReport.model_validate(body)
    record = BuildReportRecord()
    record.store(report)
    again = record.to_report()
    assert again.model_dump(exclude={"settings"}) == report.model_dump(exclude={"settings"})
    assert (again.settings.known() if again.settings else None) == (report.settings.known() if report.settings else None)
