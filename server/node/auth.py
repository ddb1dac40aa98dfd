"""Node tokens: each acts for one fablab, and only on ``/api/v1/node/...``."""
from __future__ import annotations

from typing import Any

from flask import g

from server.edge import bearer_token, db
from server.errors import ApiError


def current_lab() -> Any:
    if "node_lab" not in g:
        from server.fablabs import service

        token = bearer_token()
        if token is None:
            raise ApiError(401, "authentication_required", "Send the lab's node token: Authorization: Bearer <token>.")
        lab = service.lab_for_node_token(db(), token)
        if lab is None:
            raise ApiError(401, "invalid_token", "The node token is not valid (it may have been rotated).")
        g.node_lab = lab
    return g.node_lab
