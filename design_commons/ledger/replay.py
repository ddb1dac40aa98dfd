"""Replaying an exported chain: every hash checked, every receipt recomputed from the events alone.

:func:`recompute` needs nothing but the events (as ``GET /api/v1/ledger/events`` exports them) and the
rule files shipped with this package; it is what ``cosmoloc ledger verify`` runs, and anyone can run it.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from design_commons.ledger.chain import GENESIS, Problem, verify_chain
from design_commons.ledger.events import payee_of
from design_commons.ledger.rules import RuleBook, RuleError
from design_commons.ledger.split import Author, Claim, DesignNode, LineageError, Payee, contribution, reverse, split


@dataclass
class Receipt:
    """What one received order's contribution paid, and the events it rests on."""

    order_id: int
    rule_version: int
    rule_sha256: str
    currency: str
    price: int
    contribution: int
    claims: list[Claim]
    reversed: bool = False
    event_seqs: list[int] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "rule": {"version": self.rule_version, "sha256": self.rule_sha256},
                "currency": self.currency, "price": self.price, "contribution": self.contribution,
                "claims": [c.public() for c in self.claims], "reversed": self.reversed, "event_seqs": self.event_seqs}


@dataclass
class Replay:
    """The outcome of a replay: the receipts by order id, the problems found (empty: all is as recorded),
    the head hash and how many events were read."""

    receipts: dict[int, Receipt]
    problems: list[Problem]
    head: str
    count: int

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Order:
    design_id: int
    licence: str
    lab: Payee
    lab_kind: str
    price: int
    currency: str
    rule_version: int
    rule_sha256: str
    seqs: list[int]
    report_complete: bool = False
    received_seq: int | None = None
    recorded: list[Claim] = field(default_factory=list)


def _fraction(raw: Any) -> Fraction:
    if not isinstance(raw, str):
        raise ValueError(f"not a decimal string: {raw!r}")
    try:
        return Fraction(Decimal(raw))
    except InvalidOperation:
        raise ValueError(f"not a decimal string: {raw!r}") from None


def _ident(resource: Any, kind: str) -> int:
    if not isinstance(resource, dict) or resource.get("kind") != kind or not isinstance(resource.get("id"), int):
        raise ValueError(f"the resource is not a {kind}: {resource!r}")
    return int(resource["id"])


def _claim_of(event: Mapping[str, Any]) -> tuple[int, Claim, str]:
    detail, quantity = event.get("detail") or {}, event.get("quantity") or {}
    amount = quantity.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise ValueError("a claim without an integer amount")
    origin = detail.get("redirected_from")
    c = Claim(payee_of(event.get("receiver")), str(detail.get("role")), detail.get("design"), detail.get("generation"),
              amount, payee_of(origin) if origin else None)
    return _ident(event.get("resource"), "order"), c, str(quantity.get("currency"))


