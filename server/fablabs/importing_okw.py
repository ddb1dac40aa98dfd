"""Open Know-Where facility records (JSON or YAML) for :mod:`server.fablabs.importing`.

Accepts one record, a list of records, or an API envelope holding them (``{"data": [...]}``,
``{"results": ...}``, GeoJSON features), and the flat "spaces" shape of maps of making
(``name, lat, lon, city, country, processes``).
"""
from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

from server.fablabs import okw
from server.fablabs.importing import (
    DEFAULT_VOLUMES_MM,
    PROCESS_LABELS,
    Candidate,
    ImportFileError,
    MachineSpec,
    Outcome,
    Skip,
    Source,
    clean,
    describe,
    is_active,
    kind_of,
    machine_spec,
    slug,
)
from server.fablabs.importing_csv import country_code, locate
from server.fablabs.models import LabKind

ENVELOPE_KEYS = ("data", "results", "items", "facilities", "records", "spaces", "labs", "features", "result")
RECORD_HINTS = ("location", "lat", "latitude", "coordinates", "gps_coordinates", "facility_status", "equipment",
                "geometry", "city")
# words of OKW records that okw.process_from does not know, and fragments that give the process away
EXTRA_WORDS = {"sla_printer": "sla", "resin_printer": "sla", "sls_printer": "sls", "3d printing": "fdm",
               "additive_manufacturing": "fdm", "cnc_machine": "cnc_milling", "cnc_mill": "cnc_milling",
               "cnc_milling_machine": "cnc_milling", "laser_engraver": "laser_engraving"}
FRAGMENTS = (("stereolith", "sla"), ("resin", "sla"), ("sinter", "sls"), ("filament", "fdm"), ("3d_print", "fdm"),
             ("engrav", "laser_engraving"), ("laser", "laser_cutting"), ("vinyl", "vinyl_cutting"),
             ("router", "cnc_routing"), ("mill", "cnc_milling"))
UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4, "inch": 25.4, "inches": 25.4, "": 1.0}


def source(path: Path, raw: bytes) -> Source:
    """A JSON or YAML file of facility records as a :class:`Source`; ImportFileError otherwise."""
    text = raw.decode("utf-8-sig", errors="replace")
    data: Any
    try:
        data = json.loads(text)
        fmt = "okw, json"
    except RecursionError:
        raise ImportFileError(f"{path}: nested too deeply") from None
    except ValueError:
        import yaml

        class NoAliasLoader(yaml.SafeLoader):
            """Facility records need no anchors; refusing aliases stops "billion laughs" expansion."""

            def compose_node(self, parent: Any, index: Any) -> Any:
                if self.check_event(yaml.AliasEvent):
                    raise yaml.YAMLError("YAML aliases (*name) are not accepted in facility records")
                return super().compose_node(parent, index)

        try:
            data = yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 (a SafeLoader without aliases)
        except (yaml.YAMLError, RecursionError) as exc:
            raise ImportFileError(f"{path}: neither JSON nor YAML ({str(exc).splitlines()[0]})") from None
        fmt = "okw, yaml"
    records = records_of(data)
    if records is None:
        raise ImportFileError(f"{path}: no facility records in it (want an OKW record with a name and a location, "
                              "a list of them, or an envelope holding them)")
    return Source(path, "okw", fmt.split(", ")[1], records, lambda record: interpret(record, path.name))


def _looks_like_record(value: Any) -> bool:
    return isinstance(value, dict) and "name" in value and any(k in value for k in RECORD_HINTS)


def records_of(data: Any, depth: int = 0) -> list[Any] | None:
    """The records in a parsed file: itself, its items, or those of an envelope; None when none are found."""
    if _looks_like_record(data) or (isinstance(data, dict) and data.get("type") == "Feature"):
        return [data]
    if isinstance(data, list):
        return data if any(_looks_like_record(x) or isinstance(x, dict) and x.get("type") == "Feature"
                           for x in data) else None
    if isinstance(data, dict) and depth < 3:
        inner = [data[k] for k in ENVELOPE_KEYS if k in data] + [v for k, v in data.items() if k not in ENVELOPE_KEYS]
        for value in inner:
            if isinstance(value, dict | list) and (found := records_of(value, depth + 1)) is not None:
                return found
    return None


def process_of(text: Any) -> str | None:
    """Our process for an OKW process or equipment word or Wikipedia URL; None when it names none."""
    if not isinstance(text, str) or not text.strip():
        return None
    word = urllib.parse.unquote(text.strip().rstrip("/").rsplit("/", 1)[-1]).lower().replace(" ", "_")
    found = okw.process_from(text) or EXTRA_WORDS.get(word)
    return found or next((p for fragment, p in FRAGMENTS if fragment in word), None)


