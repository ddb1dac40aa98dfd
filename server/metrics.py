"""Prometheus metrics at ``/metrics`` (prometheus-client), summed over every worker of ``cosmoloc serve``.

Two kinds of numbers:

- what a process sees happen (requests by route and their latency, validations by outcome and
  duration, sandbox refusals, the in-process queue's depth) lives in prometheus-client metrics.
  Under gunicorn each worker writes them to files in ``PROMETHEUS_MULTIPROC_DIR`` (the data dir's
  ``prometheus/``, emptied when ``cosmoloc serve`` starts; a worker that exits is marked dead: see
  :mod:`server.multiproc`) and
  a scrape answered by any worker adds up all of them (prometheus-client's multiprocess mode).
- what the database knows (orders by status, offers sent/accepted/declined/expired, labs online,
  the RQ queue's depth) is read when scraped, so every hub process answers the same, whichever
  handled the work.

Routes are labelled by their URL rule (``/api/v1/designs/<int:design_id>``), never the raw path, so
the number of series stays bounded whatever strangers ask for; a path no rule matches is ``unmatched``.
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from server.multiproc import MULTIPROC_ENV

log = logging.getLogger(__name__)

REQUESTS = Counter("cosmoloc_http_requests", "HTTP requests answered, by method, URL rule and status",
                   ["method", "route", "status"])
LATENCY = Histogram("cosmoloc_http_request_duration_seconds", "Time to answer a request, by method and URL rule",
                    ["method", "route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
VALIDATIONS = Counter("cosmoloc_validations", "Design files checked, by source (upload, check) and outcome",
                      ["source", "outcome"])
VALIDATION_SECONDS = Histogram("cosmoloc_validation_duration_seconds", "Time one file's check took, by source",
                               ["source"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
SANDBOX_REFUSALS = Counter("cosmoloc_sandbox_refusals", "POST /validate answered 503 busy: every sandbox was taken")
QUEUE_DEPTH = Gauge("cosmoloc_queue_depth", "Background tasks waiting in the hub processes' own queues",
                    multiprocess_mode="livesum")

#: offers (jobs) by what became of them: an accepted offer stays accepted whatever the job did next
OFFER_OUTCOMES: dict[str, tuple[str, ...]] = {
    "accepted": ("accepted", "in_production", "completed", "failed"),
    "declined": ("declined",),
    "expired": ("expired",),
}


def observe_validation(source: str, outcome: str | None, seconds: float) -> None:
    """One file checked: ``source`` is ``upload`` (a stored file) or ``check`` (POST /validate)."""
    if outcome is None:  # the file had a verdict already: nothing was checked
        return
    VALIDATIONS.labels(source, outcome).inc()
    VALIDATION_SECONDS.labels(source).observe(seconds)


class HubCollector(Collector):
    """What the database (and Redis) know, read at each scrape."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        try:
            families = list(self._families())
        except Exception as exc:  # a database or Redis that is away makes a scrape without these, never a 500
            log.warning("metrics from the database are unavailable: %s", type(exc).__name__)
            families = []
        yield from families
        yield GaugeMetricFamily("cosmoloc_database_metrics_up",
                                "1 when this scrape could read the database's numbers, else 0", value=1 if families else 0)

    def _families(self) -> Iterator[Any]:
        from sqlalchemy import func, select

        from server.db import utcnow
        from server.fablabs.models import Fablab
        from server.orders.models import Job, JobState, Order, OrderEvent, OrderStatus

        seen_after = utcnow() - dt.timedelta(seconds=self.hub.settings.node_stale_after_s)
        with self.hub.db.session() as session:
            orders = dict(session.execute(select(Order.status, func.count()).group_by(Order.status)).all())
            jobs = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
            # a job withdrawn after it was accepted (the citizen cancelled) still counts as accepted: the
            # order's accepted event came after the job was made (an order has one live job at a time)
            accepted_then_withdrawn = session.scalar(
                select(func.count()).select_from(Job).where(
                    Job.state == JobState.WITHDRAWN,
                    select(OrderEvent.id).where(OrderEvent.order_id == Job.order_id, OrderEvent.kind == "accepted",
                                                OrderEvent.at >= Job.created_at).exists())) or 0
            online = session.scalar(select(func.count()).select_from(Fablab).where(
                Fablab.last_seen_at >= seen_after)) or 0
        by_status = GaugeMetricFamily("cosmoloc_orders", "Orders by status", labels=["status"])
        for status in OrderStatus:
            by_status.add_metric([status.value], orders.get(status, 0))
        yield by_status
        states = {str(getattr(k, "value", k)): v for k, v in jobs.items()}
        offers = CounterMetricFamily("cosmoloc_offers", "Offers made to labs, by what became of them",
                                     labels=["outcome"])
        offers.add_metric(["sent"], sum(states.values()))
        for outcome, among in OFFER_OUTCOMES.items():
            extra = accepted_then_withdrawn if outcome == "accepted" else 0
            offers.add_metric([outcome], sum(states.get(s, 0) for s in among) + extra)
        yield offers
        yield GaugeMetricFamily("cosmoloc_labs_online", "Labs heard from within COSMOLOC_NODE_STALE_AFTER_S",
                                value=online)
        if self.hub.settings.redis_url:
            yield GaugeMetricFamily("cosmoloc_rq_queue_depth", "Background tasks waiting on the RQ queue (all hubs)",
                                    value=self._rq_depth())

    def _rq_depth(self) -> int:
        from redis import Redis

        from server.health import REDIS_TIMEOUT_S

        client = Redis.from_url(self.hub.settings.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                socket_connect_timeout=REDIS_TIMEOUT_S)
        try:
            return int(client.llen("rq:queue:cosmoloc"))
        finally:
            client.close()


def render(hub: Any) -> bytes:
    """The exposition text: this process's (or every worker's) metrics, then the database's."""
    process = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(process)
        head = generate_latest(process)
    else:
        head = generate_latest(REGISTRY)
    shared = CollectorRegistry()
    shared.register(HubCollector(hub))
    return head + generate_latest(shared)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    from server.errors import problem

    token = current_app.config["COSMOLOC"].metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = problem(401, "invalid_token", "The metrics need the token of COSMOLOC_METRICS_TOKEN.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    body = render(current_app.extensions["cosmoloc.hub"])
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Count and time every request by its URL rule (call first: requests the edge refuses count too).

    ``/metrics`` itself is the blueprint ``bp``, registered with the others.
    """
    @app.before_request
    def _started() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            method = request.method if request.method in _METHODS else "other"
            REQUESTS.labels(method, rule, str(response.status_code)).inc()
            LATENCY.labels(method, rule).observe(time.perf_counter() - started)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
