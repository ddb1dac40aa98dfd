"""Notifications: an outbox written in the transaction of the change it tells of, delivered in the background
by email (SMTP) and by signed webhooks to the labs' own systems."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the notification API and pages, and start this process's delivery round."""
    from server.notify.config import NotifySettings
    from server.notify.pages import bp as pages
    from server.notify.routes import bp as api
    from server.notify.sender import start_rounds

    settings = app.config["COSMOLOC"]
    app.extensions["cosmoloc.notify"] = NotifySettings.from_env()
    app.register_blueprint(api)
    app.register_blueprint(pages)
    start_rounds(app.extensions["cosmoloc.hub"], app.extensions["cosmoloc.notify"], settings.sweeper_interval_s)
