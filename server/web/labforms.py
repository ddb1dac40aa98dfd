"""The lab form (register and edit) read into the API's bodies, with errors in plain words."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict

from cosmoloc_contract.fablabs import FablabIn, FablabPatch, MachineIn
from server.errors import invalid
from server.input_rules import finite_float

MAX_ROWS = 50
WORDS = {"name": "Give the lab a name.", "kind": "Choose what kind of place the lab is.",
         "latitude": "Latitude is a number between -90 and 90.", "longitude": "Longitude is a number between -180 and 180.",
         "key": "A machine key is 1 to 64 letters, digits, dots, dashes or colons (for example mk4-1).",
         "process": "Choose the machine's process.", "build_volume_mm": "Each build volume side is a length in mm above 0.",
         "materials": "Materials are separated by commas, each at most 64 characters."}


def _float(raw: str | None, what: str) -> float | None:
    raw = (raw or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return finite_float(raw)
    except ValueError:
        raise invalid(f"{what} must be a number.", {what: ["not a number"]}) from None


def _plain(exc: ValidationError, prefix: str = "") -> str:
    words = []
    for err in exc.errors():
        field = next((str(p) for p in reversed(err["loc"]) if isinstance(p, str)), "")
        words.append(prefix + WORDS.get(field, f"{field.replace('_', ' ')}: {err['msg']}."))
    return " ".join(dict.fromkeys(words))


def machines_from_form(form: MultiDict[str, str]) -> list[MachineIn]:
    """Machine rows ``machine-N-key``, ``-name``, ``-process``, ``-x``, ``-y``, ``-z``, ``-materials``, ``-remove``.

    A row with no key and no name is an unused blank row and is skipped.
    """
    out: list[MachineIn] = []
    for n in range(MAX_ROWS):
        p = f"machine-{n}-"
        if p + "key" not in form:
            continue
        key, name = form.get(p + "key", "").strip(), form.get(p + "name", "").strip()
        if (not key and not name) or form.get(p + "remove"):
            continue
        label = f"Machine {key or name}: "
        x, y, z = (_float(form.get(p + axis), f"{label}build volume {axis}") or 0.0 for axis in "xyz")
        materials = [m.strip() for m in form.get(p + "materials", "").split(",") if m.strip()]
        try:
            out.append(MachineIn(key=key, name=name or key, process=form.get(p + "process", ""),
                                 build_volume_mm=(x, y, z), materials=materials))
        except ValidationError as exc:
            raise invalid(_plain(exc, label), {"machines": ["invalid"]}) from None
    return out


def lab_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    lat, lon = _float(form.get("latitude"), "Latitude"), _float(form.get("longitude"), "Longitude")
    return {"name": form.get("name", "").strip(), "kind": form.get("kind", ""),
            "description": form.get("description", "").strip(), "latitude": lat, "longitude": lon,
            "address": form.get("address", "").strip() or None, "accepting_orders": bool(form.get("accepting_orders")),
            "machines": machines_from_form(form)}


def _validate(model: type[BaseModel], values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid(_plain(exc), {"lab": ["invalid"]}) from None


def new_lab(form: MultiDict[str, str]) -> FablabIn:
    return _validate(FablabIn, lab_fields(form))


def lab_patch(form: MultiDict[str, str], moved: bool) -> FablabPatch:
    """The edit form as a patch; the location is only sent when it changed (it may need geocoding)."""
    values = lab_fields(form)
    if not moved:
        for key in ("latitude", "longitude", "address"):
            values.pop(key)
    return _validate(FablabPatch, values)
