"""Plain words for the codes the hub uses: order statuses, order events, matching reasons, states."""
from __future__ import annotations

import datetime as dt
from typing import Any

PROCESS_NAMES = {
    "fdm": "3D printing (FDM)", "sla": "3D printing (resin, SLA)", "sls": "3D printing (powder, SLS)",
    "cnc_milling": "CNC milling", "laser_cutting": "Laser cutting", "laser_engraving": "Laser engraving",
    "cnc_routing": "CNC routing", "vinyl_cutting": "Vinyl cutting",
}

ORDER_STATUS = {
    "validating": "Checking the file", "rejected": "Rejected: the file cannot be made",
    "matching": "Looking for a lab", "unmatched": "Waiting for a lab nearby",
    "offered": "Offered to a lab", "accepted": "Accepted by the lab", "in_production": "Being made",
    "completed": "Made: ready for you", "received": "Received", "cancelled": "Cancelled", "failed": "Could not be made",
}

# the citizen's steps, in order, for the timeline's progress
ORDER_STEPS = ("validating", "matching", "offered", "accepted", "in_production", "completed", "received")

REASONS = {
    "too_far": "farther than your maximum distance", "not_accepting": "not taking orders now",
    "unclaimed": "no operator has claimed this lab yet", "offline": "its machines have not reported recently",
    "licence": "the design's licence does not allow this kind of lab to make it",
    "declined": "declined this order", "expired": "did not answer in time", "failed_before": "failed this order before",
    "no_process": "no machine for this process", "no_material": "does not have this material",
    "too_small": "no machine is big enough for the part", "too_thick": "cannot cut stock this thick",
    "machine_unavailable": "its matching machines are not available now",
}

MACHINE_STATE = {"idle": "Free", "busy": "Busy", "paused": "Paused", "error": "Error", "offline": "Offline",
                 "maintenance": "Maintenance"}

JOB_STATE = {"offered": "Offered", "accepted": "Accepted", "in_production": "In production", "completed": "Done",
             "failed": "Failed", "declined": "Declined", "expired": "Expired", "withdrawn": "Withdrawn by the citizen"}

VALIDATION_STATUS = {"pending": "Being checked…", "passed": "Passed", "warnings": "Passed with warnings",
                     "failed": "Failed: cannot be made yet"}


def event_text(kind: str, detail: dict[str, Any]) -> str:
    """One line of an order's timeline."""
    lab = detail.get("fablab_name") or "the lab"
    texts = {
        "created": f"Order placed: {detail.get('quantity', 1)} × in {detail.get('material', '')}",
        "validating": "Waiting for the design file to be checked",
        "validated": "The file passed its check",
        "rejected": f"Rejected: {detail.get('reason', 'the file cannot be made')}",
        "unmatched": "No lab within reach can make it right now; we keep looking",
        "offered": f"Offered to {lab}" + (f", {detail['distance_km']:.1f} km away" if "distance_km" in detail else ""),
        "declined": "The lab declined" + (f": {detail['reason']}" if detail.get("reason") else ""),
        "expired": "The lab did not answer in time; asking the next one",
        "accepted": "The lab accepted the job",
        "in_production": "Production started",
        "completed": "Made and ready" + (f": {detail['note']}" if detail.get("note") else ""),
        "failed_at_lab": "The lab could not make it" + (f": {detail['reason']}" if detail.get("reason") else ""),
        "failed": "Could not be made: " + str(detail.get("reason", "too many failures")),
        "withdrawn": "The offer to the lab was withdrawn",
        "cancelled": "You cancelled the order",
        "received": "You confirmed you received it",
        "reported": "The lab filed its build report",
    }
    return texts.get(kind, kind.replace("_", " ").capitalize())


def time_left(until: dt.datetime | str | None, now: dt.datetime) -> str:
    """'12 min left', 'less than a minute left', or 'expired'."""
    if until is None:
        return ""
    if isinstance(until, str):
        until = dt.datetime.fromisoformat(until)
    seconds = (until - now).total_seconds()
    if seconds <= 0:
        return "time is up"
    if seconds < 60:
        return "less than a minute left"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min left"
    return f"{minutes // 60} h {minutes % 60} min left"


def ago(when: dt.datetime | str | None, now: dt.datetime) -> str:
    if when is None:
        return "never"
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when)
    seconds = max(0.0, (now - when).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"
