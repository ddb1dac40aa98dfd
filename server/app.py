"""Application factory: assembles the hub from its parts and does no work of its own."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from server.config import Settings
from server.hub import Hub


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the hub. ``settings`` defaults to the environment; ``overrides`` replace single settings."""
    if settings is None:
        settings = Settings.from_env(**overrides)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=2 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=settings.limit_int("session_max_age_s"),  # the cookie; the hub ends the session itself
        JSON_SORT_KEYS=False,
        COSMOLOC=settings,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    hub = Hub(settings)
    app.extensions["cosmoloc.hub"] = hub
    app.extensions["cosmoloc.db"] = hub.db
    app.extensions["cosmoloc.store"] = hub.store

    if settings.trusted_proxies > 0:
        # Only behind proxies the deployment names: otherwise X-Forwarded-For is the client's to forge.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]

    from server import edge, errors, ratelimits

    errors.init_app(app)
    ratelimits.init_app(app)
    edge.init_app(app)

    from server.accounts.routes import bp as accounts_api
    from server.designs.okh_routes import bp as designs_standards_api
    from server.designs.routes import bp as designs_api
    from server.evidence.routes import bp as evidence_api
    from server.evidence.routes import node_bp as evidence_node_api
    from server.fablabs.routes import bp as fablabs_api
    from server.node.routes import bp as node_api
    from server.openapi import bp as openapi_bp
    from server.orders.routes import bp as orders_api
    from server.quotes.pages import bp as methods_pages
    from server.quotes.routes import bp as quotes_api

    app.register_blueprint(accounts_api)
    app.register_blueprint(designs_api)
    app.register_blueprint(designs_standards_api)
    app.register_blueprint(fablabs_api)
    app.register_blueprint(node_api)
    app.register_blueprint(orders_api)
    app.register_blueprint(evidence_api)
    app.register_blueprint(evidence_node_api)
    app.register_blueprint(quotes_api)
    app.register_blueprint(methods_pages)
    app.register_blueprint(openapi_bp)

    from server import ledger

    ledger.init_app(app)

    from server import web

    web.init_app(app)  # web pages, CSRF on their forms, the site's error pages
    if not settings.redis_url and not settings.eager_tasks:
        hub.tasks.enqueue("resume_pending")
    if settings.sweeper_interval_s > 0:
        hub.start_sweeper(settings.sweeper_interval_s)
    return app
