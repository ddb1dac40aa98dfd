"""Demo labs around the world, each with a simulated agent process, so demo orders really get made.

On the first run the labs are registered through the real service and each agent's config and
node token are written under ``<data dir>/demo-agents/<lab id>/``; later runs reuse them (a
missing token file gets a fresh token).
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from sqlalchemy import select

from cosmoloc_contract.fablabs import FablabIn, MachineIn
from server.accounts import service as accounts
from server.accounts.models import Account
from server.config import Settings
from server.fablabs import agent_config
from server.fablabs import service as fablabs
from server.fablabs.models import Fablab, LabKind
from server.hub import Hub

OPERATOR_EMAIL = "operator@cosmoloc.example"
OPERATOR_PASSWORD = "demo-lathe-kettle"

class MachineSpec(TypedDict):
    process: str
    build_volume_mm: tuple[float, float, float]
    materials: list[str]


class LabSpec(TypedDict):
    name: str
    kind: LabKind
    at: tuple[float, float]
    machines: dict[str, MachineSpec]


PRINTER: MachineSpec = {"process": "fdm", "build_volume_mm": (250, 210, 220), "materials": ["PLA", "PETG"]}
BIG_PRINTER: MachineSpec = {"process": "fdm", "build_volume_mm": (350, 350, 400), "materials": ["PLA", "PETG", "TPU"]}
RESIN: MachineSpec = {"process": "sla", "build_volume_mm": (145, 145, 175), "materials": ["Resin"]}
LASER: MachineSpec = {"process": "laser_cutting", "build_volume_mm": (600, 400, 8), "materials": ["Plywood", "Acrylic", "MDF"]}
ROUTER: MachineSpec = {"process": "cnc_routing", "build_volume_mm": (1200, 800, 25), "materials": ["Plywood", "MDF"]}

LABS: list[LabSpec] = [
    {"name": "Poblenou Fab Lab", "kind": LabKind.FABLAB, "at": (41.3970, 2.1970), "machines": {"mk4-1": PRINTER, "laser": LASER}},
    {"name": "Gràcia Makers Coop", "kind": LabKind.COOPERATIVE, "at": (41.4036, 2.1560),
     "machines": {"mk4": PRINTER, "sla": RESIN}},
    {"name": "Sants Print Shop", "kind": LabKind.COMPANY, "at": (41.3755, 2.1330), "machines": {"xl": BIG_PRINTER}},
    {"name": "Amsterdam Makerspace", "kind": LabKind.MAKERSPACE, "at": (52.3676, 4.9041),
     "machines": {"p1": PRINTER, "cnc": ROUTER}},
    {"name": "Nairobi Fab Lab", "kind": LabKind.FABLAB, "at": (-1.2921, 36.8219), "machines": {"p1": PRINTER, "laser": LASER}},
    {"name": "São Paulo Hacklab", "kind": LabKind.NONPROFIT, "at": (-23.5505, -46.6333), "machines": {"p1": PRINTER}},
]


def _machines(spec: dict[str, MachineSpec]) -> list[MachineIn]:
    return [MachineIn(key=key, name=f"{m['process']} {key}".replace("_", " ").title(), process=m["process"],
                      build_volume_mm=m["build_volume_mm"], materials=list(m["materials"])) for key, m in spec.items()]


def seed_labs(settings: Settings, hub_url: str, progress: Callable[[str], None] = lambda _m: None) -> list[Path]:
    """Register the demo labs once; return the agent config files, one per lab."""
    hub = Hub(settings)
    root = settings.data_dir / "demo-agents"
    configs: list[Path] = []
    try:
        with hub.db.session() as session:
            operator = session.scalar(select(Account).where(Account.email == OPERATOR_EMAIL))
            if operator is None:
                operator = accounts.create_account(session, OPERATOR_EMAIL, OPERATOR_PASSWORD, "Demo Operator")
            for spec in LABS:
                lab = session.scalar(select(Fablab).where(Fablab.name == spec["name"], Fablab.operator_id == operator.id))
                token = None
                if lab is None:
                    lat, lon = spec["at"]
                    lab, token = fablabs.register(session, operator, FablabIn(
                        name=spec["name"], kind=spec["kind"], latitude=lat, longitude=lon,
                        machines=_machines(spec["machines"])), settings.limit_int("machines_per_lab"))
                    progress(f"registered demo lab {lab.name}")
                folder = root / str(lab.id)
                folder.mkdir(parents=True, exist_ok=True)
                token_file = folder / "node-token"
                if token is None and not token_file.exists():
                    token = fablabs.new_node_token(lab)
                if token is not None:
                    token_file.write_text(token)
                    token_file.chmod(0o600)
                config = folder / "lab.toml"
                config.write_text(agent_config.render(lab, hub_url, speed=600.0))
                configs.append(config)
    finally:
        hub.close()
    return configs


def start_agents(configs: list[Path]) -> list[subprocess.Popen[bytes]]:
    """Start one agent process per config; they are stopped when this process exits."""
    procs = []
    for config in configs:
        log = open(config.parent / "agent.log", "ab")  # noqa: SIM115 (the process owns it until exit)
        procs.append(subprocess.Popen([sys.executable, "-m", "server.cli", "agent", "--config", str(config)],
                                      stdout=log, stderr=subprocess.STDOUT, env={**os.environ}))

    def stop() -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    atexit.register(stop)
    return procs
