"""What cheap input the hub refuses at its edge, before any route or database sees it.

API.md "Limits and refusals": a JSON body over ``json_body_bytes`` is a 413 before it is parsed;
JSON nested deeper than ``json_depth``, a string holding U+0000 (in JSON, a form field, a query
argument or an upload's file name), a number that is not finite or an integer outside the
database's range is a 422; an id outside the range in a path is a 404. Names (design titles,
lab, machine and account names, file names) hold no control characters at all.

The checks live here once; :func:`server.edge.init_app` wires them into every request.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from cosmoloc_contract.fields import MAX_DB_INT, DbId, Name, no_control  # noqa: F401 (re-exported)
from server.errors import invalid

#: No JSON integer beyond a signed 64-bit value reaches a field: SQLite cannot bind it at all.
MAX_JSON_INT = 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def refuse_nul(where: str, value: str) -> None:
    """422 ``invalid_text`` when ``value`` holds U+0000 (PostgreSQL cannot store it; nothing should)."""
    if "\x00" in value:
        raise invalid(f"{where} holds the character U+0000, which the hub does not accept.", {where: ["holds U+0000"]},
                      code="invalid_text")


def check_name(value: str, field: str, what: str) -> str:
    """``value`` as a one-line name, or 422 with ``field``'s error when it holds control characters."""
    try:
        return no_control(value)
    except ValueError:
        raise invalid(f"{what} holds a line break or another control character.",
                      {field: ["no control characters"]}) from None


def clean_filename(name: str) -> str:
    """An uploaded file's name without control characters or path, NFC-normalised; '' when nothing is left."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    return _CONTROL.sub("", name).strip()


def finite_float(raw: str) -> float:
    """``float(raw)`` for a form field or query argument; ValueError for NaN, infinities and non-numbers."""
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {raw!r}")
    return value


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a non-negative integer that fits an ``Integer`` column.

    Installed as the ``int`` converter, so ``/designs/99999999999999999999`` does not match (404)
    instead of reaching the database with a number it cannot bind (a 500 before).
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_DB_INT)
        super().__init__(map, *args, **kwargs)


def _refuse_constant(name: str) -> Any:
    raise invalid(f"The body holds {name}, which is not a number JSON allows.", {"body": ["numbers must be finite"]},
                  code="invalid_body")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to infinity
        _refuse_constant(text)
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_JSON_INT:
        raise invalid("The body holds an integer too large for the hub.", {"body": ["integer out of range"]},
                      code="invalid_body")
    return value


def check_tree(data: Any, max_depth: int) -> None:
    """Walk parsed JSON without recursion: 422 past ``max_depth`` levels or for a string holding U+0000."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list) and depth > max_depth:
            raise invalid(f"The body is nested deeper than {max_depth} levels.", {"body": ["nested too deep"]},
                          code="invalid_body")
        if isinstance(node, dict):
            for key, value in node.items():
                if "\x00" in key:
                    refuse_nul("A key of the body", key)
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str):
            refuse_nul("A string of the body", node)


class EdgeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with request bodies parsed strictly: finite numbers, bounded integers and depth, no U+0000.

    ``request.get_json`` (and so every reader of a body) goes through :meth:`loads`; the size was
    bounded before (``request.max_content_length``, set by the edge).
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:  # Flask's own callers (the signed session cookie) pass hooks: not a request body
            return super().loads(s, **kwargs)
        try:
            data = json.loads(s, parse_constant=_refuse_constant, parse_float=_finite, parse_int=_bounded_int)
        except RecursionError:  # deeper than the parser itself can go, far past the limit
            depth = self._app.config["COSMOLOC"].limit_int("json_depth")
            raise invalid(f"The body is nested deeper than {depth} levels.", {"body": ["nested too deep"]},
                          code="invalid_body") from None
        check_tree(data, self._app.config["COSMOLOC"].limit_int("json_depth"))
        return data


def check_query_and_path(path: str, args: Any) -> None:
    """422 for U+0000 in the path or any query argument (name or value)."""
    refuse_nul("The address", path)
    for key, value in args.items(multi=True):
        refuse_nul(f"The query argument {key[:40]!r}", key)
        refuse_nul(f"The query argument {key[:40]!r}", value)


def check_form(form: Any, files: Any) -> None:
    """422 for U+0000 in a form field (name or value) or in an upload's file name, and for a part whose name
    cannot be read (``name="a\\"``: the multipart parser gives it no name at all)."""
    if any(key is None for key in (*form.keys(), *files.keys())):
        raise invalid("A part of the form has no name the hub can read.", {"body": ["a form part without a name"]},
                      code="invalid_form")
    for key, value in form.items(multi=True):
        refuse_nul(f"The form field {key[:40]!r}", key)
        refuse_nul(f"The form field {key[:40]!r}", value)
    for key, upload in files.items(multi=True):
        refuse_nul(f"The form field {key[:40]!r}", key)
        refuse_nul("An upload's file name", upload.filename or "")

