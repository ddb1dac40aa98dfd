"""Splitting an order's contribution along the remix lineage, in integer minor units.

The lineage is a DAG of designs, each with its parents (optionally weighted) and its authors (with
shares summing to 1). The lab's share comes off first (when its build report is complete); the rest
enters at the ordered design (generation 0). Each design keeps ``1 - pass_up`` of what reaches it, for
its authors, and passes ``pass_up`` on to its parents, in declared weights or equal shares; a design
without parents keeps all; at generation ``max_generations`` the pass-up share goes to the commons
fund, as does the kept share of a design none of whose authors can be paid. A diamond (one design
reached by two paths) adds up. Every share is computed exactly (fractions), then rounded to minor
units by largest remainder, ties by payee (accounts by id, then labs, then the fund), so the claims
always sum to the contribution and none is negative.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import floor

from design_commons.ledger.rules import RuleSet

PAYEE_ORDER = {"account": 0, "fablab": 1, "fund": 2}
ROLE_ORDER = {"lab": 0, "designer": 1, "ancestor": 2, "fund": 3}


class LineageError(ValueError):
    """A lineage that cannot be split: a cycle, a parent that is not in it, weights or shares that do not add up."""


@dataclass(frozen=True, order=True)
class Payee:
    """Who a claim pays: an account, a fablab or the commons fund (``id`` None)."""

    kind: str
    id: int | None
    name: str = field(default="", compare=False)

    @property
    def sort_key(self) -> tuple[int, int]:
        return (PAYEE_ORDER[self.kind], self.id or 0)

    def public(self) -> dict[str, object]:
        return {"kind": self.kind, "id": self.id, "name": self.name}


FUND = Payee("fund", None, "Commons fund")


@dataclass(frozen=True)
class Author:
    """An author of a design, its ``share`` of the design's kept share; ``payable`` False: the share goes to the fund."""

    account_id: int
    name: str = ""
    share: Fraction = Fraction(1)
    payable: bool = True


@dataclass(frozen=True)
class DesignNode:
    """One design of a lineage: its parents as ``(design id, weight or None)`` and its authors."""

    id: int
    parents: tuple[tuple[int, Fraction | None], ...] = ()
    authors: tuple[Author, ...] = ()


@dataclass(frozen=True)
class Claim:
    """One share of a contribution: ``amount`` minor units owed to ``payee`` in ``role``.

    ``design_id`` is the design whose share it is (None for the lab), ``generation`` its remix depth from
    the ordered design (the nearest, when a diamond reaches it twice); ``redirected_from`` the payee who
    chose to send the share here. A reversal has a negative amount.
    """

    payee: Payee
    role: str
    design_id: int | None
    generation: int | None
    amount: int
    redirected_from: Payee | None = None

    def public(self) -> dict[str, object]:
        return {"payee": self.payee.public(), "role": self.role, "design_id": self.design_id,
                "generation": self.generation, "amount": self.amount,
                "redirected_from": self.redirected_from.public() if self.redirected_from else None}


def contribution(price: int, rules: RuleSet, licence: str, lab_kind: str) -> int:
    """C = round(price x percent / 100), halves rounded up, for a price in minor units."""
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        raise ValueError("a price is a non-negative integer in minor units")
    exact = Fraction(price) * rules.percent(licence, lab_kind) / 100
    return floor(exact + Fraction(1, 2))


