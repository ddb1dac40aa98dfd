"""Rate cards and quotes: what each eligible lab would charge, when it would be ready, how far it travels.

Eligibility is matching's (server.orders.matching) applied to an order that is never written: the
same labs an order placed now could be offered to. For each, the machine that can make the part and
is ready first (its line on the card preferred, so a priced machine is quoted before an unpriced one)
gives the price (design_commons.pricing), the ready-by (design_commons.readyby) and the estimate
(design_commons.estimates); transport is design_commons.transport's for the chosen delivery mode.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from design_commons import estimates, pricing, readyby, transport
from server.accounts.models import Account
from server.designs.models import Design, DesignFile, ValidationStatus
from server.errors import ApiError, invalid, not_found
from server.fablabs import spatial
from server.fablabs.models import Fablab
from server.fablabs.service import require_operator, resolve_location
from server.orders import matching
from server.orders.models import Order
from server.orders.service import choose_file
from server.quotes.models import RateCardVersion
from server.quotes.schemas import QuoteArgs
from server.quotes.slices import sliced_estimate

REFERENCE = "sea_shenzhen"  # the reference each quote is set beside (DESIGN.md's first)
SORT_POOL = 200  # cheapest and soonest rank at most this many of the nearest eligible labs (more if paged past)


def current_card(session: Session, lab_id: int) -> RateCardVersion | None:
    return session.scalar(select(RateCardVersion).where(RateCardVersion.fablab_id == lab_id)
                          .order_by(RateCardVersion.version.desc()).limit(1))


def cards_of(session: Session, lab_ids: list[int]) -> dict[int, RateCardVersion]:
    """The card in force of each of these labs that has one."""
    if not lab_ids:
        return {}
    latest = (select(RateCardVersion.fablab_id, func.max(RateCardVersion.version).label("v"))
              .where(RateCardVersion.fablab_id.in_(lab_ids)).group_by(RateCardVersion.fablab_id).subquery())
    rows = session.scalars(select(RateCardVersion).join(
        latest, (RateCardVersion.fablab_id == latest.c.fablab_id) & (RateCardVersion.version == latest.c.v)))
    return {row.fablab_id: row for row in rows}


def publish_card(session: Session, operator: Account, lab_id: int, body: Any, now: dt.datetime) -> RateCardVersion:
    """Store the operator's card as the lab's next version (the earlier ones stay as they were).

    The lab's row is locked first, so two cards published at once get versions one after the other."""
    lab = session.scalar(select(Fablab).where(Fablab.id == lab_id).with_for_update())
    if lab is None:
        raise not_found("fablab")
    require_operator(lab, operator)
    try:
        card = pricing.parse_card(body)
    except pricing.RateCardError as e:
        raise invalid(f"The rate card cannot be used: {e}", {e.field or "body": [str(e)]}, code=e.code) from None
    last = session.scalar(select(func.max(RateCardVersion.version)).where(RateCardVersion.fablab_id == lab_id)) or 0
    row = RateCardVersion(fablab_id=lab_id, version=last + 1, card=pricing.card_to_json(card),
                          created_by_id=operator.id, created_at=now)
    session.add(row)
    session.flush()
    return row


def card_for_reading(session: Session, lab_id: int) -> RateCardVersion:
    if session.get(Fablab, lab_id) is None:
        raise not_found("fablab")
    row = current_card(session, lab_id)
    if row is None:
        raise ApiError(404, "no_rates", "This lab publishes no rate card: its quotes say price on request.")
    return row


@dataclass
class Quote:
    candidate: matching.Candidate
    kind: str
    machine_key: str
    estimate: estimates.Estimate
    price: pricing.Price | None
    ready: readyby.ReadyBy | None  # None: not within ten years of the lab's opening hours
    transport: dict[str, Any]

    def sort_key(self, sort: str, currency_rank: dict[str, int]) -> tuple[Any, ...]:
        near = (round(self.candidate.distance_km, 6), self.candidate.fablab_id)
        if sort == "cheapest":
            if self.price is None:
                return (1, 0, 0, *near)
            return (0, currency_rank[self.price.currency], self.price.total, *near)
        if sort == "soonest":
            if self.ready is None:
                return (1, 0, 0, *near)
            return (0, self.ready.p50, self.ready.p90, *near)
        return near

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {"fablab": {"id": c.fablab_id, "name": c.fablab_name, "kind": self.kind},
                "machine_key": self.machine_key, "distance_km": round(c.distance_km, 3),
                "price": self.price.to_json() if self.price else None,
                "estimate": self.estimate.to_json(), "ready_by": self.ready.to_json() if self.ready else None,
                "transport": self.transport}


