"""Every answer of the hub checked against the contract, as the tests' flows produce them.

:func:`watch` hooks an app (the ``app`` fixture does it): each ``/api/v1`` response is held against
the operation its view declares. A 2xx JSON body must read into the declared model and write back
as the very same JSON (a field the model does not know, a wrong type, a missing field all show);
a 4xx must be problem+json with a status the document lists for the operation.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from pydantic import BaseModel, ValidationError

from cosmoloc_contract.common import Problem
from server.openapi import declared, refusals

FAILURES = "tests.contract_failures"
SEEN = "tests.contract_seen"


def check(app: Flask, response: Response) -> str | None:
    """What is wrong with ``response`` to the current request by the contract, or None."""
    rule = request.url_rule
    if rule is None or not rule.rule.startswith("/api/v1/"):
        return None
    where = f"{request.method} {rule.rule} -> {response.status_code}"
    op = declared(app.view_functions[rule.endpoint])
    if op is None:
        return f"{where}: the view declares no operation"
    status = response.status_code
    if status >= 400:
        if response.mimetype != "application/problem+json":
            return f"{where}: an error that is not problem+json ({response.mimetype})"
        try:
            Problem.model_validate(response.get_json())
        except ValidationError as exc:
            return f"{where}: not a Problem: {exc}"
        if status < 500 and status not in refusals(op, bool(rule.arguments)):
            return f"{where}: status not in the document"
        return None
    if status not in op.answers:
        return f"{where}: status not in the document"
    answer = op.answers[status]
    app.extensions.setdefault(SEEN, set()).add((request.method, rule.rule, status))
    if not (isinstance(answer, type) and issubclass(answer, BaseModel)):
        return None
    if response.mimetype != "application/json":
        return f"{where}: {response.mimetype}, not application/json"
    body = response.get_json()
    try:
        again = answer.model_validate(body).to_json()  # type: ignore[attr-defined]
    except ValidationError as exc:
        return f"{where}: does not read as {answer.__name__}: {exc}"
    if again != body:
        return f"{where}: {answer.__name__} does not write it back the same: {_difference(body, again)}"
    return None


def _difference(sent: Any, again: Any, path: str = "") -> str:
    if isinstance(sent, dict) and isinstance(again, dict):
        for key in sent.keys() | again.keys():
            if key not in again:
                return f"{path}.{key} is not in the model"
            if key not in sent:
                return f"{path}.{key} is added by the model"
            if sent[key] != again[key]:
                return _difference(sent[key], again[key], f"{path}.{key}")
    if isinstance(sent, list) and isinstance(again, list) and len(sent) == len(again):
        for i, (a, b) in enumerate(zip(sent, again, strict=True)):
            if a != b:
                return _difference(a, b, f"{path}[{i}]")
    return f"{path}: {sent!r} became {again!r}"


def watch(app: Flask) -> None:
    """Check every answer of ``app``; what fails is kept in ``app.extensions[FAILURES]``."""
    failures: list[str] = app.extensions.setdefault(FAILURES, [])

    @app.after_request
    def _check(response: Response) -> Response:
        problem = check(app, response)
        if problem is not None:
            failures.append(problem)
        return response
