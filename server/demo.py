"""Demo data made on the spot: parts built with trimesh and ezdxf, published through the real services.

Nothing here is copied from elsewhere; every part is generated, so the demo can be shipped.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable

import ezdxf
import trimesh
from sqlalchemy import func, select

from server.accounts import service as accounts
from server.accounts.models import Account
from server.config import Settings
from server.designs import service as designs
from server.designs.models import Design
from server.hub import Hub

DEMO_EMAIL = "demo@cosmoloc.example"
DEMO_PASSWORD = "demo-lathe-kettle"


def _stl(mesh: trimesh.Trimesh) -> bytes:
    data = mesh.export(file_type="stl")
    assert isinstance(data, bytes)
    return data


def spacer_ring(height: float = 8.0) -> bytes:
    """A 30 mm washer-like spacer: a closed annulus."""
    return _stl(trimesh.creation.annulus(r_min=8.5, r_max=15.0, height=height, sections=96))


def calibration_cube() -> bytes:
    return _stl(trimesh.creation.box(extents=(20.0, 20.0, 20.0)))


def drawer_knob() -> bytes:
    knob = trimesh.creation.capsule(height=18.0, radius=11.0, count=[48, 48])
    knob.apply_translation(-knob.bounds[0])
    return _stl(knob)


def _dxf_bytes(doc: ezdxf.document.Drawing) -> bytes:
    stream = io.StringIO()
    doc.write(stream)
    return stream.getvalue().encode("utf-8")


def coaster_dxf() -> bytes:
    """A 90 mm round coaster with an engraved name, in millimetres."""
    doc = ezdxf.new("R2010", units=4)
    msp = doc.modelspace()
    msp.add_circle((45, 45), 45)
    msp.add_circle((45, 45), 3)
    msp.add_text("cosmoloc", dxfattribs={"height": 6, "layer": "ENGRAVE"}).set_placement((22, 20))
    return _dxf_bytes(doc)


def gear_plate_dxf(teeth: int = 24, outer: float = 40.0, root: float = 35.0) -> bytes:
    """A flat gear outline for laser cutting: one closed polyline and a bore."""
    doc = ezdxf.new("R2010", units=4)
    msp = doc.modelspace()
    points = []
    for i in range(teeth * 4):
        angle = 2 * math.pi * i / (teeth * 4)
        radius = outer if i % 4 in (1, 2) else root
        points.append((radius * math.cos(angle), radius * math.sin(angle)))
    msp.add_lwpolyline(points, close=True)
    msp.add_circle((0, 0), 5)
    return _dxf_bytes(doc)


def phone_stand_dxf() -> bytes:
    """Two interlocking plates of a phone stand, with slots, in millimetres."""
    doc = ezdxf.new("R2010", units=4)
    msp = doc.modelspace()
    msp.add_lwpolyline([(0, 0), (120, 0), (120, 20), (65, 20), (65, 10), (55, 10), (55, 20), (0, 90)], close=True)
    msp.add_lwpolyline([(140, 0), (230, 0), (230, 60), (190, 60), (190, 50), (180, 50), (180, 60), (140, 60)], close=True)
    return _dxf_bytes(doc)


CATALOGUE: list[dict[str, object]] = [
    {"title": "Spacer ring", "license": "CERN-OHL-S-2.0", "tags": "spacer,hardware,printable",
     "description": "A 30 mm spacer for M8 rods. Print in PETG for strength.", "files": [("spacer-ring.stl", spacer_ring)]},
    {"title": "Calibration cube", "license": "CC0-1.0", "tags": "calibration,printable",
     "description": "A 20 mm cube to check a printer's dimensions.", "files": [("cube-20mm.stl", calibration_cube)]},
    {"title": "Drawer knob", "license": "CC-BY-SA-4.0", "tags": "furniture,printable",
     "description": "A round knob for drawers and cabinets.", "files": [("knob.stl", drawer_knob)]},
    {"title": "Engraved coaster", "license": "LicenseRef-PPL", "tags": "kitchen,laser",
     "description": "A round coaster to cut from 3 mm plywood, with an engraved name.",
     "files": [("coaster.dxf", coaster_dxf)]},
    {"title": "Gear plate", "license": "CERN-OHL-W-2.0", "tags": "gear,laser,mechanics",
     "description": "A 24-tooth gear to cut from 6 mm acrylic.", "files": [("gear-24t.dxf", gear_plate_dxf)]},
    {"title": "Phone stand", "license": "CC-BY-4.0", "tags": "desk,laser",
     "description": "Two plates that slot together into a phone stand.", "files": [("phone-stand.dxf", phone_stand_dxf)]},
]


def seed(settings: Settings | None = None, progress: Callable[[str], None] = lambda _m: None) -> int:
    """Publish the demo catalogue once (nothing happens when designs exist); return how many were added."""
    hub = Hub(settings or Settings.from_env())
    try:
        with hub.db.session() as session:
            if (session.scalar(select(func.count()).select_from(Design)) or 0) > 0:
                progress("demo data already there")
                return 0
            owner = session.scalar(select(Account).where(Account.email == DEMO_EMAIL))
            if owner is None:
                owner = accounts.create_account(session, DEMO_EMAIL, DEMO_PASSWORD, "Demo Designer")
            made: dict[str, Design] = {}
            for i, entry in enumerate(CATALOGUE, 1):
                progress(f"[{i}/{len(CATALOGUE)}] making {entry['title']}")
                files = entry["files"]
                assert isinstance(files, list)
                uploads = [designs.Upload(name, io.BytesIO(make())) for name, make in files]
                made[str(entry["title"])] = designs.publish(
                    session, hub.store, owner, str(entry["title"]), str(entry["license"]), str(entry["description"]),
                    str(entry["tags"]), None, "mm", uploads)
            remix = designs.publish(session, hub.store, owner, "Tall spacer ring", "CERN-OHL-S-2.0",
                                    "A taller remix of the spacer ring for deeper gaps.", "spacer,remix",
                                    str(made["Spacer ring"].id), "mm",
                                    [designs.Upload("spacer-ring-16mm.stl", io.BytesIO(spacer_ring(16.0)))])
            designs.add_version(session, hub.store, owner, remix, "Now 20 mm tall", "mm",
                                [designs.Upload("spacer-ring-20mm.stl", io.BytesIO(spacer_ring(20.0)))])
            progress(f"published {len(CATALOGUE) + 1} demo designs; validation runs in the background")
            return len(CATALOGUE) + 1
    finally:
        hub.close()

