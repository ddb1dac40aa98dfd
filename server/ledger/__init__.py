"""The commons ledger on the hub: the append-only, hash-chained event log, its export and its pages."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the ledger's API (``/api/v1/ledger/...``, ``/api/v1/orders/{id}/value``) and its pages
    (``/ledger``, ``/ledger/methods``)."""
    from server.ledger import value_pages  # noqa: F401  (adds the receipt and earnings pages to the blueprint)
    from server.ledger.pages import bp as pages
    from server.ledger.routes import bp as api
    from server.ledger.routes import orders_bp as order_values

    app.register_blueprint(api)
    app.register_blueprint(order_values)
    app.register_blueprint(pages)
