"""The hash chain and the replay: canonical JSON, tamper evidence, receipts recomputed from the events alone."""
from __future__ import annotations

import copy
import hashlib
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from design_commons.ledger import (
    FUND,
    GENESIS,
    Author,
    Claim,
    DesignNode,
    NotCanonical,
    Payee,
    RuleBook,
    RuleError,
    RuleSet,
    canonical,
    chain_hash,
    contribution,
    recompute,
    reverse,
    seal,
    split,
    verify_chain,
)
from design_commons.ledger import events as ev
from design_commons.ledger.rules import RULESETS

BOOK = RuleBook.shipped()
RULES = BOOK.in_force
LAB = Payee("fablab", 7, "Ateneu de Fabricació")


def sealed(unsealed: list[dict]) -> list[dict]:
    """Number, date and chain events as the hub's append does."""
    out, prev = [], GENESIS
    for i, e in enumerate(unsealed, start=1):
        e = {**e, "seq": i, "at": f"2026-12-06T10:{i // 60:02d}:{i % 60:02d}.000000Z"}
        e = seal(prev, e)
        prev = e["hash"]
        out.append(e)
    return out


def example_chain(rule: RuleSet = RULES, refund: bool = False, tamper_amount: bool = False) -> list[dict]:
    """The worked example as events: four designs, an order of Carol's remix, received, its claims."""
    es = [ev.design_published(1, "Kettle lid", "CERN-OHL-S-2.0", 11, "Alice"),
          ev.design_published(2, "Hinge", "CERN-OHL-S-2.0", 12, "Dan"),
          ev.design_published(3, "Lid with hinge", "CERN-OHL-S-2.0", 13, "Bob"),
          ev.design_remixed(3, [(1, None), (2, None)], 13, "Bob"),
          ev.design_published(4, "Lid with hinge, M6", "CERN-OHL-S-2.0", 14, "Carol"),
          ev.design_remixed(4, [(3, None)], 14, "Carol"),
          ev.design_versioned(4, 2, 14, "Carol"),
          ev.quote_agreed(50, 4, "CERN-OHL-S-2.0", LAB, "fablab", 4000, "EUR", rule.version, rule.sha256),
          ev.part_made(50, LAB, report_complete=True),
          ev.part_received(50)]
    lineage = {1: ev_node(1, (), 11, "Alice"), 2: ev_node(2, (), 12, "Dan"), 3: ev_node(3, (1, 2), 13, "Bob"),
               4: ev_node(4, (3,), 14, "Carol")}
    claims = split(contribution(4000, rule, "CERN-OHL-S-2.0", "fablab"), 4, lineage, rule, LAB, True)
    if tamper_amount:
        first = claims[0]
        claims = [Claim(first.payee, first.role, first.design_id, first.generation, first.amount + 1), *claims[1:]]
    es += [ev.claim(50, "EUR", c) for c in claims]
    if refund:
        es += [ev.claim(50, "EUR", c, reversal="refund") for c in reverse(claims)]
    return sealed(es)


def ev_node(i: int, parents: tuple[int, ...], author: int, name: str) -> DesignNode:
    return DesignNode(i, tuple((p, None) for p in parents), (Author(author, name),))


def test_canonical_json_sorts_keys_and_refuses_floats() -> None:
    a = {"seq": 1, "kind": "claim", "detail": {"b": 1, "a": "0.5"}}
    b = {"detail": {"a": "0.5", "b": 1}, "kind": "claim", "seq": 1}
    assert canonical(a) == canonical(b)
    assert b'"detail":{"a":"0.5","b":1}' in canonical(a)
    assert chain_hash(GENESIS, a) == hashlib.sha256(GENESIS.encode() + canonical(a)).hexdigest()
    with pytest.raises(NotCanonical, match="float"):
        canonical({"seq": 1, "quantity": {"amount": 0.1}})
    with pytest.raises(NotCanonical):
        canonical({"seq": 1, "detail": {1: "x"}})