def _length(value: Any, unit: str = "mm") -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        mm = float(value) * UNITS_MM.get(unit.lower(), 1.0)
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", value.lower())):
        if m.group(2) not in UNITS_MM:
            return None
        mm = float(m.group(1)) * UNITS_MM[m.group(2) or unit.lower()]
    else:
        return None
    return mm if 0 < mm <= 100_000 else None


def _sides(value: Any) -> list[float | None]:
    """Lengths in mm from {x, y, z, unit}, [x, y, z] or '250 x 210 x 220 mm'."""
    if isinstance(value, dict):
        unit = str(value.get("unit") or value.get("units") or "mm")
        return [_length(value.get(k), unit) for k in ("x", "y", "z") if k in value]
    if isinstance(value, list | tuple):
        return [_length(v) for v in value]
    if isinstance(value, str):
        suffix = re.search(r"(mm|cm|in|m)\s*$", value.strip().lower())
        numbers = re.findall(r"\d+(?:\.\d+)?", value)
        return [_length(float(n), suffix.group(1) if suffix else "mm") for n in numbers]
    return []


CUBIC_MM = {"": 1.0, "mm3": 1.0, "mm³": 1.0, "cm3": 1e3, "cm³": 1e3, "l": 1e6, "m3": 1e9, "m³": 1e9}


