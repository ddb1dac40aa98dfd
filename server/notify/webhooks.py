"""Webhook deliveries: Standard Webhooks signatures, and no request to addresses inside the network (SSRF).

The host is resolved at send time and every address it has must be public (``ipaddress``'s
``is_global``, which excludes loopback, private, link-local, shared, documentation and reserved
ranges); the connection then goes to the checked address itself, the name kept for the ``Host``
header and TLS, so a name that resolves differently a moment later (DNS rebinding) cannot slip in.
``COSMOLOC_WEBHOOKS_ALLOW_PRIVATE=1`` lifts the address check (a lab network, tests).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 64 * 1024  # of the answer, read and kept for the log (the first 500 characters)
MAX_ENDPOINTS_PER_LAB = 10
MAX_URL_CHARS = 2000


class RefusedUrl(ValueError):
    """The URL may not receive webhooks (its scheme, its form, or where its host points)."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: "v1," + base64 HMAC-SHA256 of "id.timestamp.body" (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def check_form(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL a webhook may be registered for."""
    if len(url) > MAX_URL_CHARS:
        raise RefusedUrl(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise RefusedUrl("the URL is malformed") from None
    if parts.scheme not in ("http", "https") or not host:
        raise RefusedUrl("a webhook URL is http:// or https:// with a host")
    if parts.username or parts.password:
        raise RefusedUrl("a webhook URL carries no user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedUrl("the URL's port is malformed") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, path


def resolve_public(host: str, port: int, allow_private: bool) -> str:
    """One address of ``host`` to connect to, after checking every address it resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RefusedUrl(f"the host {host!r} does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise RefusedUrl(f"the host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if not ip.is_global or ip.is_multicast:
                raise RefusedUrl(f"{host!r} points to {ip}, an address inside a network (loopback, private, "
                                 "link-local or reserved)")
    return addresses[0]


def check_url(url: str, allow_private: bool) -> None:
    """Refuse (``RefusedUrl``) a URL that may not receive webhooks now; used when it is registered."""
    _, host, port, _ = check_form(url)
    resolve_public(host, port, allow_private)


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: str
    error: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, secret: str, msg_id: str, timestamp: int, body: bytes, allow_private: bool) -> Answer:
    """POST one signed delivery; never raises for the receiver's failures (they are the answer)."""
    try:
        scheme, host, port, path = check_form(url)
        address = resolve_public(host, port, allow_private)
    except RefusedUrl as exc:
        return Answer(None, "", f"refused: {exc}")
    headers = {"content-type": "application/json", "user-agent": "cosmoloc-webhooks",
               "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": signature(secret, msg_id, timestamp, body),
               "host": host if port in (80, 443) else f"{host}:{port}"}
    timeout = urllib3.Timeout(connect=TIMEOUT_S, read=TIMEOUT_S)
    if scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, server_hostname=host, assert_hostname=host,
            cert_reqs="CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen("POST", path, body=body, headers=headers, redirect=False,
                                preload_content=False, assert_same_host=False)
        try:
            answer = response.read(MAX_RESPONSE_BYTES, decode_content=False)
        finally:
            response.release_conn()
        return Answer(response.status, answer.decode("utf-8", "replace")[:500], "")
    except urllib3.exceptions.HTTPError as exc:
        return Answer(None, "", f"{type(exc).__name__}: {exc}"[:500])
    finally:
        pool.close()
