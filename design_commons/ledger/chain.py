"""The ledger's hash chain: canonical JSON of an event, its hash, and checking an exported chain.

An event is a JSON object ``{"seq", "at", "kind", "action", "provider", "receiver", "resource",
"quantity", "detail", "prev", "hash"}``. Its canonical form is the JSON of every field but ``prev``
and ``hash``, keys sorted, no spaces, UTF-8; only strings, integers, booleans, null, lists and
objects are allowed (a float is refused: amounts are integers in minor units, shares decimal
strings). ``hash = sha256(prev + canonical)`` with ``prev`` the previous event's hash as 64 hex
characters (64 zeros before the first event), so editing, removing or reordering any event breaks
every hash after it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

#: Every kind of event and the Valueflows action it records (https://w3id.org/valueflows).
KINDS: dict[str, str] = {
    "design_published": "produce",   # a new design and its first version
    "design_versioned": "produce",   # a new version of a design
    "design_remixed": "cite",        # a design derived from others: it cites its parents
    "quote_agreed": "deliverService",  # a lab agrees to make an order at a price
    "part_made": "produce",          # the lab made the part (its build report says whether it is complete)
    "part_received": "transfer",     # the citizen confirmed receipt: the contribution is split
    "claim": "transfer",             # one share of a contribution owed to a payee
    "reversal": "transfer",          # a claim taken back (refund, cancellation after receipt)
    "settlement": "transfer",        # a claim paid
}

HASHED_FIELDS = ("seq", "at", "kind", "action", "provider", "receiver", "resource", "quantity", "detail")


class NotCanonical(ValueError):
    """A value that has no canonical JSON form (a float, a non-string key, an unknown type)."""


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise NotCanonical(f"{path} is a float ({value!r}): use integer minor units or a decimal string")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonical(f"{path} has a key that is not a string: {key!r}")
            _check(item, f"{path}.{key}")
        return
    raise NotCanonical(f"{path} is a {type(value).__name__}, which JSON cannot hold exactly")


def _refuse_float(text: str) -> Any:
    raise NotCanonical(f"a float ({text}): use integer minor units or a decimal string")


def canonical(event: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of an event's hashed fields (a missing field counts as null)."""
    body = {name: event.get(name) for name in HASHED_FIELDS}
    try:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        _check(body, "event")  # says which field and why
        raise NotCanonical("the event has no JSON form") from None
    # Fast path, in C: the text read back with floats refused is the event itself. Anything else (a float
    # field, a non-string key, a tuple) is looked at field by field, which names the field.
    try:
        same = json.loads(text, parse_float=_refuse_float) == body
    except NotCanonical:
        same = False
    if not same:
        _check(body, "event")
    return text.encode("utf-8")


def chain_hash(prev: str, event: Mapping[str, Any]) -> str:
    """sha256 of the previous hash (64 hex characters) followed by the event's canonical JSON."""
    return hashlib.sha256(prev.encode("ascii") + canonical(event)).hexdigest()


def seal(prev: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """The event with its ``action`` (from its kind, when absent), ``prev`` and ``hash`` filled in."""
    sealed = dict(event)
    if sealed.get("kind") not in KINDS:
        raise NotCanonical(f"unknown event kind {sealed.get('kind')!r}")
    sealed.setdefault("action", KINDS[sealed["kind"]])
    sealed["prev"] = prev
    sealed["hash"] = chain_hash(prev, sealed)
    return sealed


@dataclass(frozen=True)
class Problem:
    """Something wrong found while checking a chain: at which ``seq`` (None: the chain as a whole), a stable
    ``code`` and what was expected."""

    seq: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"event {self.seq}" if self.seq is not None else "chain"
        return f"{where}: {self.code}: {self.message}"


def verify_chain(events: Iterable[Mapping[str, Any]], first_seq: int = 1, prev: str = GENESIS,
                 head: str | None = None) -> list[Problem]:
    """Check that events are numbered ``first_seq, first_seq + 1, ...`` with no gap, that each names the hash
    before it, that its hash is what its content gives and its action the one of its kind.

    ``head``: the hash the chain is known to end with (the export's ``head``), so that events cut off its
    end are found too. Returns the problems found, in order (empty: the chain is intact). The check goes on after a problem,
    taking the stored hash as the next ``prev``, so one edited event is reported once, not at every later one.
    """
    problems: list[Problem] = []
    expected_seq = first_seq
    for event in events:
        seq = event.get("seq")
        if not isinstance(seq, int) or seq != expected_seq:
            problems.append(Problem(seq if isinstance(seq, int) else None, "seq_gap",
                                    f"expected event {expected_seq} here, found {seq!r}"))
            if isinstance(seq, int):
                expected_seq = seq
        if event.get("prev") != prev:
            problems.append(Problem(seq, "prev_mismatch", f"names {event.get('prev')!r} before it, the chain has {prev}"))
        kind = event.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            problems.append(Problem(seq, "unknown_kind", f"unknown kind {kind!r}"))
        elif event.get("action") != KINDS[kind]:
            problems.append(Problem(seq, "wrong_action", f"a {kind} event records {KINDS[kind]!r}, not {event.get('action')!r}"))
        try:
            actual = chain_hash(prev, event)
        except NotCanonical as exc:
            problems.append(Problem(seq, "not_canonical", str(exc)))
        else:
            if event.get("hash") != actual:
                problems.append(Problem(seq, "hash_mismatch", f"stored hash {event.get('hash')!r}, its content gives {actual}"))
        stored = event.get("hash")
        prev = stored if isinstance(stored, str) else prev
        expected_seq += 1
    if head is not None and head != prev:
        problems.append(Problem(None, "head_mismatch", f"the chain ends at {prev}, its head is {head}"))
    return problems
