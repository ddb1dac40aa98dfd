"""How the reference implementation of Open Know-Where loads a facility record, written again for the tests.

The reference is helpfulengineering/supply-graph-ai, ``src/core/models/okw.py``:
``ManufacturingFacility.from_dict`` and the dataclasses it fills. :func:`load` does what that
loader does with a record and fails where it fails: ``UUID(id)``, the ``FacilityStatus``,
``AccessType`` and ``BatchSize`` enums by value, ``date.fromisoformat`` for ``date_founded``,
``.get`` on ``location``, ``address``, equipment, materials and agents (a non-mapping there is an
AttributeError), and ``Agent(name=...)`` for ``owner``, ``contact`` and ``affiliations``. It also
holds the record to the types the reference's dataclasses declare but do not check at load time,
so a record another consumer of those classes reads is what they say: ``build_volume`` an int
in mm³, ``x_travel``/``y_travel``/``z_travel`` numbers in mm, ``quantity`` an int, and
``record_data`` a RecordData (``date_created`` a datetime, ``created_by`` an Agent).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

FACILITY_STATUS = ("Active", "Planned", "Temporary Closure", "Closed")
ACCESS_TYPE = ("Restricted", "Restricted with public hours", "Shared space", "Public", "Membership")
BATCH_SIZE = ("0 -- 50 units", "50 -- 500 units", "500 -- 5000 units", "5000 + units")
ADDRESS_FIELDS = ("number", "street", "district", "city", "region", "country", "postcode")
EQUIPMENT_NUMBERS_MM = ("x_travel", "y_travel", "z_travel", "bed_size", "nozzle_size", "working_surface")


class NotLoadable(ValueError):
    """The reference model would not load the record (or would hold a value of the wrong type)."""


def _enum(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise NotLoadable(f"{what} {value!r} is not one of {allowed}")
    return str(value)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NotLoadable(f"{what} must be an object (the loader calls .get on it), not {type(value).__name__}")
    return value


def _address(data: Any, what: str) -> dict[str, Any]:
    address = _mapping(data, what)
    for key in ADDRESS_FIELDS:
        if address.get(key) is not None and not isinstance(address[key], str):
            raise NotLoadable(f"{what}.{key} must be text")
    return {k: address.get(k) for k in ADDRESS_FIELDS}


def _location(data: Any, what: str) -> dict[str, Any]:
    location = _mapping(data, what)
    out = {"address": _address(location.get("address", {}), f"{what}.address"),
           "gps_coordinates": location.get("gps_coordinates"), "city": location.get("city"),
           "country": location.get("country")}
    gps = out["gps_coordinates"]
    if gps is not None:
        parts = str(gps).split(",")
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            raise NotLoadable(f"{what}.gps_coordinates {gps!r} is not 'lat, lon' in decimal degrees") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise NotLoadable(f"{what}.gps_coordinates {gps!r} is out of range")
    return out


def _agent(data: Any, what: str) -> dict[str, Any]:
    agent = _mapping(data, what)
    if not isinstance(agent.get("name", ""), str):
        raise NotLoadable(f"{what}.name must be text")
    return {"name": agent.get("name", ""), "website": agent.get("website")}


def _materials(items: Any, what: str) -> list[dict[str, Any]]:
    return [{"material_type": m.get("material_type", "")} for m in items or [] if isinstance(m, dict)]


def _number(value: Any, what: str, whole: bool = False) -> None:
    kinds = (int,) if whole else (int, float)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
        raise NotLoadable(f"{what} must be {'an int' if whole else 'a number'}, not {value!r}")


def _equipment(items: Any) -> list[dict[str, Any]]:
    out = []
    for index, item in enumerate(items or []):
        if not isinstance(item, dict):
            continue  # the loader skips what is not an object
        where = f"equipment[{index}]"
        if "location" in item:
            _location(item["location"], f"{where}.location")
        _number(item.get("quantity"), f"{where}.quantity", whole=True)
        _number(item.get("build_volume"), f"{where}.build_volume (mm³)", whole=True)
        for key in EQUIPMENT_NUMBERS_MM:
            _number(item.get(key), f"{where}.{key} (mm)")
        out.append({"equipment_type": item.get("equipment_type", ""),
                    "manufacturing_process": item.get("manufacturing_process", ""),
                    "materials_worked": _materials(item.get("materials_worked"), where),
                    **{k: item.get(k) for k in ("build_volume", *EQUIPMENT_NUMBERS_MM)}})
    return out


def _datetime(value: Any, what: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise NotLoadable(f"{what} {value!r} is not an ISO date and time") from None


def _record_data(data: Any) -> dict[str, Any]:
    record = _mapping(data, "record_data")
    out: dict[str, Any] = {"date_created": _datetime(record.get("date_created"), "record_data.date_created"),
                           "created_by": _agent(record.get("created_by"), "record_data.created_by")}
    for key in ("last_updated", "date_verified"):
        if record.get(key) is not None:
            out[key] = _datetime(record[key], f"record_data.{key}")
    for key in ("updated_by", "verified_by"):
        if record.get(key) is not None:
            out[key] = _agent(record[key], f"record_data.{key}")
    return out


def load(data: Any) -> dict[str, Any]:
    """The facility the reference model makes of ``data``; NotLoadable where it would fail."""
    record = _mapping(data, "the record")
    facility: dict[str, Any] = {
        "name": record.get("name", ""),
        "location": _location(record.get("location", {}), "location"),
        "facility_status": _enum(record.get("facility_status", "Active"), FACILITY_STATUS, "facility_status"),
    }
    if "id" in record:
        try:
            facility["id"] = uuid.UUID(record["id"])
        except (ValueError, TypeError, AttributeError):
            raise NotLoadable(f"id {record['id']!r} is not a UUID") from None
    if "access_type" in record:
        facility["access_type"] = _enum(record["access_type"], ACCESS_TYPE, "access_type")
    if record.get("typical_batch_size") is not None:
        facility["typical_batch_size"] = _enum(record["typical_batch_size"], BATCH_SIZE, "typical_batch_size")
    if record.get("date_founded"):
        try:
            facility["date_founded"] = dt.date.fromisoformat(record["date_founded"])
        except (ValueError, TypeError):
            raise NotLoadable(f"date_founded {record['date_founded']!r} is not an ISO date") from None
    facility["equipment"] = _equipment(record.get("equipment"))
    facility["typical_materials"] = _materials(record.get("typical_materials"), "typical_materials")
    for key in ("owner", "contact"):
        if record.get(key):
            facility[key] = _agent(record[key], key) if isinstance(record[key], dict) else None
    facility["affiliations"] = [_agent(a, "affiliations") for a in record.get("affiliations") or []
                                if isinstance(a, dict)]
    if record.get("record_data") is not None:
        facility["record_data"] = _record_data(record["record_data"])
    return facility
