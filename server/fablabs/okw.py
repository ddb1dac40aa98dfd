"""Open Know-Where: a lab as an OKW facility record, and the process vocabulary both ways."""
from __future__ import annotations

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


def facility_record(lab: Fablab, online: bool, base_url: str) -> dict[str, Any]:
    """The lab as an OKW facility: name, location with coordinates, status, equipment with volumes and materials."""
    equipment = []
    for m in lab.machines:
        equipment.append({
            "equipment_type": EQUIPMENT_URLS.get(m.process, ""),
            "manufacturing_process": PROCESS_URLS.get(m.process, ""),
            "model": m.name,
            "quantity": 1,
            "materials_worked": [{"material_type": WIKI + mat.replace(" ", "_"), "name": mat} for mat in m.materials],
            "x_travel": m.build_x_mm, "y_travel": m.build_y_mm, "z_travel": m.build_z_mm,
            "build_volume": {"x": m.build_x_mm, "y": m.build_y_mm, "z": m.build_z_mm, "unit": "mm"},
            "cosmoloc": {"key": m.key, "process": m.process, "state": m.state.value, "queue_length": m.queue_length},
        })
    processes = sorted({m.process for m in lab.machines})
    materials = sorted({mat for m in lab.machines for mat in m.materials}, key=str.lower)
    status = "Active" if lab.accepting_orders else "Temporary Closure"
    return {
        "id": f"{base_url}/fablabs/{lab.id}",
        "name": lab.name,
        "location": {
            "address": {"street": lab.address, "city": lab.city, "country": lab.country},
            "gps_coordinates": f"{lab.latitude}, {lab.longitude}",
            "coordinates": {"lat": lab.latitude, "lon": lab.longitude},
        },
        "facility_status": status,
        "description": lab.description,
        "owner": {"name": lab.operator.name} if lab.operator else None,
        "access_type": "Shared space" if lab.kind.value in ("fablab", "makerspace") else "Restricted",
        "equipment": equipment,
        "manufacturing_processes": [PROCESS_URLS[p] for p in processes if p in PROCESS_URLS],
        "typical_materials": [{"material_type": WIKI + m.replace(" ", "_"), "name": m} for m in materials],
        "record_data": {"date_created": lab.created_at.isoformat(), "last_updated": lab.updated_at.isoformat(),
                        "created_by": "cosmoloc"},
        "cosmoloc": {"id": lab.id, "kind": lab.kind.value, "accepting_orders": lab.accepting_orders,
                     "online": online, "last_seen_at": lab.last_seen_at.isoformat() if lab.last_seen_at else None,
                     "location_approximate": lab.location_approximate},
    }
