"""The ledger in the Valueflows vocabulary, as JSON-LD (https://w3id.org/valueflows/ont/vf#).

Economic events become ``vf:EconomicEvent`` (with their action, provider, receiver, resource, quantity
and time); claim and reversal events become ``vf:Claim`` ``vf:triggeredBy`` the receipt that caused
them; the accounts, labs and the commons fund are agents (``foaf:Agent``), designs and orders
economic resources. The context is inline, so the document expands with no network access. Every
node also keeps the ledger's own ``seq``, ``hash`` and ``prev``, so the export can be checked against
the chain.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

VF = "https://w3id.org/valueflows/ont/vf#"
#: The actions of the Valueflows vocabulary.
VF_ACTIONS = frozenset({"accept", "cite", "combine", "consume", "copy", "deliverService", "dropoff", "lower", "modify",
                        "move", "pickup", "produce", "raise", "separate", "transfer", "transferAllRights",
                        "transferCustody", "use", "work"})
LEDGER_NS = "https://cosmoloc.org/ns/ledger#"


def context() -> dict[str, Any]:
    return {
        "vf": VF, "om2": "http://www.ontology-of-units-of-measure.org/resource/om-2/",
        "foaf": "http://xmlns.com/foaf/0.1/", "xsd": "http://www.w3.org/2001/XMLSchema#", "cl": LEDGER_NS,
        "EconomicEvent": "vf:EconomicEvent", "Claim": "vf:Claim", "EconomicResource": "vf:EconomicResource",
        "Agent": "foaf:Agent",
        "action": {"@id": "vf:action", "@type": "@vocab"},
        "provider": {"@id": "vf:provider", "@type": "@id"}, "receiver": {"@id": "vf:receiver", "@type": "@id"},
        "resourceInventoriedAs": {"@id": "vf:resourceInventoriedAs", "@type": "@id"},
        "triggeredBy": {"@id": "vf:triggeredBy", "@type": "@id"},
        "resourceQuantity": "vf:resourceQuantity", "hasPointInTime": {"@id": "vf:hasPointInTime", "@type": "xsd:dateTime"},
        "hasNumericalValue": "om2:hasNumericalValue", "hasUnit": "om2:hasUnit", "name": "vf:name", "note": "vf:note",
        "seq": "cl:seq", "hash": "cl:hash", "prev": "cl:prev", "kind": "cl:kind",
        "detail": {"@id": "cl:detail", "@type": "@json"},
        "@vocab": VF,
    }


def _agent_iri(base: str, agent: Mapping[str, Any] | None) -> str | None:
    if not agent or agent.get("kind") not in ("account", "fablab", "fund"):
        return None
    if agent["kind"] == "fund":
        return f"{base}/ledger/fund"
    return f"{base}/{'accounts' if agent['kind'] == 'account' else 'fablabs'}/{agent['id']}"


def _resource_iri(base: str, resource: Mapping[str, Any] | None) -> str | None:
    if not resource or resource.get("kind") not in ("design", "order"):
        return None
    return f"{base}/{resource['kind']}s/{resource['id']}"


def export(events: Iterable[Mapping[str, Any]], base_url: str) -> dict[str, Any]:
    """A JSON-LD document of the events; ``base_url`` (the hub's) makes the nodes' IRIs."""
    base = base_url.rstrip("/")
    graph: list[dict[str, Any]] = []
    agents: dict[str, dict[str, Any]] = {}
    resources: dict[str, dict[str, Any]] = {}
    receipt_of: dict[int, str] = {}
    for e in events:
        iri = f"{base}/api/v1/ledger/events#{e['seq']}"
        node: dict[str, Any] = {"@id": iri, "seq": e["seq"], "hash": e["hash"], "prev": e["prev"], "kind": e["kind"],
                                "action": e["action"], "hasPointInTime": e["at"], "detail": e.get("detail") or {}}
        for role in ("provider", "receiver"):
            agent = _agent_iri(base, e.get(role))
            if agent is not None:
                node[role] = agent
                agents.setdefault(agent, {"@id": agent, "@type": "Agent", "name": e[role].get("name") or ""})
        resource = _resource_iri(base, e.get("resource"))
        quantity = e.get("quantity")
        if quantity:
            node["resourceQuantity"] = {"hasNumericalValue": quantity.get("amount"),
                                        "hasUnit": f"{quantity.get('currency')} (minor unit)"}
        if e["kind"] in ("claim", "reversal"):
            node["@type"] = "Claim"
            order = (e.get("resource") or {}).get("id")
            if order in receipt_of:
                node["triggeredBy"] = receipt_of[order]
            if e["kind"] == "reversal":
                node["note"] = "reverses a claim of this order"
        else:
            node["@type"] = "EconomicEvent"
            if resource is not None:
                node["resourceInventoriedAs"] = resource
                resources.setdefault(resource, {"@id": resource, "@type": "EconomicResource",
                                                "name": str((e.get("detail") or {}).get("title") or resource)})
            if e["kind"] == "part_received":
                receipt_of[(e.get("resource") or {}).get("id")] = iri  # type: ignore[index]
        graph.append(node)
    return {"@context": context(), "@graph": [*agents.values(), *resources.values(), *graph]}
