"""The hub's HTTP contract (API.md) as typed models: one place for every request and answer shape.

Imported by the hub's routes (requests parsed, answers built through the models), by the agent's hub
client and by the tests' fake hub; the OpenAPI document at ``/api/v1/openapi.json`` is generated from
them. Needs pydantic only: no Flask, no SQLAlchemy, so the agent can use it.

Modules: :mod:`~cosmoloc_contract.enums` (the vocabularies), :mod:`~cosmoloc_contract.fields`
(constrained field types), :mod:`~cosmoloc_contract.common` (problem+json, paged lists), and one
module per part of the API: ``accounts``, ``designs``, ``importing`` (OKH), ``fablabs``, ``orders``, ``node``,
``quotes`` (rate cards), ``evidence`` (build reports, reputation), ``ledger`` (the commons ledger).
"""
