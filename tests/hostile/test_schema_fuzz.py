"""Schemathesis against a live hub, every operation of its own OpenAPI document, on SQLite and PostgreSQL.

Requests are generated from the document (bounded: ``EXAMPLES`` per operation, derandomized, so a run
is the same every time) and sent with a personal token, or the node token on ``/api/v1/node/...``,
to a hub that holds a published design, a lab and an order, so ids in paths sometimes name something.
Each answer must be no 5xx, a status the operation documents, the documented media type and a body
that fits its schema.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.server.hubproc import Client, publish_cube, register_lab

schemathesis = pytest.importorskip("schemathesis", reason="the schema fuzz test needs schemathesis (the test extra)")
hypothesis = pytest.importorskip("hypothesis")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
pytestmark = pytest.mark.slow


def _world(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """A designer's cube, a lab (node token) and a citizen's order on the hub; the two bearer headers."""
    designer, operator = Client(url, "fuzz-designer"), Client(url, "fuzz-operator")
    design = publish_cube(designer)
    _lab_id, node = register_lab(operator, "Fuzz lab", 41.39, 2.17)
    beat = node.post(url + "/api/v1/node/heartbeat", json={"agent": "fuzz/1", "machines": [
        {"key": "p1", "state": "idle"}]}, timeout=30)
    assert beat.status_code == 200, beat.text
    placed = designer.post("/orders", json={"design_id": design["id"], "material": "PLA",
                                            "delivery": {"latitude": 41.40, "longitude": 2.17}})
    assert placed.status_code == 201, placed.text
    return dict(designer.session.headers), dict(node.headers)


def _fuzz(operation: Any, url: str, headers: dict[str, str], answered: Counter[int]) -> Any:
    """A Hypothesis test sending ``EXAMPLES`` generated requests to ``operation``, each answer checked."""

    @hypothesis.settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck),
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
    @hypothesis.given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=30)
        answered[response.status_code // 100] += 1

    return run


def test_every_operation_answers_as_its_document_says(start_hub: Any) -> None:
    hub = start_hub()
    personal, node = _world(hub.url)
    schema = schemathesis.openapi.from_url(hub.url + "/api/v1/openapi.json")
    failures: list[str] = []
    operations = 0
    answered: Counter[int] = Counter()  # answers by class (2 for 2xx, ...)
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = {"Authorization": (node if operation.path.startswith("/api/v1/node/") else personal)["Authorization"]}

        run = _fuzz(operation, hub.url, headers, answered)
        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # each operation's failures are reported, then the next runs
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    # every operation but the one serving the document itself, which schemathesis does not test
    assert operations >= 38
    assert not failures, "\n\n".join(failures)
    print(f"schema fuzz: {operations} operations, {sum(answered.values())} requests, by class {dict(answered)}")
    assert answered[2] > operations and answered[4] > operations and answered[5] == 0, answered
