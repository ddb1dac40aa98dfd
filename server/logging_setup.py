"""Logs: readable lines by default, JSON lines with ``COSMOLOC_LOG_FORMAT=json``; a request id on every record.

Each request gets an id: the client's (or proxy's) ``X-Request-Id`` when it is sane (1 to 128 letters,
digits and ``-_.:``), else a new one; it is echoed in the response's ``X-Request-Id``. Background work
queued while serving a request (in-process threads and RQ workers) runs under the same id, so one
``grep`` finds a request and everything it set going.

A JSON line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id`` (or null)
and, for an exception, ``exception`` (the traceback as text).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import Flask, g, request

request_id: ContextVar[str | None] = ContextVar("cosmoloc_request_id", default=None)

HEADER = "X-Request-Id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every record carries the request id of the context it was made in (``-`` outside any request)."""
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id.get() or "-"
    return record


class RequestIdFilter(logging.Filter):
    """A record made before :func:`configure` ran gets the id here."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid in (None, "-") and record.name == "gunicorn.access":
            rid = _access_request_id(record.args)
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if rid in (None, "-") else rid,
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _access_request_id(atoms: Any) -> str | None:
    """The request id gunicorn's access record holds: the response's ``X-Request-Id`` header (its ``{...}o`` atom)."""
    if not isinstance(atoms, dict):
        return None
    value = dict.get(atoms, "{x-request-id}o")
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return sane(value) if isinstance(value, str) else None


#: gunicorn's default access line, then the request id (from the response's header)
ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(log_format: str) -> None:
    """The root logger writes to stderr in ``log_format`` (``text`` or ``json``), each record with its request id."""
    if logging.getLogRecordFactory() is not _record_with_request_id:
        logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "cosmoloc", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler.cosmoloc = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    handler.setFormatter(formatter(log_format))
    if root.level == logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def gunicorn_logconfig(log_format: str, access_log: bool = True) -> dict[str, Any]:
    """gunicorn's own loggers (its errors and the access log) in the same format, on stderr and stdout."""
    fmt: dict[str, Any] = ({"()": "server.logging_setup.JsonFormatter"} if log_format == "json"
                           else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"})
    loggers: dict[str, Any] = {"gunicorn.error": {"level": "INFO", "handlers": ["err"], "propagate": False}}
    if access_log:
        loggers["gunicorn.access"] = {"level": "INFO", "handlers": ["out"], "propagate": False}
    else:
        loggers["gunicorn.access"] = {"level": "CRITICAL", "handlers": [], "propagate": False}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"hub": fmt},
        "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "hub", "stream": "ext://sys.stderr"},
                     "out": {"class": "logging.StreamHandler", "formatter": "hub", "stream": "ext://sys.stdout"}},
        "loggers": loggers,
        "root": {"level": "INFO", "handlers": []},  # the hub's own handler is added by configure()
    }


def sane(given: str | None) -> str | None:
    return given if given is not None and _SANE.fullmatch(given) else None


def new_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def bound(rid: str | None) -> Iterator[None]:
    """Run the block under request id ``rid`` (background work carrying the id of the request that queued it)."""
    token = request_id.set(rid)
    try:
        yield
    finally:
        request_id.reset(token)


def init_app(app: Flask) -> None:
    """Give every request its id (call early: records of the edge's refusals carry it too)."""

    @app.before_request
    def _bind() -> None:
        rid = sane(request.headers.get(HEADER)) or new_id()
        g.request_id = rid
        g.request_id_token = request_id.set(rid)

    @app.after_request
    def _echo(response: Any) -> Any:
        if "request_id" in g:
            response.headers[HEADER] = g.request_id
        return response

    @app.teardown_request
    def _unbind(exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id.reset(token)
