"""Unbound extension objects, initialised by ``create_app``.

``limiter`` counts attempts per client address and per account (flask-limiter). Its storage is
the process's memory on the embedded default and Redis when ``COSMOLOC_REDIS_URL`` is set, so
every gunicorn worker and every hub process behind one Redis shares the same counts.
"""
from __future__ import annotations

from flask import request
from flask_limiter import Limiter


def client_address() -> str:
    """The client's address: the socket peer, or what ``COSMOLOC_TRUSTED_PROXIES`` proxies say it is.

    ``request.remote_addr`` is the peer unless ``create_app`` wrapped the app in ProxyFix for
    trusted proxies, so a stranger cannot pick their own address with ``X-Forwarded-For``.
    """
    return request.remote_addr or "unknown"


limiter = Limiter(client_address, headers_enabled=True, retry_after="delta-seconds",
                  strategy="moving-window", key_prefix="cosmoloc")