def check_acyclic(lineage: Mapping[int, DesignNode], start: int) -> None:
    """Raise LineageError if the designs reachable from ``start`` contain a cycle or name a design not in ``lineage``."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    stack: list[tuple[int, int]] = [(start, 0)]
    while stack:
        design, index = stack.pop()
        node = lineage.get(design)
        if node is None:
            raise LineageError(f"design {design} is not in the lineage")
        if index == 0:
            state[design] = 1
        if index < len(node.parents):
            stack.append((design, index + 1))
            parent = node.parents[index][0]
            if state.get(parent) == 1:
                raise LineageError(f"design {parent} is its own ancestor")
            if parent not in state:
                stack.append((parent, 0))
        else:
            state[design] = 2


def _weights(node: DesignNode) -> list[tuple[int, Fraction]]:
    ids = [p for p, _w in node.parents]
    if len(set(ids)) != len(ids):
        raise LineageError(f"design {node.id} names a parent twice")
    declared = [w for _p, w in node.parents if w is not None]
    if len(declared) < len(ids):
        return [(p, Fraction(1, len(ids))) for p in ids]
    total = sum(declared, Fraction(0))
    if any(w <= 0 for w in declared) or total <= 0:
        raise LineageError(f"design {node.id} has a parent weight that is not positive")
    return [(p, w / total) for p, w in zip(ids, declared, strict=True)]


def _author_shares(node: DesignNode) -> list[tuple[Author, Fraction]]:
    if not node.authors:
        return []
    total = sum((a.share for a in node.authors), Fraction(0))
    if total != 1 or any(a.share < 0 for a in node.authors):
        raise LineageError(f"the author shares of design {node.id} do not sum to 1")
    return [(a, a.share) for a in node.authors if a.share > 0]


def exact_shares(total: Fraction, design_id: int, lineage: Mapping[int, DesignNode], rules: RuleSet,
                 redirects: Mapping[int, Payee], edges: dict[tuple[int, int], Fraction] | None = None,
                 ) -> dict[tuple[Payee, str, int | None, Payee | None], tuple[Fraction, int]]:
    """Exact fractions of ``total`` entering at ``design_id``, by (payee, role, design, redirected from),
    with the nearest generation of each. ``edges``, when given, receives what each design passed to each
    parent (summed over the paths of a diamond)."""
    check_acyclic(lineage, design_id)
    shares: dict[tuple[Payee, str, int | None, Payee | None], tuple[Fraction, int]] = {}

    def add(payee: Payee, role: str, design: int | None, generation: int, amount: Fraction) -> None:
        origin = None
        target = redirects.get(payee.id) if payee.kind == "account" and payee.id is not None else None
        if target is not None and target != payee:
            payee, origin = target, payee
        key = (payee, role, design, origin)
        before, gen = shares.get(key, (Fraction(0), generation))
        shares[key] = (before + amount, min(gen, generation))

    flows: dict[int, dict[int, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    flows[0][design_id] = total
    for generation in range(rules.max_generations + 1):
        for design, amount in sorted(flows.pop(generation, {}).items()):
            node = lineage[design]
            kept = amount
            if node.parents:
                passed = amount * rules.pass_up
                kept = amount - passed
                if generation == rules.max_generations:
                    add(FUND, "fund", design, generation, passed)
                else:
                    for parent, weight in _weights(node):
                        flows[generation + 1][parent] += passed * weight
                        if edges is not None:
                            edges[(design, parent)] = edges.get((design, parent), Fraction(0)) + passed * weight
            role = "designer" if generation == 0 else "ancestor"
            authors = _author_shares(node)
            if not authors:
                add(FUND, "fund", design, generation, kept)
            for author, share in authors:
                if author.payable:
                    add(Payee("account", author.account_id, author.name), role, design, generation, kept * share)
                else:
                    add(FUND, "fund", design, generation, kept * share)
    return shares


def largest_remainder(exact: Mapping[tuple[Payee, str, int | None, Payee | None], tuple[Fraction, int]],
                      total: int) -> list[Claim]:
    """Round exact shares summing to ``total`` to integers summing to ``total``: floors first, then one unit each
    to the largest remainders, ties by payee, role, design. Zero claims are left out."""
    floors = {key: (floor(value), value - floor(value), gen) for key, (value, gen) in exact.items()}
    left = total - sum(f for f, _r, _g in floors.values())
    order = sorted(floors, key=lambda k: (-floors[k][1], k[0].sort_key, ROLE_ORDER[k[1]], k[2] or 0,
                                          k[3].sort_key if k[3] else (-1, 0)))
    if not 0 <= left <= len(order):
        raise AssertionError("exact shares do not sum to the total")
    bonus = set(order[:left])
    claims = [Claim(payee, role, design, None if role == "lab" else floors[key][2],
                    floors[key][0] + (1 if key in bonus else 0), origin)
              for key in floors for payee, role, design, origin in [key]]
    return sorted((c for c in claims if c.amount), key=claim_order)


def claim_order(c: Claim) -> tuple[int, int, int, tuple[int, int]]:
    return (ROLE_ORDER[c.role], c.generation or 0, c.design_id or 0, c.payee.sort_key)


def split(contribution: int, design_id: int, lineage: Mapping[int, DesignNode], rules: RuleSet,
          lab: Payee | None = None, report_complete: bool = False,
          redirects: Mapping[int, Payee] | None = None) -> list[Claim]:
    """Split ``contribution`` (minor units) of an order of ``design_id``: the lab's share (``lab``, when
    ``report_complete``), then the lineage. ``redirects`` maps an account id to the payee its shares go to
    instead (applied once: a redirect is not followed further). The claims sum to ``contribution``.
    """
    if not isinstance(contribution, int) or isinstance(contribution, bool) or contribution < 0:
        raise ValueError("a contribution is a non-negative integer in minor units")
    redirects = redirects or {}
    rest = Fraction(contribution)
    exact: dict[tuple[Payee, str, int | None, Payee | None], tuple[Fraction, int]] = {}
    if lab is not None and report_complete:
        lab_amount = rest * rules.lab_share
        exact[(lab, "lab", None, None)] = (lab_amount, 0)
        rest -= lab_amount
    for key, (value, gen) in exact_shares(rest, design_id, lineage, rules, redirects).items():
        before, before_gen = exact.get(key, (Fraction(0), gen))
        exact[key] = (before + value, min(gen, before_gen))
    return largest_remainder(exact, contribution)


def reverse(claims: list[Claim]) -> list[Claim]:
    """The claims that undo ``claims`` (a refund or a cancellation after receipt): same payees, negated amounts."""
    return [Claim(c.payee, c.role, c.design_id, c.generation, -c.amount, c.redirected_from) for c in claims]
