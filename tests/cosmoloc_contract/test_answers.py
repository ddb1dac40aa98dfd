"""The check the ``app`` fixture runs on every answer finds an answer that drifted from its model."""
from __future__ import annotations

from flask import jsonify

from tests.cosmoloc_contract.answers import check

ACCOUNT = {"id": 3, "email": "ada@example.org", "name": "Ada"}


def _answer(app, body, status=200, mimetype="application/json"):
    with app.test_request_context("/api/v1/account"):
        response = jsonify(body)
        response.status_code = status
        response.mimetype = mimetype
        return check(app, response)


def test_an_answer_that_fits_its_model_passes(app):
    assert _answer(app, ACCOUNT) is None


def test_a_field_the_model_does_not_know_is_found(app):
    assert "is not in the model" in _answer(app, {**ACCOUNT, "nickname": "A"})


def test_a_missing_field_or_a_wrong_type_is_found(app):
    assert "does not read as Account" in _answer(app, {"id": 3, "email": "ada@example.org"})
    assert "does not write it back the same" in _answer(app, {**ACCOUNT, "id": "3"})


def test_an_undocumented_status_or_a_plain_error_is_found(app):
    assert "status not in the document" in _answer(app, ACCOUNT, status=202)
    assert "not problem+json" in _answer(app, {"error": "no"}, status=401)
    problem = {"type": "x", "title": "Conflict", "status": 409, "detail": "no", "code": "conflict"}
    assert "status not in the document" in _answer(app, problem, status=409, mimetype="application/problem+json")
