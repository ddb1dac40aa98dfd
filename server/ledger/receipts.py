"""An order's value on the ledger: its agreed price, the part made, the receipt that splits its contribution
along the remix lineage, and the reversal of a refund. Services flush; the caller commits.

The split is ``design_commons.ledger.split`` on the lineage in the database (each design's parents, its
owner as its author), under the rule version named when the price was agreed, so ``cosmoloc ledger
verify`` recomputes exactly the claims written here from the exported events alone.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from design_commons.ledger import Author, Claim, DesignNode, Payee, Receipt, contribution, reverse, split
from design_commons.ledger import events as ev
from design_commons.ledger.events import payee_of
from design_commons.ledger.split import exact_shares
from server.designs import parents as design_parents
from server.designs.models import Design
from server.errors import ApiError
from server.ledger import earnings, service
from server.ledger.models import LedgerEvent


def lineage(session: Session, design_id: int, generations: int) -> dict[int, DesignNode]:
    """The designs an order of ``design_id`` pays, up to ``generations`` above it, as split() takes them."""
    nodes: dict[int, DesignNode] = {}
    frontier = [design_id]
    for _ in range(generations + 1):
        wanted = [d for d in frontier if d not in nodes]
        if not wanted:
            break
        frontier = []
        listed = design_parents.of(session, wanted)
        for design in session.scalars(select(Design).where(Design.id.in_(wanted))):
            parents = tuple(listed.get(design.id, ()))
            if not parents and design.derived_from_id is not None:  # a remix published before parents were listed
                parents = ((design.derived_from_id, None),)
            nodes[design.id] = DesignNode(design.id, parents, (Author(design.owner_id, design.owner.name),))
            frontier += [p for p, _w in parents]
    for node in list(nodes.values()):  # parents past the depth cap: known by id only, never paid
        for parent, _w in node.parents:
            nodes.setdefault(parent, DesignNode(parent))
    return nodes


def _events(session: Session, order_id: int, kind: str | None = None) -> list[LedgerEvent]:
    query = select(LedgerEvent).where(LedgerEvent.order_id == order_id)
    if kind is not None:
        query = query.where(LedgerEvent.kind == kind)
    return list(session.scalars(query.order_by(LedgerEvent.seq)))


def quote_agreed(session: Session, order_id: int, design: Design, lab: Any, price: int, currency: str) -> LedgerEvent:
    """The price a lab agreed for an order (minor units of ``currency``), under the rule version in force now."""
    if _events(session, order_id, "quote_agreed"):
        raise ApiError(409, "quote_already_agreed", "This order's price is already agreed.")
    rules = service.rules_in_force()
    payee = Payee("fablab", lab.id, lab.name)
    kind = str(getattr(lab.kind, "value", lab.kind))
    return service.append_event(session, ev.quote_agreed(order_id, design.id, design.license_id, payee, kind, price,
                                                         currency, rules.version, rules.sha256))


def part_made(session: Session, order_id: int, lab: Any, report_complete: bool) -> LedgerEvent:
    return service.append_event(session, ev.part_made(order_id, Payee("fablab", lab.id, lab.name), report_complete))


def part_received(session: Session, order_id: int, redirects: dict[int, Payee] | None = None) -> Receipt:
    """The citizen confirmed receipt: split the contribution and write one claim event per payee.

    ``redirects`` default to the standing value choices of the authors the receipt pays; they are written
    into the receipt event, so the replay applies the same ones.

    409 ``no_agreed_price`` when the order has no agreed quote, ``already_received`` the second time.
    """
    quotes = _events(session, order_id, "quote_agreed")
    if not quotes:
        raise ApiError(409, "no_agreed_price", "This order has no agreed price, so nothing is contributed.")
    if _events(session, order_id, "part_received"):
        raise ApiError(409, "already_received", "This order's receipt is already on the ledger.")
    quote = quotes[0]
    detail, quantity = quote.detail, quote.quantity or {}
    rules = service.rule_book().get(detail["rule"]["version"], detail["rule"]["sha256"])
    made = _events(session, order_id, "part_made")
    complete = bool(made and made[-1].detail.get("report_complete"))
    amount = contribution(int(quantity["amount"]), rules, detail["licence"], detail["lab_kind"])
    design_id = int(detail["design"])
    nodes = lineage(session, design_id, rules.max_generations)
    if redirects is None:
        redirects = earnings.redirects_for(session, (a.account_id for n in nodes.values() for a in n.authors))
    claims = split(amount, design_id, nodes, rules, payee_of(quote.provider), complete, redirects)
    currency = str(quantity["currency"])
    rows = [service.append_event(session, ev.part_received(order_id, redirects))]
    rows += [service.append_event(session, ev.claim(order_id, currency, c)) for c in claims]
    return Receipt(order_id, rules.version, rules.sha256, currency, int(quantity["amount"]), amount, claims,
                   event_seqs=[e.seq for e in quotes + made + rows])


def refund(session: Session, order_id: int, reason: str) -> list[Claim]:
    """Reverse every claim of a received order (a refund, a cancellation after receipt): it nets to zero."""
    if not _events(session, order_id, "part_received"):
        raise ApiError(409, "not_received", "Only a received order's claims can be reversed.")
    if _events(session, order_id, "reversal"):
        raise ApiError(409, "already_reversed", "This order's claims are already reversed.")
    claims = [_claim(row) for row in _events(session, order_id, "claim")]
    currency = str((_events(session, order_id, "quote_agreed")[0].quantity or {})["currency"])
    for c in reverse(claims):
        service.append_event(session, ev.claim(order_id, currency, c, reversal=reason))
    return reverse(claims)


def _claim(row: LedgerEvent) -> Claim:
    d = row.detail
    origin = d.get("redirected_from")
    return Claim(payee_of(row.receiver), d["role"], d.get("design"), d.get("generation"), int((row.quantity or {})["amount"]),
                 payee_of(origin) if origin else None)


# -- where orders already change: the ledger follows once the order has an agreed price ----------------------

def on_made(session: Session, order_id: int, lab: Any, report_complete: bool = False) -> None:
    """A lab completed an order's job. Until build reports exist, a report is never complete."""
    if _events(session, order_id, "quote_agreed") and not _events(session, order_id, "part_made"):
        part_made(session, order_id, lab, report_complete)


