"""A ready agent config file (the TOML of DESIGN.md) for a lab, to download or to run the demo with.

The node token is never written into it: the file names a ``token_file`` beside it.
"""
from __future__ import annotations

from typing import Any

import tomli_w

from server.fablabs.models import Fablab


def render(lab: Fablab, hub_url: str, driver: str = "simulated", speed: float = 60.0,
           accept: str = "auto", state_dir: str = "agent-state", token_file: str = "node-token") -> str:
    """The TOML text for ``lab``'s agent, one ``[[machines]]`` table per machine (sorted by key)."""
    machines: list[dict[str, Any]] = []
    for m in sorted(lab.machines, key=lambda m: m.key):
        entry: dict[str, Any] = {"key": m.key, "name": m.name, "process": m.process,
                                 "build_volume_mm": [m.build_x_mm, m.build_y_mm, m.build_z_mm],
                                 "materials": list(m.materials or []), "driver": driver}
        if driver == "simulated":
            entry["speed"] = speed
        machines.append(entry)
    doc = {"hub": hub_url, "token_file": token_file, "state_dir": state_dir, "poll_interval_s": 10,
           "accept": accept, "machines": machines}
    # the name goes into a comment: a line break kept from an older record must not start a TOML line
    name = " ".join(lab.name.split()) if lab.name else ""
    header = (f"# cosmoloc agent for {''.join(c for c in name if c.isprintable())} (lab {lab.id}).\n"
              f"# Save the node token in '{token_file}' beside this file (or set COSMOLOC_NODE_TOKEN),\n"
              f"# then run: cosmoloc agent --config this-file.toml\n")
    return header + tomli_w.dumps(doc)
