"""The hub as an ASGI application, for gunicorn's asyncio worker: slow clients cost a coroutine, not a thread.

The Flask app is WSGI and runs on a pool of threads (a2wsgi). In front of it, :class:`BufferedBody`
reads each request's whole body in the event loop first (in memory up to 64 KiB, then in a
temporary file), so a client that sends one byte every few seconds waits in the loop beside
hundreds of others while every thread keeps serving. Headers are parsed by gunicorn in the loop as
well. A body over the upload limit is refused with 413 as soon as that is known; a body that does
not arrive in time with 408. What a slow stranger holds is a socket and a few kilobytes of the
event loop's memory; past the process's open-file limit, a buffering proxy in front is the answer
(README, "Security").
"""
from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SPOOL_BYTES = 64 * 1024  # bodies larger than this wait in a temporary file, not in memory
REPLAY_CHUNK = 256 * 1024


class BufferedBody:
    """ASGI middleware: hand ``app`` a request only once its body is complete.

    ``max_body_bytes``: larger bodies get 413 (by Content-Length before reading, else once
    exceeded). A body must arrive within ``timeout_s`` plus one second per ``min_rate_bps``
    bytes received so far (what a client announces buys it no time), and no gap between two
    chunks may exceed ``timeout_s``; otherwise 408. The app then sees the body with an exact Content-Length
    (chunked framing removed), read from memory or the spool file without waiting on the network.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, timeout_s: float = 60.0,
                 min_rate_bps: int = 16 * 1024) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.min_rate_bps = min_rate_bps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = _content_length(scope)
        if announced is not None and announced > self.max_body_bytes:
            await _problem(send, 413, "too_large", "The request body is larger than the hub accepts.")
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed below)
        try:
            size = 0
            more = True
            while more:
                deadline = started + self.timeout_s + size / self.min_rate_bps
                wait = min(self.timeout_s, deadline - loop.time())
                try:
                    message = await asyncio.wait_for(receive(), timeout=max(wait, 0.0))
                except TimeoutError:
                    await _problem(send, 408, "request_timeout", "The request body did not arrive in time.")
                    return
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    await _problem(send, 413, "too_large", "The request body is larger than the hub accepts.")
                    return
                spool.write(chunk)
                more = bool(message.get("more_body", False))
            spool.seek(0)
            headers = [(k, v) for k, v in scope.get("headers", [])
                       if k not in (b"content-length", b"transfer-encoding")]
            if size or announced is not None or scope.get("method") not in ("GET", "HEAD"):
                headers.append((b"content-length", str(size).encode()))
            left = size

            async def replay() -> Message:
                nonlocal left
                if left <= 0:
                    # The body is all given: what is left to wait for is the client going away.
                    return await receive()
                data = spool.read(min(REPLAY_CHUNK, left))
                left -= len(data)
                return {"type": "http.request", "body": data, "more_body": left > 0}

            await self.app({**scope, "headers": headers}, replay, send)
        finally:
            spool.close()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _problem(send: Send, status: int, code: str, detail: str) -> None:
    """Answer before the Flask app is involved, in the hub's one error shape (problem+json)."""
    from server.errors import PROBLEM_TYPE, TITLES

    body = json.dumps({"type": PROBLEM_TYPE + code, "title": TITLES.get(status, "Error"), "status": status,
                       "detail": detail, "code": code}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def create_asgi_app(threads: int = 16) -> ASGIApp:
    """The whole hub for an ASGI server: the Flask app on ``threads`` threads behind the body buffer."""
    from a2wsgi import WSGIMiddleware

    from server.app import create_app

    flask_app = create_app()
    settings = flask_app.config["COSMOLOC"]
    wsgi: ASGIApp = WSGIMiddleware(flask_app, workers=threads)  # type: ignore[arg-type,assignment]
    # Multipart framing adds a little to the largest upload; Flask's own limit applies exactly after this.
    limit = settings.max_upload_mb * 1024 * 1024 + 1024 * 1024
    return BufferedBody(wsgi, limit, timeout_s=float(settings.limit_int("body_timeout_s")),
                        min_rate_bps=settings.limit_int("body_min_rate_bps"))