def on_received(session: Session, order_id: int) -> None:
    """The citizen confirmed receipt: the contribution of an order with an agreed price is split and claimed."""
    if _events(session, order_id, "quote_agreed") and not _events(session, order_id, "part_received"):
        part_received(session, order_id)


def value_receipt(session: Session, order_id: int) -> dict[str, Any] | None:
    """The order's value receipt as API.md describes it, from its events on the ledger (None: no receipt yet)."""
    rows = _events(session, order_id)
    quote = next((r for r in rows if r.kind == "quote_agreed"), None)
    if quote is None or not any(r.kind == "part_received" for r in rows):
        return None
    quantity, rule = quote.quantity or {}, quote.detail["rule"]
    claims = [_claim(r).public() for r in rows if r.kind == "claim"]
    reversals = [_claim(r).public() for r in rows if r.kind == "reversal"]
    return {"order_id": order_id, "rule": {"version": rule["version"], "sha256": rule["sha256"]},
            "currency": quantity["currency"], "price": quantity["amount"],
            "contribution": sum(int(r.quantity["amount"]) for r in rows if r.kind == "claim" and r.quantity),
            "claims": claims, "reversals": reversals, "event_hashes": [r.hash for r in rows]}


def can_view(order: Any, account: Any, receipt: dict[str, Any] | None) -> bool:
    """An order's value is shown to its citizen, the operator of its lab and anyone its receipt pays or redirects."""
    if order.citizen_id == account.id or (order.fablab is not None and order.fablab.operator_id == account.id):
        return True
    for c in (receipt or {}).get("claims", []):
        for who in (c["payee"], c["redirected_from"]):
            if who and who["kind"] == "account" and who["id"] == account.id:
                return True
    return False


def lineage_edges(session: Session, order_id: int) -> tuple[int, dict[tuple[int, int], Fraction]] | None:
    """The ordered design and what each design of its lineage passed to each parent, exactly, in minor units."""
    quotes = _events(session, order_id, "quote_agreed")
    if not quotes:
        return None
    detail, quantity = quotes[0].detail, quotes[0].quantity or {}
    rules = service.rule_book().get(detail["rule"]["version"], detail["rule"]["sha256"])
    amount = Fraction(contribution(int(quantity["amount"]), rules, detail["licence"], detail["lab_kind"]))
    made = _events(session, order_id, "part_made")
    if made and made[-1].detail.get("report_complete"):
        amount -= amount * rules.lab_share
    design_id = int(detail["design"])
    edges: dict[tuple[int, int], Fraction] = {}
    exact_shares(amount, design_id, lineage(session, design_id, rules.max_generations), rules, {}, edges)
    return design_id, edges