def _cubic_mm(value: Any) -> float | None:
    """A volume in mm³ from the spec's ``build_volume`` (one number in mm³, or '8000 cm3'); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        mm3 = float(value)
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mm3|mm³|cm3|cm³|l|m3|m³)?\s*",
                                                       value.lower())):
        mm3 = float(m.group(1)) * CUBIC_MM[m.group(2) or ""]
    else:
        return None
    return mm3 if 0 < mm3 <= 1e15 else None


def volume(equipment: dict[str, Any], process: str) -> tuple[float, float, float] | None:
    """Build volume in mm (x, y, z); None when the record gives no size.

    From ``x_travel``/``y_travel``/``z_travel``; a missing z from the spec's ``build_volume`` (mm³)
    over x·y, else the process's typical z. A ``build_volume`` alone keeps the process's typical
    proportions, scaled to hold that volume. Older shapes of ``build_volume`` ({x, y, z, unit},
    [x, y, z], '25 x 21 x 22 cm') and ``bed_size`` give the sides themselves.
    """
    typical = DEFAULT_VOLUMES_MM[process]
    travel = [_length(equipment.get(k)) for k in ("x_travel", "y_travel", "z_travel")]
    cubic = _cubic_mm(equipment.get("build_volume"))
    if travel[0] and travel[1]:
        z = travel[2] or (cubic / (travel[0] * travel[1]) if cubic else None) or typical[2]
        return (travel[0], travel[1], round(z, 3))
    if cubic:
        scale = (cubic / (typical[0] * typical[1] * typical[2])) ** (1 / 3)
        return (round(typical[0] * scale, 3), round(typical[1] * scale, 3), round(typical[2] * scale, 3))
    for sides in (_sides(equipment.get("build_volume")), _sides(equipment.get("bed_size"))):
        if len(sides) >= 2 and sides[0] and sides[1]:
            z = sides[2] if len(sides) > 2 and sides[2] else typical[2]
            return (sides[0], sides[1], z)
    return None


def material_names(equipment: dict[str, Any]) -> list[str]:
    """Materials from materials_worked: the name, else the last segment of the material_type URL."""
    out: list[str] = []
    for item in equipment.get("materials_worked") or []:
        text = item if isinstance(item, str) else (item.get("name") or item.get("material_type") or "") \
            if isinstance(item, dict) else ""
        name = urllib.parse.unquote(str(text).rstrip("/").rsplit("/", 1)[-1]).replace("_", " ").strip()
        if name and name.lower() not in {o.lower() for o in out}:
            out.append(name[:64])
    return out


def machines_of(record: dict[str, Any]) -> tuple[list[MachineSpec], int]:
    """Machines from ``equipment`` (else one per listed process), and how many items named no process of ours."""
    out: list[MachineSpec] = []
    ignored = 0
    equipment = record.get("equipment")
    for index, item in enumerate(equipment if isinstance(equipment, list) else [], start=1):
        if not isinstance(item, dict):
            ignored += 1
            continue
        process = next((p for p in map(process_of, (item.get("manufacturing_process"), item.get("equipment_type"),
                                                     item.get("process"), item.get("type"))) if p), None)
        if process is None:
            ignored += 1
            continue
        label = " ".join(clean(item.get(k), 90) for k in ("make", "model") if clean(item.get(k)))
        quantity = item.get("quantity")
        name = (label or PROCESS_LABELS[process]) + (f" (x{quantity})" if isinstance(quantity, int) and quantity > 1
                                                    else "")
        spec = machine_spec(f"{slug(label or process)}-{index}", name, process, volume(item, process),
                            material_names(item))
        if spec is not None:
            out.append(spec)
    if not out:
        listed = record.get("manufacturing_processes") or record.get("processes") or []
        listed = [listed] if isinstance(listed, str) else listed
        for process in dict.fromkeys(p for p in map(process_of, listed if isinstance(listed, list) else []) if p):
            spec = machine_spec(process, PROCESS_LABELS[process], process, None)
            if spec is not None:
                out.append(spec)
    return out, ignored


def _flatten_feature(record: dict[str, Any]) -> dict[str, Any]:
    props = record.get("properties") if isinstance(record.get("properties"), dict) else {}
    coords = (record.get("geometry") or {}).get("coordinates") if isinstance(record.get("geometry"), dict) else None
    flat = dict(props or {})
    if isinstance(coords, list) and len(coords) >= 2:
        flat["lon"], flat["lat"] = coords[0], coords[1]  # GeoJSON order is longitude, latitude
    return flat


def _point(record: dict[str, Any], location: dict[str, Any]) -> tuple[Any, Any]:
    """Latitude and longitude as given (numbers or text), from the first place the record has them."""
    for holder in (location.get("coordinates"), record.get("coordinates"), location, record):
        if isinstance(holder, list) and len(holder) == 2:  # OKW order: latitude, longitude
            return holder[0], holder[1]
        if isinstance(holder, dict):
            lat = next((holder[k] for k in ("lat", "latitude") if holder.get(k) not in (None, "")), None)
            lon = next((holder[k] for k in ("lon", "lng", "long", "longitude") if holder.get(k) not in (None, "")),
                       None)
            if lat is not None and lon is not None:
                return lat, lon
    gps = location.get("gps_coordinates") or record.get("gps_coordinates")
    if isinstance(gps, list | tuple) and len(gps) == 2:
        return gps[0], gps[1]
    if isinstance(gps, str) and gps.strip():
        parts = [p for p in re.split(r"[,;]|\s{2,}", gps) if p.strip()]
        if len(parts) == 1:
            parts = gps.split()
        return (parts[0], parts[1]) if len(parts) == 2 else (gps, None)
    return None, None


def interpret(record: Any, filename: str) -> Outcome:
    """One facility record (OKW, map-of-making space or GeoJSON feature) as a lab candidate, or why not."""
    if not isinstance(record, dict):
        return Skip("not a facility record")
    if record.get("type") == "Feature":
        record = _flatten_feature(record)
    name = clean(record.get("name") or record.get("title"), 200)
    if not name:
        return Skip("no name")
    location: dict[str, Any] = record["location"] if isinstance(record.get("location"), dict) else {}
    address: dict[str, Any] = location["address"] if isinstance(location.get("address"), dict) else {}
    city = clean(address.get("city") or location.get("city") or record.get("city"), 200)
    country = clean(address.get("country") or location.get("country") or record.get("country"), 100)
    region = clean(address.get("region"), 200)
    cities = [c for c in (city, f"{city}, {region}" if city and region else "") if c]
    written = clean(location.get("address"), 500)  # an address as one line: "Carrer X 1, Barcelona, Spain"
    if written and not city:
        *head, last = [p.strip() for p in written.split(",")]
        cities, country = ([", ".join(head)], country or last) if head else ([written], country)
    lat, lon = _point(record, location)
    located = locate(lat, lon, cities, country)
    if isinstance(located, Skip):
        return located
    machines, ignored = machines_of(record)
    status = clean(record.get("facility_status") or record.get("status"), 100)
    category = clean(record.get("kind") or record.get("category") or record.get("type"), 200)
    access = clean(record.get("access_type"), 100).lower()
    kind = next((k for k in (kind_of(category), kind_of(name)) if isinstance(k, LabKind)), None) or \
        (LabKind.COMPANY if access.startswith("restricted") else LabKind.MAKERSPACE)
    street = " ".join(clean(address.get(k), 200) for k in ("number", "street") if clean(address.get(k)))
    full_address = written or ", ".join(p for p in (street, clean(address.get("district")), city, region,
                                                    clean(address.get("postcode")), country) if p)
    city = city or (located.label.rpartition(",")[0] if located.approximate else "")
    link = clean(record.get("url") or record.get("space") or record.get("website"), 300)
    parts = [clean(record.get("description"), 3000), f"Status in the source: {status}" if status else "",
             f"Access: {record['access_type']}" if access else "", f"Website: {link}" if link else "",
             f"{ignored} equipment items not of a process cosmoloc matches" if ignored else "",
             f"Imported from {filename}"]
    code = country_code(country) if country else None
    return Candidate(name=name, kind=kind, where=located, city=city, country=code or country, address=full_address,
                     accepting_orders=is_active(status), description=describe(parts, machines, located), machines=machines)
