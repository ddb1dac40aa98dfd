"""Node tokens: each acts for one fablab, and only on ``/api/v1/node/...``."""
from __future__ import annotations

from typing import Any, TypeVar

from flask import g

from server.edge import bearer_token, db
from server.errors import ApiError

T = TypeVar("T")


def _node_token() -> str:
    token = bearer_token()
    if token is None:
        raise ApiError(401, "authentication_required", "Send the lab's node token: Authorization: Bearer <token>.")
    return token


def _known(lab: T | None) -> T:
    if lab is None:
        raise ApiError(401, "invalid_token", "The node token is not valid (it may have been rotated).")
    return lab


def current_lab() -> Any:
    if "node_lab" not in g:
        from server.fablabs import service

        g.node_lab = _known(service.lab_for_node_token(db(), _node_token()))
    return g.node_lab


def beating_lab() -> Any:
    """The lab of the node token with its machines, as a heartbeat reads them (no ORM objects)."""
    from server.fablabs import heartbeats

    return _known(heartbeats.node_lab(db(), _node_token()))
