"""The commons ledger, computed: rule sets, the hash chain of events, the split of a contribution
along the remix lineage, and the replay that recomputes every receipt from an exported chain.

Plain Python (no web, no database), so anyone can check a hub's books with this package alone.
"""
from design_commons.ledger.chain import GENESIS, KINDS, NotCanonical, Problem, canonical, chain_hash, seal, verify_chain
from design_commons.ledger.replay import Receipt, Replay, recompute
from design_commons.ledger.rules import RuleBook, RuleError, RuleSet
from design_commons.ledger.split import (
    FUND,
    Author,
    Claim,
    DesignNode,
    LineageError,
    Payee,
    check_acyclic,
    contribution,
    reverse,
    split,
)

__all__ = ["FUND", "GENESIS", "KINDS", "Author", "Claim", "DesignNode", "LineageError", "NotCanonical", "Payee",
           "Problem", "Receipt", "Replay", "RuleBook", "RuleError", "RuleSet", "canonical", "chain_hash",
           "check_acyclic", "contribution", "recompute", "reverse", "seal", "split", "verify_chain"]