def _part(session: Session, design_id: int, args: QuoteArgs) -> tuple[Design, DesignFile]:
    design = session.get(Design, design_id)
    if design is None:
        raise not_found("design")
    row = choose_file(session, design, args.file_id)
    if row.validation_status in (ValidationStatus.FAILED, ValidationStatus.PENDING):
        raise ApiError(409 if row.validation_status == ValidationStatus.PENDING else 422,
                       "file_not_checked" if row.validation_status == ValidationStatus.PENDING else "file_failed",
                       "Quotes need a file that passed validation; this one is "
                       f"{row.validation_status.value}.")
    return design, row


def _estimate(session: Session, row: DesignFile, process: str, material: str,
              thickness_mm: float | None) -> estimates.Estimate:
    """The slicer's figures for FDM when the file has a reference slice for the material, else the geometry
    formula's; an FDM estimate from geometry says why no slice was used."""
    metrics = (row.report or {}).get("metrics") or {}
    try:
        if process == "fdm":
            sliced, why_not = sliced_estimate(session, row, material)
            if sliced is not None:
                return sliced
            geometry = estimates.mesh(metrics, process, material)
            return dataclasses.replace(geometry, assumptions={**geometry.assumptions, "slicer": why_not})
        if process in estimates.MESH_PROCESSES:
            return estimates.mesh(metrics, process, material)
        if process in estimates.CUT_PROCESSES:
            return estimates.drawing(metrics, process, material, thickness_mm)
    except estimates.EstimateError as e:
        raise invalid(f"This file cannot be estimated: {e}", code=e.code) from None
    # milling and the like: no formula yet, so no figure is made up
    return estimates.Estimate(process, material, 0.0, 0.0, 0.0, assumptions={"estimate": f"none for {process} yet"})


def _reference_km(latitude: float, longitude: float) -> float:
    _, lat, lon = transport.ORIGINS[REFERENCE]
    return float(spatial.distances_km(latitude, longitude, np.array([lat]), np.array([lon]))[0])


def _queue_words(queued_s: float | None) -> str:
    if queued_s is None:
        return "queued work not reported by the lab's agent: counted as none"
    return f"{queued_s:.0f} s of work waiting on the machine, as its agent reported (less the time since)"


def _quote(session: Session, c: matching.Candidate, lab: matching.LabFacts, order: Order, row: DesignFile,
           requirements: dict[str, Any], card: RateCardVersion | None, args: QuoteArgs, now: dt.datetime,
           cache: dict[str, estimates.Estimate], reference_km: float) -> Quote | None:
    machines = matching.usable_machines(order, requirements, lab)
    if not machines:
        return None  # its machines changed since it was judged: it is not quoted on this page
    parsed = pricing.parse_card(card.card) if card is not None else None
    hours = None if parsed is None or parsed.unattended else parsed.opening_hours
    for m in machines:
        if m.process not in cache:
            cache[m.process] = _estimate(session, row, m.process, order.material, order.thickness_mm)
    queued = {m.key: m.queued_s(now) for m in machines}
    lanes = [(m.key, queued[m.key] or 0.0, cache[m.process].machine_time_s * args.quantity, readyby.DEFAULT_SPREAD)
             for m in machines]
    priced = [ln for ln in lanes if parsed is not None and parsed.line_for(ln[0], order.material) is not None]
    ready: readyby.ReadyBy | None
    try:
        ready = readyby.earliest(now, priced or lanes, hours)
        key = ready.machine_key
    except readyby.ReadyByError:
        ready, key = None, (priced or lanes)[0][0]  # more work than ten years of the lab's openings hold
    machine = next(m for m in machines if m.key == key)
    estimate = cache[machine.process]
    estimate = dataclasses.replace(estimate, assumptions={
        **estimate.assumptions, "queue": _queue_words(queued[key]),
        "opening_hours": ("no rate card: every hour counted" if parsed is None else "unattended: every hour counted"
                          if hours is None else f"the lab's, {hours.timezone}")})
    price = None
    if parsed is not None and card is not None:
        line = parsed.line_for(machine.key, order.material)
        if line is not None:
            price = pricing.price(parsed, line, estimate, args.quantity, card.version)
    shipped_g = estimate.mass_g * args.quantity
    leg = transport.last_leg(args.delivery_mode, shipped_g, c.distance_km)
    ref = transport.reference(REFERENCE, shipped_g, reference_km)
    return Quote(c, lab.kind.value, machine.key, estimate, price, ready, transport.statement(leg, ref))


