"""The cosmoloc fablab agent: runs at a lab, reports its machines to the hub and makes the jobs it accepts.

It talks to the hub only over the HTTP contract of API.md (it never imports ``server``) and to
machines through drivers (:mod:`fablab_nodes.drivers`). It always connects out; no port is opened.
"""
from __future__ import annotations

__version__ = "0.1.0"
AGENT_NAME = f"cosmoloc-agent/{__version__}"
