"""/metrics: what an operator's Prometheus scrapes (SQLite and PostgreSQL), and the Grafana dashboard over it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server.opsapp import hub_app, local_redis, unreachable_postgres
from tests.server.orderflow import BARCELONA, Lab, order, publish

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "cosmoloc.json"


def scrape(client: Any, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", **kw)
    assert r.status_code == 200, r.data[:500]
    assert r.headers["Content-Type"].startswith("text/plain")
    return parse(r.get_data(as_text=True))


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as ``(name, sorted labels) -> value``."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_url_rule_not_raw_path(client: Any, make_user: Any) -> None:
    before = scrape(client)
    for design_id in (101, 102, 103):  # three raw paths, one rule
        assert client.get(f"/api/v1/designs/{design_id}").status_code == 404
    client.get("/no/such/page/ever")
    after = scrape(client)
    rule = "/api/v1/designs/<int:design_id>"
    assert value(after, "cosmoloc_http_requests_total", method="GET", route=rule, status="404") \
        - value(before, "cosmoloc_http_requests_total", method="GET", route=rule, status="404") == 3
    assert value(after, "cosmoloc_http_requests_total", method="GET", route="unmatched", status="404") \
        - value(before, "cosmoloc_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(after, "cosmoloc_http_request_duration_seconds_count", method="GET", route=rule) \
        - value(before, "cosmoloc_http_request_duration_seconds_count", method="GET", route=rule) == 3
    routes = {dict(labels).get("route") for (name, labels) in after if name == "cosmoloc_http_requests_total"}
    assert not any(r and r.startswith("/api/v1/designs/1") for r in routes)  # no raw path became a label


def test_orders_offers_labs_and_validations_are_reported(client: Any, make_user: Any) -> None:
    before = scrape(client)
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)  # validated at once (eager tasks): one upload validation, passed
    first = Lab(client, operator, "Near", BARCELONA[0], BARCELONA[1] + 0.01)
    second = Lab(client, operator, "Next", BARCELONA[0], BARCELONA[1] + 0.05)
    assert order(citizen, design).status_code == 201
    job = (first.jobs("offered") or second.jobs("offered"))[0]
    declining = first if first.jobs("offered") else second
    assert declining.post(job["id"], "decline", reason="out of PLA").status_code == 200
    other = second if declining is first else first
    offered = other.jobs("offered")[0]
    assert other.post(offered["id"], "accept", machine_key="p1").status_code == 200
    after = scrape(client)
    assert value(after, "cosmoloc_validations_total", source="upload", outcome="passed") \
        - value(before, "cosmoloc_validations_total", source="upload", outcome="passed") == 1
    assert value(after, "cosmoloc_validation_duration_seconds_count", source="upload") \
        - value(before, "cosmoloc_validation_duration_seconds_count", source="upload") == 1
    assert value(after, "cosmoloc_orders", status="accepted") == 1
    assert value(after, "cosmoloc_orders", status="offered") == 0
    assert value(after, "cosmoloc_offers_total", outcome="sent") == 2
    assert value(after, "cosmoloc_offers_total", outcome="declined") == 1
    assert value(after, "cosmoloc_offers_total", outcome="accepted") == 1
    assert value(after, "cosmoloc_offers_total", outcome="expired") == 0
    assert value(after, "cosmoloc_labs_online") == 2 and value(after, "cosmoloc_database_metrics_up") == 1
    # the citizen cancels the accepted order: the offer was accepted all the same, and a counter never goes down
    assert citizen.post(f"/api/v1/orders/{offered['order_id']}/cancel").status_code == 200
    cancelled = scrape(client)
    assert value(cancelled, "cosmoloc_offers_total", outcome="accepted") == 1
    assert value(cancelled, "cosmoloc_orders", status="cancelled") == 1
    assert ("cosmoloc_queue_depth", ()) in after and ("cosmoloc_sandbox_refusals_total", ()) in after


def test_metrics_token_is_asked_for_when_set(database_url: str, tmp_path: Path) -> None:
    with hub_app(tmp_path, database_url, metrics_token="s3cret-scrape") as app:
        client = app.test_client()
        r = client.get("/metrics")
        assert r.status_code == 401 and r.get_json()["code"] == "invalid_token"
        assert r.headers["Content-Type"] == "application/problem+json"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert ("cosmoloc_labs_online", ()) in scrape(client, headers={"Authorization": "Bearer s3cret-scrape"})


def dashboard_metrics() -> set[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    assert len(board["panels"]) >= 10 and exprs
    return {m for expr in exprs for m in re.findall(r"\bcosmoloc_[a-z_]+", expr)}


def test_every_metric_of_the_dashboard_is_served(client: Any, make_user: Any, database_url: str,
                                                   tmp_path: Path) -> None:
    publish(make_user("designer"))  # one validation, so its labelled series exist
    names = {name for name, _ in scrape(client)}
    # the RQ queue's depth is read from Redis: a hub with one answers it
    with hub_app(tmp_path / "rq", database_url, redis_url=local_redis()) as rq_app:
        names |= {name for name, _ in scrape(rq_app.test_client())}
    wanted = dashboard_metrics()
    assert {"cosmoloc_http_requests_total", "cosmoloc_orders", "cosmoloc_offers_total", "cosmoloc_labs_online",
            "cosmoloc_queue_depth", "cosmoloc_sandbox_refusals_total", "cosmoloc_validations_total"} <= wanted
    assert wanted - names == set()


def test_a_refused_sandbox_is_counted(client: Any, tmp_path: Path) -> None:
    from design_commons.limits import Limits
    from design_commons.sandbox import SandboxSlots
    from server.designs.service import check_unstored
    from server.errors import ApiError

    part = tmp_path / "cube.stl"
    part.write_bytes(b"solid x\nendsolid x\n")
    slots = SandboxSlots(1)
    before = value(scrape(client), "cosmoloc_sandbox_refusals_total")
    with slots.hold(1), pytest.raises(ApiError) as refused:  # the only sandbox is taken
        check_unstored(part, "cube.stl", "mm", Limits(), slots, wait_s=0.01)
    assert refused.value.status == 503 and refused.value.code == "busy"
    assert value(scrape(client), "cosmoloc_sandbox_refusals_total") - before == 1


def test_a_scrape_without_the_database_still_answers(tmp_path: Path) -> None:
    with hub_app(tmp_path, unreachable_postgres()) as app:
        samples = scrape(app.test_client())
    assert value(samples, "cosmoloc_database_metrics_up") == 0
    assert ("cosmoloc_queue_depth", ()) in samples and ("cosmoloc_orders", (("status", "matching"),)) not in samples
