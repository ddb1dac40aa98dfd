"""Unbound extension objects, initialised by ``create_app``.

``limiter`` counts attempts per client address and per account (flask-limiter). Its storage is
the process's memory on the embedded default and Redis when ``COSMOLOC_REDIS_URL`` is set, so
every gunicorn worker and every hub process behind one Redis shares the same counts.
"""
from __future__ import annotations

import ipaddress

from flask import request
from flask_limiter import Limiter


def client_address() -> str:
    """The client's address as limits count it: the socket peer, or what ``COSMOLOC_TRUSTED_PROXIES`` say.

    ``request.remote_addr`` is the peer unless ``create_app`` wrapped the app in ProxyFix for
    trusted proxies, so a stranger cannot pick their own address with ``X-Forwarded-For``. An
    IPv6 peer counts as its /64: one host is usually given a whole /64, and could otherwise
    take a fresh address for every attempt.
    """
    return limit_key(request.remote_addr)


def limit_key(address: str | None) -> str:
    """``address`` as attempts are counted: IPv4 as it is, IPv6 as its /64 network."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


limiter = Limiter(client_address, headers_enabled=True, retry_after="delta-seconds",
                  strategy="moving-window", key_prefix="cosmoloc")
