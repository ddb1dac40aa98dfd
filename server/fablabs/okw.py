"""Open Know-Where: a lab as an OKW facility record, and the process vocabulary both ways."""
from __future__ import annotations

import uuid
from typing import Any

from server.fablabs.models import Fablab

WIKI = "https://en.wikipedia.org/wiki/"
PROCESS_URLS: dict[str, str] = {
    "fdm": WIKI + "Fused_filament_fabrication",
    "sla": WIKI + "Stereolithography",
    "sls": WIKI + "Selective_laser_sintering",
    "cnc_milling": WIKI + "Milling_(machining)",
    "laser_cutting": WIKI + "Laser_cutting",
    "laser_engraving": WIKI + "Laser_engraving",
    "cnc_routing": WIKI + "CNC_router",
    "vinyl_cutting": WIKI + "Vinyl_cutter",
}
EQUIPMENT_URLS: dict[str, str] = {
    "fdm": WIKI + "3D_printing", "sla": WIKI + "3D_printing", "sls": WIKI + "3D_printing",
    "cnc_milling": WIKI + "Milling_machine", "laser_cutting": WIKI + "Laser_cutting",
    "laser_engraving": WIKI + "Laser_engraving", "cnc_routing": WIKI + "CNC_router", "vinyl_cutting": WIKI + "Vinyl_cutter",
}
# words seen in OKW records and lab directories, mapped to our processes
PROCESS_WORDS: dict[str, str] = {
    "fused_filament_fabrication": "fdm", "fused_deposition_modeling": "fdm", "fdm": "fdm", "fff": "fdm",
    "3d_printing": "fdm", "3dp": "fdm", "3d_printer": "fdm", "3d printer": "fdm", "3d printing": "fdm",
    "stereolithography": "sla", "sla": "sla", "resin": "sla",
    "selective_laser_sintering": "sls", "sls": "sls",
    "milling_(machining)": "cnc_milling", "milling": "cnc_milling", "cnc_milling": "cnc_milling",
    "milling_machine": "cnc_milling", "cnc mill": "cnc_milling",
    "laser_cutting": "laser_cutting", "laser cutter": "laser_cutting", "laser cutting": "laser_cutting",
    "laser_cutter": "laser_cutting", "las": "laser_cutting", "laser": "laser_cutting",
    "laser_engraving": "laser_engraving", "laser engraving": "laser_engraving",
    "cnc_router": "cnc_routing", "cnc router": "cnc_routing", "cnc_routing": "cnc_routing", "cnc": "cnc_routing",
    "vinyl_cutter": "vinyl_cutting", "vinyl cutter": "vinyl_cutting", "vinyl_cutting": "vinyl_cutting",
    "plotter": "vinyl_cutting",
}


def process_from(text: str) -> str | None:
    """Our process for a Wikipedia URL or a word from a directory ('Laser cutter', '3DP'); None if unknown."""
    key = text.strip().rstrip("/").rsplit("/", 1)[-1].lower()
    return PROCESS_WORDS.get(key) or PROCESS_WORDS.get(key.replace(" ", "_"))


def facility_id(base_url: str, lab_id: int) -> uuid.UUID:
    """The lab's OKW ``id``: a UUID (version 5) of its page on this hub, the same at every export."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url.rstrip('/')}/fablabs/{lab_id}")


def _number(value: float) -> int | float:
    """A length as the record writes it: a whole number of mm as an int (the reference model types them int)."""
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _address(lab: Fablab) -> dict[str, str]:
    """The OKW address fields that are known: ``street`` (the address as given), ``city``, ``country``."""
    fields = {"street": lab.address, "city": lab.city, "country": lab.country}
    return {k: v.strip() for k, v in fields.items() if v and v.strip()}


def _material(name: str) -> dict[str, str]:
    return {"material_type": WIKI + name.replace(" ", "_"), "name": name}


def facility_record(lab: Fablab, online: bool, base_url: str) -> dict[str, Any]:
    """The lab as an OKW facility record, in the shapes the reference model (supply-graph-ai ``okw.py``) loads.

    ``id`` is :func:`facility_id` (a UUID; the lab's page on the hub is ``cosmoloc.url``);
    ``location.address`` holds the fields that are known; each machine's ``x_travel``, ``y_travel``,
    ``z_travel`` are its build volume in mm and ``build_volume`` their product in mm³ (for sheet
    machines: the bed and the thickest stock); ``record_data.created_by`` is the hub as an Agent.
    """
    base = base_url.rstrip("/")
    equipment = []
    for m in lab.machines:
        equipment.append({
            "equipment_type": EQUIPMENT_URLS.get(m.process, ""),
            "manufacturing_process": PROCESS_URLS.get(m.process, ""),
            "model": m.name,
            "quantity": 1,
            "materials_worked": [_material(mat) for mat in m.materials],
            "x_travel": _number(m.build_x_mm), "y_travel": _number(m.build_y_mm), "z_travel": _number(m.build_z_mm),
            "build_volume": round(m.build_x_mm * m.build_y_mm * m.build_z_mm),
            "cosmoloc": {"key": m.key, "process": m.process, "state": m.state.value, "queue_length": m.queue_length},
        })
    processes = sorted({m.process for m in lab.machines})
    materials = sorted({mat for m in lab.machines for mat in m.materials}, key=str.lower)
    status = "Active" if lab.accepting_orders else "Temporary Closure"
    location: dict[str, Any] = {"gps_coordinates": f"{lab.latitude}, {lab.longitude}",
                                "coordinates": {"lat": lab.latitude, "lon": lab.longitude}}
    address = _address(lab)
    if address:
        location["address"] = address
        location.update({k: address[k] for k in ("city", "country") if k in address})
    hub = {"name": "cosmoloc", "website": base}
    record: dict[str, Any] = {
        "id": str(facility_id(base, lab.id)),
        "name": lab.name,
        "location": location,
        "facility_status": status,
        "description": lab.description,
        "access_type": "Shared space" if lab.kind.value in ("fablab", "makerspace") else "Restricted",
        "equipment": equipment,
        "manufacturing_processes": [PROCESS_URLS[p] for p in processes if p in PROCESS_URLS],
        "typical_materials": [_material(m) for m in materials],
        "record_data": {"date_created": lab.created_at.isoformat(), "last_updated": lab.updated_at.isoformat(),
                        "created_by": hub, "updated_by": hub},
        "cosmoloc": {"id": lab.id, "url": f"{base}/fablabs/{lab.id}", "kind": lab.kind.value,
                     "accepting_orders": lab.accepting_orders, "online": online,
                     "last_seen_at": lab.last_seen_at.isoformat() if lab.last_seen_at else None,
                     "location_approximate": lab.location_approximate},
    }
    if lab.operator:
        record["owner"] = {"name": lab.operator.name}
    return record