class _Replayer:
    def __init__(self, rules: RuleBook) -> None:
        self.rules = rules
        self.designs: dict[int, DesignNode] = {}
        self.orders: dict[int, _Order] = {}
        self.receipts: dict[int, Receipt] = {}
        self.problems: list[Problem] = []

    def apply(self, event: Mapping[str, Any]) -> None:
        kind, seq = event.get("kind"), event.get("seq")
        if not isinstance(seq, int):
            raise ValueError("an event without a seq")
        detail = event.get("detail") or {}
        if kind == "design_published":
            design_id = _ident(event.get("resource"), "design")
            authors = tuple(Author(a["id"], str(a.get("name") or ""), _fraction(a["share"])) for a in detail.get("authors", []))
            self.designs[design_id] = DesignNode(design_id, (), authors)
        elif kind == "design_remixed":
            design_id = _ident(event.get("resource"), "design")
            node = self.designs.get(design_id)
            if node is None:
                raise ValueError(f"design {design_id} is remixed before it is published")
            parents = tuple((int(p["id"]), None if p.get("weight") is None else _fraction(p["weight"]))
                            for p in detail.get("parents", []))
            for parent, _w in parents:
                if parent not in self.designs:
                    raise ValueError(f"design {design_id} cites design {parent}, which is not published")
            self.designs[design_id] = DesignNode(design_id, node.parents + parents, node.authors)
        elif kind == "quote_agreed":
            order_id = _ident(event.get("resource"), "order")
            quantity, rule = event.get("quantity") or {}, detail.get("rule") or {}
            self.orders[order_id] = _Order(int(detail["design"]), str(detail["licence"]), payee_of(event.get("provider")),
                                           str(detail["lab_kind"]), int(quantity["amount"]), str(quantity["currency"]),
                                           int(rule["version"]), str(rule["sha256"]), [seq])
        elif kind == "part_made":
            order = self._order(event)
            order.report_complete = bool(detail.get("report_complete"))
            order.seqs.append(seq)
        elif kind == "part_received":
            self._receive(event)
        elif kind in ("claim", "reversal"):
            order_id, c, currency = _claim_of(event)
            known = self.orders.get(order_id)
            if known is None or known.received_seq is None:
                raise ValueError(f"a {kind} of order {order_id}, which was not received")
            order = known
            if currency != order.currency:
                raise ValueError(f"a {kind} in {currency} of an order in {order.currency}")
            order.recorded.append(c)
            order.seqs.append(seq)
            receipt = self.receipts.get(order_id)
            if kind == "reversal" and receipt is not None:
                receipt.reversed = True

    def _order(self, event: Mapping[str, Any]) -> _Order:
        order_id = _ident(event.get("resource"), "order")
        order = self.orders.get(order_id)
        if order is None:
            raise ValueError(f"order {order_id} has no agreed quote before this event")
        return order

    def _receive(self, event: Mapping[str, Any]) -> None:
        order = self._order(event)
        order_id = _ident(event.get("resource"), "order")
        if order.received_seq is not None:
            raise ValueError(f"order {order_id} is received twice")
        order.received_seq = int(event["seq"])
        order.seqs.append(order.received_seq)
        redirects = {int(r["account"]): payee_of(r["to"]) for r in (event.get("detail") or {}).get("redirects", [])}
        rule_set = self.rules.get(order.rule_version, order.rule_sha256)
        amount = contribution(order.price, rule_set, order.licence, order.lab_kind)
        claims = split(amount, order.design_id, self.designs, rule_set, order.lab, order.report_complete, redirects)
        self.receipts[order_id] = Receipt(order_id, rule_set.version, rule_set.sha256, order.currency, order.price,
                                          amount, claims, event_seqs=order.seqs)

    def compare(self) -> None:
        """Each received order's recorded claims against the recomputed ones (and their reversal, if any)."""
        for order_id, receipt in sorted(self.receipts.items()):
            order = self.orders[order_id]
            expected = Counter(receipt.claims)
            if receipt.reversed:
                expected.update(reverse(receipt.claims))
            recorded = Counter(order.recorded)
            if recorded != expected:
                missing = sorted((expected - recorded).elements(), key=str)[:3]
                extra = sorted((recorded - expected).elements(), key=str)[:3]
                self.problems.append(Problem(order.received_seq, "receipt_differs",
                                             f"order {order_id}: recomputed claims not recorded {missing}, "
                                             f"recorded claims not recomputed {extra}"))


def recompute(events: Iterable[Mapping[str, Any]], rules: RuleBook | None = None, head: str | None = None) -> Replay:
    """Replay a whole exported chain (from its first event): check every hash and link, rebuild the lineage,
    recompute every receipt under the rule version its quote named, and compare with the recorded claims.
    ``head``: the hash the chain is known to end with (see :func:`verify_chain`)."""
    events = list(events)
    problems = verify_chain(events, head=head)
    replayer = _Replayer(rules or RuleBook.shipped())
    for event in events:
        try:
            replayer.apply(event)
        except (KeyError, TypeError, ValueError, RuleError, LineageError) as exc:
            code = "rule_unknown" if isinstance(exc, RuleError) else "bad_event"
            replayer.problems.append(Problem(event.get("seq"), code, str(exc)))
    replayer.compare()
    head = events[-1].get("hash", GENESIS) if events else GENESIS
    return Replay(replayer.receipts, problems + replayer.problems, head, len(events))