def test_the_shipped_rule_file_is_known_by_its_sha256_and_floats_are_refused() -> None:
    path = RULESETS / f"{RULES.version}.toml"
    assert RULES.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert RULES.public()["lab_share"] == "0.10" and RULES.public()["max_generations"] == 8
    text = path.read_text().replace('lab_share = "0.10"', "lab_share = 0.10")
    with pytest.raises(RuleError, match="decimal string"):
        RuleSet.from_bytes(text.encode())
    with pytest.raises(RuleError):
        BOOK.get(RULES.version, "0" * 64)


def test_a_clean_chain_replays_to_the_worked_example_receipt() -> None:
    chain = example_chain()
    replay = recompute(chain, BOOK, head=chain[-1]["hash"])
    assert replay.ok, replay.problems
    receipt = replay.receipts[50]
    assert receipt.contribution == 200 and receipt.rule_version == RULES.version
    assert sorted(c.amount for c in receipt.claims) == [20, 22, 23, 45, 90]


def test_a_refund_nets_the_order_to_zero_and_still_verifies() -> None:
    replay = recompute(example_chain(refund=True), BOOK)
    assert replay.ok, replay.problems
    assert replay.receipts[50].reversed


def test_a_recorded_claim_that_differs_from_the_rules_is_found_even_when_rehashed() -> None:
    replay = recompute(example_chain(tamper_amount=True), BOOK)
    assert [p.code for p in replay.problems] == ["receipt_differs"]


def test_a_new_rule_version_never_changes_a_past_receipt() -> None:
    old = recompute(example_chain(), BOOK).receipts[50]
    text = (RULESETS / f"{RULES.version}.toml").read_text()
    newer = text.replace(f"version = {RULES.version}", f"version = {RULES.version + 1}").replace('default = "5"', 'default = "7"')
    newer = newer.replace('pass_up = "0.5"', 'pass_up = "0.25"')
    book = BOOK.with_version(RuleSet.from_bytes(newer.encode()))
    assert book.in_force.version == RULES.version + 1
    replay = recompute(example_chain(), book)
    assert replay.ok and replay.receipts[50] == old
    # an order agreed under the new version is settled under it
    assert recompute(example_chain(rule=book.in_force), book).receipts[50].contribution == 280


def test_an_unknown_rule_version_is_reported() -> None:
    chain = example_chain()
    chain[7]["detail"]["rule"]["version"] = 99
    replay = recompute(sealed([{k: v for k, v in e.items() if k not in ("seq", "at", "prev", "hash")} for e in chain]), BOOK)
    assert "rule_unknown" in [p.code for p in replay.problems]


FIELDS = ["at", "kind", "provider", "resource", "quantity", "detail"]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_edited_removed_or_reordered_event_breaks_the_chain(data: st.DataObject) -> None:
    chain = example_chain(refund=data.draw(st.booleans()))
    head = chain[-1]["hash"]
    assert verify_chain(chain, head=head) == []
    broken = copy.deepcopy(chain)
    how = data.draw(st.sampled_from(["edit", "remove", "swap", "rehash_one"]))
    i = data.draw(st.integers(0, len(chain) - 1))
    if how == "edit":
        field = data.draw(st.sampled_from(FIELDS))
        broken[i][field] = {"edited": True} if broken[i][field] != {"edited": True} else None
    elif how == "remove":
        del broken[i]
    elif how == "swap":
        j = data.draw(st.integers(0, len(chain) - 1).filter(lambda j: j != i))
        broken[i], broken[j] = broken[j], broken[i]
    else:  # edit an amount and recompute that event's own hash: the next event's prev no longer matches
        broken[i]["detail"] = {**(broken[i]["detail"] or {}), "x": 1}
        broken[i]["hash"] = chain_hash(broken[i]["prev"], broken[i])
    assert verify_chain(broken, head=head) != []
    assert not recompute(broken, BOOK, head=head).ok


def test_the_fund_is_an_exported_payee() -> None:
    assert ev.payee_of(FUND.public()) == FUND
    with pytest.raises(ValueError):
        ev.payee_of({"kind": "citizen"})
    assert ev.decimal_string(Fraction(1, 3)).startswith("0.333") and ev.decimal_string(Fraction(5, 4)) == "1.25"
