"""The shapes of the ledger's events, built in one place for the hub, the verifier and the tests.

Each builder returns an unsealed event (no ``seq``, ``at``, ``prev``, ``hash``: the hub's append adds
them). Agents are ``{"kind": "account"|"fablab"|"fund", "id", "name"}`` with public names only; a
citizen is never named (``{"kind": "citizen"}``). Amounts are ``{"amount": minor units, "currency"}``,
shares and weights decimal strings.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from design_commons.ledger.split import Claim, Payee

CITIZEN = {"kind": "citizen"}


def decimal_string(value: Fraction) -> str:
    """An exact decimal string of a fraction whose denominator divides a power of ten (else 20 places)."""
    if value.denominator == 1:
        return str(value.numerator)
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    places = max(twos, fives) if den == 1 else 20
    scaled = value * 10**places
    digits = str(abs(round(scaled))).rjust(places + 1, "0")
    text = f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")
    return f"-{text}" if value < 0 else text


def account(account_id: int, name: str) -> dict[str, Any]:
    return {"kind": "account", "id": account_id, "name": name}


def fablab(fablab_id: int, name: str) -> dict[str, Any]:
    return {"kind": "fablab", "id": fablab_id, "name": name}


def _design(design_id: int, version: int | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {"kind": "design", "id": design_id}
    if version is not None:
        resource["version"] = version
    return resource


def _order(order_id: int) -> dict[str, Any]:
    return {"kind": "order", "id": order_id}


def design_published(design_id: int, title: str, licence: str, owner_id: int, owner_name: str,
                     authors: list[tuple[int, str, Fraction]] | None = None) -> dict[str, Any]:
    """A design and its first version; ``authors`` (id, name, share) default to the owner alone."""
    authors = authors or [(owner_id, owner_name, Fraction(1))]
    return {"kind": "design_published", "provider": account(owner_id, owner_name), "receiver": None,
            "resource": _design(design_id, 1), "quantity": None,
            "detail": {"title": title, "licence": licence,
                       "authors": [{"id": i, "name": n, "share": decimal_string(s)} for i, n, s in authors]}}


def design_versioned(design_id: int, version: int, owner_id: int, owner_name: str) -> dict[str, Any]:
    return {"kind": "design_versioned", "provider": account(owner_id, owner_name), "receiver": None,
            "resource": _design(design_id, version), "quantity": None, "detail": {}}


def design_remixed(design_id: int, parents: list[tuple[int, Fraction | None]], owner_id: int,
                   owner_name: str) -> dict[str, Any]:
    """The design cites the designs it was derived from, with declared weights or None (equal shares)."""
    return {"kind": "design_remixed", "provider": account(owner_id, owner_name), "receiver": None,
            "resource": _design(design_id), "quantity": None,
            "detail": {"parents": [{"id": p, "weight": None if w is None else decimal_string(w)} for p, w in parents]}}


def quote_agreed(order_id: int, design_id: int, licence: str, lab: Payee, lab_kind: str, price: int,
                 currency: str, rule_version: int, rule_sha256: str) -> dict[str, Any]:
    return {"kind": "quote_agreed", "provider": lab.public(), "receiver": CITIZEN, "resource": _order(order_id),
            "quantity": {"amount": price, "currency": currency},
            "detail": {"design": design_id, "licence": licence, "lab_kind": lab_kind,
                       "rule": {"version": rule_version, "sha256": rule_sha256}}}


def part_made(order_id: int, lab: Payee, report_complete: bool) -> dict[str, Any]:
    return {"kind": "part_made", "provider": lab.public(), "receiver": None, "resource": _order(order_id),
            "quantity": None, "detail": {"report_complete": report_complete}}


def part_received(order_id: int, redirects: dict[int, Payee] | None = None) -> dict[str, Any]:
    """Receipt confirmed; ``redirects``: the standing value choices, in force now, of the accounts it pays."""
    choices = [{"account": a, "to": p.public()} for a, p in sorted((redirects or {}).items())]
    return {"kind": "part_received", "provider": CITIZEN, "receiver": None, "resource": _order(order_id),
            "quantity": None, "detail": {"redirects": choices}}


def claim(order_id: int, currency: str, c: Claim, reversal: str | None = None) -> dict[str, Any]:
    """One claim of a receipt, or (``reversal`` = the reason) one reversing claim."""
    detail: dict[str, Any] = {"role": c.role, "design": c.design_id, "generation": c.generation,
                              "redirected_from": c.redirected_from.public() if c.redirected_from else None}
    if reversal is not None:
        detail["reason"] = reversal
    return {"kind": "reversal" if reversal is not None else "claim", "provider": None, "receiver": c.payee.public(),
            "resource": _order(order_id), "quantity": {"amount": c.amount, "currency": currency}, "detail": detail}


def payee_of(agent: Any) -> Payee:
    """The payee an exported agent object names (ValueError for anything else)."""
    if not isinstance(agent, dict) or agent.get("kind") not in ("account", "fablab", "fund"):
        raise ValueError(f"not a payee: {agent!r}")
    ident = agent.get("id")
    if agent["kind"] == "fund":
        return Payee("fund", None, str(agent.get("name") or "Commons fund"))
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise ValueError(f"a payee without an id: {agent!r}")
    return Payee(agent["kind"], ident, str(agent.get("name") or ""))
