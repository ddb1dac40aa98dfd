"""The Valueflows export is JSON-LD that expands offline, and every action in it is a Valueflows action."""
from __future__ import annotations

import pytest

from design_commons.ledger.valueflows import VF, VF_ACTIONS, export
from tests.design_commons.test_ledger_chain import example_chain

jsonld = pytest.importorskip("pyld.jsonld", reason="pyld (a test dependency) is not installed")


def test_the_export_expands_as_json_ld_with_valueflows_actions_and_claims() -> None:
    chain = example_chain(refund=True)
    doc = export(chain, "https://hub.example.org")
    expanded = jsonld.expand(doc)
    by_id = {node["@id"]: node for node in expanded}
    events = [n for n in expanded if f"{VF}EconomicEvent" in n.get("@type", [])]
    claims = [n for n in expanded if f"{VF}Claim" in n.get("@type", [])]
    assert len(events) + len(claims) == len(chain)
    actions = {a["@id"] for n in events + claims for a in n[f"{VF}action"]}
    assert actions <= {VF + a for a in VF_ACTIONS} and f"{VF}cite" in actions and f"{VF}produce" in actions
    receipt = "https://hub.example.org/api/v1/ledger/events#10"
    assert all(c[f"{VF}triggeredBy"] == [{"@id": receipt}] for c in claims)
    assert f"{VF}EconomicEvent" in by_id[receipt]["@type"]
    carol = by_id["https://hub.example.org/accounts/14"]
    assert carol["@type"] == ["http://xmlns.com/foaf/0.1/Agent"] and carol[f"{VF}name"] == [{"@value": "Carol"}]
    amounts = sorted(c[f"{VF}resourceQuantity"][0]["http://www.ontology-of-units-of-measure.org/resource/om-2/hasNumericalValue"][0]["@value"]
                     for c in claims)
    assert sum(amounts) == 0 and max(amounts) == 90  # the refund nets the order to zero
