"""The commons ledger (API.md "The commons ledger"): its events, the rule set, value receipts, earnings.

Amounts are integers in the currency's minor unit; percents and shares in the rule set are decimal
strings, never floats.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from cosmoloc_contract.common import Answer
from cosmoloc_contract.enums import ClaimRole, PayeeKind
from cosmoloc_contract.fields import MAX_DB_INT, DbId

MAX_EVENTS_PER_PAGE = 1000

# -- requests --------------------------------------------------------------------------------


class EventQuery(BaseModel):
    after: int = Field(default=0, ge=0, le=MAX_DB_INT, description="the seq the page starts after")
    limit: int = Field(default=100, ge=1, le=MAX_EVENTS_PER_PAGE)


class EarningsQuery(BaseModel):
    from_: str | None = Field(default=None, alias="from", description="an ISO 8601 date or time (UTC unless stated)")
    to: str | None = Field(default=None, description="an ISO 8601 date or time, excluded")


class ValueChoiceBody(BaseModel):
    """``PUT /api/v1/accounts/me/value-choice``: where my future shares go."""

    redirect_to: Literal["fund"] | DbId | None = Field(description='"fund", another account\'s id, or null (to me)')


# -- answers ---------------------------------------------------------------------------------


class LedgerEvent(Answer):
    """One event of the hash chain: ``hash`` = sha256 of ``prev`` and the event's canonical JSON."""

    seq: int
    at: str
    kind: str
    action: str = Field(description="a Valueflows action: produce, cite, use, consume, work, transfer, ...")
    provider: dict[str, Any] | None = Field(description='an agent: {"kind": "account"|"fablab"|"fund", "id", "name"}')
    receiver: dict[str, Any] | None
    resource: dict[str, Any] | None = Field(description='what the event is about: {"kind": "design", "id", ...}')
    quantity: dict[str, Any] | None = Field(description='{"amount", "currency"} for money')
    detail: dict[str, Any]
    prev: str
    hash: str


class LedgerEvents(Answer):
    """A page of the chain and the head of the whole chain; ``next_after`` null on the last page."""

    items: list[LedgerEvent]
    head: str
    next_after: int | None


class ContributionPercent(Answer):
    default: str
    lab_kind: dict[str, str]
    licence: dict[str, dict[str, str]]


class Rules(Answer):
    """The rule set in force (its file's version and sha256)."""

    version: int
    sha256: str
    contribution_percent: ContributionPercent
    lab_share: str
    pass_up: str
    max_generations: int


class Payee(Answer):
    kind: PayeeKind
    id: int | None
    name: str


class Claim(Answer):
    payee: Payee
    role: ClaimRole
    design_id: int | None
    generation: int | None
    amount: int = Field(description="minor units; a reversal is negative")
    redirected_from: Payee | None


class RuleRef(Answer):
    version: int
    sha256: str


class ValueReceipt(Answer):
    """Where an order's contribution went; the claims' amounts sum to ``contribution``."""

    order_id: int
    rule: RuleRef
    currency: str
    price: int
    contribution: int
    claims: list[Claim]
    reversals: list[Claim]
    event_hashes: list[str]


class Earning(Answer):
    seq: int
    at: str
    kind: str
    order_id: int | None
    role: ClaimRole | None
    design_id: int | None
    generation: int | None
    amount: int
    currency: str
    redirected_from: dict[str, Any] | None
    hash: str


class Earnings(Answer):
    currency_totals: dict[str, int]
    items: list[Earning]


class ValueChoice(Answer):
    redirect_to: Literal["fund"] | int | None
    updated_at: str | None = None