@dataclass
class QuotePage:
    items: list[Quote]
    total: int  # eligible labs found; all of them when ``total_exact``, else at least this many
    total_exact: bool


def quotes(session: Session, design_id: int, args: QuoteArgs, stale_after_s: int, now: dt.datetime) -> QuotePage:
    """One page of quotes of the eligible labs, sorted by ``args.sort``, and how many there are."""
    design, row = _part(session, design_id, args)
    return quote_page(session, design.license_id, row, args, stale_after_s, now)


def quote_page(session: Session, licence_id: str, row: DesignFile, args: QuoteArgs, stale_after_s: int,
               now: dt.datetime) -> QuotePage:
    """:func:`quotes` for a file already chosen (its report and requirements are what is read).

    Labs are judged nearest first until the page is filled (``nearest``) or until :data:`SORT_POOL`
    eligible labs are found (``cheapest``, ``soonest``: the pool is what they rank), never every lab
    within the maximum distance unless that is where the search ends; ``total_exact`` says whether it did."""
    requirements = row.requirements or {}
    processes = requirements.get("processes") or []
    if args.process and args.process not in processes:
        raise invalid(f"This file cannot be made by {args.process}; it can be made by {', '.join(processes)}.",
                      {"process": ["not possible for this file"]}, code="process_not_possible")
    lat, lon = args.point()
    where = resolve_location(lat, lon, args.address)
    order = Order(material=args.material, process=args.process, thickness_mm=args.thickness_mm,
                  quantity=args.quantity, delivery_latitude=where.latitude, delivery_longitude=where.longitude,
                  max_distance_km=args.max_distance_km)
    start, end = (args.page - 1) * args.per_page, args.page * args.per_page
    # nearest first needs only the labs up to this page; a price or a ready time could be anywhere, so those
    # sorts rank the nearest SORT_POOL eligible labs (or as many as the page reaches)
    want = end if args.sort == "nearest" else max(SORT_POOL, end)
    eligible, complete = matching.nearest_eligible(session, order, requirements, now, stale_after_s, licence_id, want)
    eligible.sort(key=lambda c: (round(c.distance_km, 6), c.fablab_id))
    chosen = eligible[start:end] if args.sort == "nearest" else eligible[:want]
    ids = [c.fablab_id for c in chosen]
    labs, cards = matching.load_labs(session, ids), cards_of(session, ids)
    cache: dict[str, estimates.Estimate] = {}  # one estimate per process: the part is the same at every lab
    ref_km = _reference_km(where.latitude, where.longitude) if chosen else 0.0
    made = (_quote(session, c, labs[c.fablab_id], order, row, requirements, cards.get(c.fablab_id), args, now, cache, ref_km)
            for c in chosen if c.fablab_id in labs)
    found = [q for q in made if q is not None]
    if args.sort != "nearest":
        currencies = [q.price.currency for q in found if q.price is not None]
        rank = {cur: i for i, cur in enumerate(sorted(set(currencies), key=lambda x: (-currencies.count(x), x)))}
        found.sort(key=lambda q: q.sort_key(args.sort, rank))
        found = found[start:end]
    return QuotePage(found, len(eligible), complete)
