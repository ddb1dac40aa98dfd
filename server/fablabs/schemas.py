"""JSON shapes of fablabs and machines (API.md: Fablab, Machine), built through cosmoloc_contract.fablabs."""
from __future__ import annotations

from typing import Any

from cosmoloc_contract import fablabs as contract
from server.fablabs.models import AVAILABLE, Fablab, Machine


def _machine(m: Machine) -> dict[str, Any]:
    return {"key": m.key, "name": m.name, "process": m.process,
            "build_volume_mm": [m.build_x_mm, m.build_y_mm, m.build_z_mm], "materials": list(m.materials or []),
            "state": m.state.value, "state_reported_at": m.state_reported_at, "queue_length": m.queue_length}


def machine_json(m: Machine) -> dict[str, Any]:
    return contract.Machine.model_validate(_machine(m)).to_json()


SUMMARY_MATERIALS = 20  # materials named in a directory entry's machine summary; the rest are counted


def machine_summary(machines: list[Machine]) -> dict[str, Any]:
    """What a directory entry says of a lab's machines: ``{"count", "available", "processes": {process: n},
    "materials": [up to SUMMARY_MATERIALS names], "materials_total"}`` (materials case-insensitively distinct,
    sorted), so a page of labs stays small however many machines or materials each lab lists."""
    processes: dict[str, int] = {}
    materials: dict[str, str] = {}
    for m in machines:
        processes[m.process] = processes.get(m.process, 0) + 1
        for name in m.materials or []:
            materials.setdefault(name.lower(), name)
    names = sorted(materials.values(), key=str.lower)
    return {"count": len(machines), "available": sum(1 for m in machines if m.state in AVAILABLE),
            "processes": dict(sorted(processes.items())), "materials": names[:SUMMARY_MATERIALS],
            "materials_total": len(names)}


def fablab_json(lab: Fablab, online: bool, distance_km: float | None = None,
                machines_listed: int | None = None) -> dict[str, Any]:
    """A lab (API.md: Fablab). ``machines_listed`` bounds ``machines`` for directory entries: they then list at
    most that many (by key), say ``machines_truncated`` and carry a ``machine_summary`` of all of them."""
    machines = sorted(lab.machines, key=lambda m: m.key)
    out: dict[str, Any] = {
        "id": lab.id, "name": lab.name, "kind": lab.kind.value, "description": lab.description,
        "latitude": lab.latitude, "longitude": lab.longitude, "address": lab.address, "city": lab.city,
        "country": lab.country, "location_approximate": lab.location_approximate,
        "accepting_orders": lab.accepting_orders, "online": online, "last_seen_at": lab.last_seen_at,
        "operator": {"id": lab.operator.id, "name": lab.operator.name} if lab.operator else None,
        "claimed": lab.operator_id is not None, "source": lab.source,
        "machines": [_machine(m) for m in machines[:machines_listed]],
    }
    if machines_listed is not None:
        out["machines_truncated"] = len(machines) > machines_listed
        out["machine_summary"] = machine_summary(machines)
    if distance_km is not None:
        out["distance_km"] = round(distance_km, 3)
    return contract.Fablab.model_validate(out).to_json()
