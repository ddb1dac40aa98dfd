"""The split of a contribution along the remix lineage: exact, whole, never negative, the worked example."""
from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from design_commons.ledger import (
    FUND,
    Author,
    DesignNode,
    LineageError,
    Payee,
    RuleBook,
    check_acyclic,
    contribution,
    reverse,
    split,
)

RULES = RuleBook.shipped().in_force
LAB = Payee("fablab", 7, "Ateneu de Fabricació")


def worked_example() -> dict[int, DesignNode]:
    """Carol's remix (4) of Bob's remix (3) of Alice's (1) and Dan's (2) originals; Alice's account id is below Dan's."""
    return {1: DesignNode(1, (), (Author(11, "Alice"),)), 2: DesignNode(2, (), (Author(12, "Dan"),)),
            3: DesignNode(3, ((1, None), (2, None)), (Author(13, "Bob"),)),
            4: DesignNode(4, ((3, None),), (Author(14, "Carol"),))}


def test_the_worked_example_pays_lab_carol_bob_alice_and_dan() -> None:
    c = contribution(4000, RULES, "CERN-OHL-S-2.0", "fablab")  # 40.00 EUR at 5 %
    assert c == 200
    claims = split(c, 4, worked_example(), RULES, LAB, report_complete=True)
    got = {(cl.payee.name, cl.role, cl.generation): cl.amount for cl in claims}
    assert got == {("Ateneu de Fabricació", "lab", None): 20, ("Carol", "designer", 0): 90, ("Bob", "ancestor", 1): 45,
                   ("Alice", "ancestor", 2): 23, ("Dan", "ancestor", 2): 22}


def test_without_a_complete_report_the_lab_gets_nothing_and_the_designs_share_it_all() -> None:
    claims = split(200, 4, worked_example(), RULES, LAB, report_complete=False)
    assert all(cl.payee != LAB for cl in claims)
    assert {cl.payee.name: cl.amount for cl in claims} == {"Carol": 100, "Bob": 50, "Alice": 25, "Dan": 25}


def test_contribution_percent_depends_on_lab_kind() -> None:
    assert contribution(10_000, RULES, "CC-BY-4.0", "cooperative") == 300
    assert contribution(10_000, RULES, "CC-BY-4.0", "nonprofit") == 300
    assert contribution(10_000, RULES, "CC-BY-4.0", "company") == 1000
    assert contribution(10_000, RULES, "CC-BY-4.0", "makerspace") == 500
    assert contribution(10, RULES, "CC-BY-4.0", "fablab") == 1  # 0.5 rounds up
    assert contribution(9, RULES, "CC-BY-4.0", "fablab") == 0


def test_a_cycle_is_refused() -> None:
    lineage = worked_example()
    lineage[1] = DesignNode(1, ((4, None),), (Author(11, "Alice"),))
    with pytest.raises(LineageError, match="own ancestor"):
        check_acyclic(lineage, 4)
    with pytest.raises(LineageError):
        split(200, 4, lineage, RULES)


def test_the_depth_cap_overflows_exactly_to_the_fund() -> None:
    n = RULES.max_generations
    chain = {i: DesignNode(i, ((i + 1, None),) if i < n + 5 else (), (Author(100 + i, f"a{i}"),)) for i in range(n + 6)}
    c = 2 ** (n + 1) * 3
    claims = split(c, 0, chain, RULES)
    by_design = {cl.design_id: cl.amount for cl in claims if cl.role != "fund"}
    assert by_design == {g: c // 2 ** (g + 1) for g in range(n + 1)}
    assert [(cl.design_id, cl.amount) for cl in claims if cl.payee == FUND] == [(n, c // 2 ** (n + 1))]


def test_a_diamond_adds_up() -> None:
    # 4 remixes 2 and 3, both remixes of 1: 1 is reached twice, at generation 2.
    lineage = {1: DesignNode(1, (), (Author(1, "root"),)), 2: DesignNode(2, ((1, None),), (Author(2, "left"),)),
               3: DesignNode(3, ((1, None),), (Author(3, "right"),)),
               4: DesignNode(4, ((2, None), (3, None)), (Author(4, "top"),))}
    got = {cl.payee.name: cl.amount for cl in split(800, 4, lineage, RULES)}
    assert got == {"top": 400, "left": 100, "right": 100, "root": 200}


def test_declared_weights_and_co_authors() -> None:
    lineage = {1: DesignNode(1, (), (Author(1, "a"),)), 2: DesignNode(2, (), (Author(2, "b"),)),
               3: DesignNode(3, ((1, Fraction(3)), (2, Fraction(1))),
                             (Author(3, "c", Fraction(3, 4)), Author(5, "d", Fraction(1, 4))))}
    got = {cl.payee.name: cl.amount for cl in split(800, 3, lineage, RULES)}
    assert got == {"c": 300, "d": 100, "a": 300, "b": 100}


def test_unpayable_authors_and_authorless_designs_pay_the_fund() -> None:
    lineage = {1: DesignNode(1, (), ()), 2: DesignNode(2, ((1, None),), (Author(2, "b", payable=False),))}
    claims = split(100, 2, lineage, RULES)
    assert [(cl.payee, cl.design_id, cl.amount) for cl in claims] == [(FUND, 2, 50), (FUND, 1, 50)]


def test_a_redirect_goes_where_it_says() -> None:
    fund_choice = split(200, 4, worked_example(), RULES, LAB, True, {13: FUND})
    bob = [cl for cl in fund_choice if cl.redirected_from and cl.redirected_from.id == 13]
    assert [(cl.payee, cl.amount, cl.role) for cl in bob] == [(FUND, 45, "ancestor")]
    friend = Payee("account", 99, "Erin")
    to_friend = split(200, 4, worked_example(), RULES, LAB, True, {14: friend})
    assert [(cl.payee, cl.amount) for cl in to_friend if cl.redirected_from] == [(friend, 90)]
    assert not [cl for cl in to_friend if cl.payee.id == 14]


# -- properties over random lineages -------------------------------------------------------------------------

@st.composite
def lineages(draw: st.DrawFn) -> tuple[dict[int, DesignNode], int]:
    """A random remix DAG: design i may cite any designs above it; weights declared or not; 0-3 authors each."""
    n = draw(st.integers(1, 14))
    nodes: dict[int, DesignNode] = {}
    for i in range(n - 1, -1, -1):
        candidates = list(range(i + 1, n))
        parents = draw(st.lists(st.sampled_from(candidates), unique=True, max_size=3)) if candidates else []
        weighted = draw(st.booleans())
        pairs = tuple((p, Fraction(draw(st.integers(1, 9))) if weighted else None) for p in parents)
        k = draw(st.integers(0, 3))
        cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=k - 1, max_size=k - 1))) if k else []
        bounds = [0, *cuts, 100]
        authors = tuple(Author(draw(st.integers(1, 30)) * 100 + j, f"au{i}-{j}", Fraction(bounds[j + 1] - bounds[j], 100),
                               payable=draw(st.booleans()) or j > 0) for j in range(k))
        nodes[i] = DesignNode(i, pairs, authors)
    return nodes, 0


@settings(max_examples=300, deadline=None)
@given(lineages(), st.integers(0, 10**9), st.booleans(), st.dictionaries(st.integers(1, 30).map(lambda x: x * 100),
       st.sampled_from([FUND, Payee("account", 4242, "x")]), max_size=3))
def test_claims_sum_to_the_contribution_and_none_is_negative(lineage: tuple[dict[int, DesignNode], int], c: int,
                                                            complete: bool, redirects: dict[int, Payee]) -> None:
    nodes, start = lineage
    claims = split(c, start, nodes, RULES, LAB, complete, redirects)
    assert sum(cl.amount for cl in claims) == c
    assert all(cl.amount > 0 for cl in claims)
    assert all(cl.payee.id not in redirects for cl in claims if cl.payee.kind == "account" and cl.payee.id != 4242)
    reversed_ = reverse(claims)
    net: dict[Payee, int] = defaultdict(int)
    for cl in claims + reversed_:
        net[cl.payee] += cl.amount
    assert set(net.values()) <= {0}


@settings(max_examples=200, deadline=None)
@given(lineages(), st.integers(0, 10**7), st.randoms(use_true_random=False))
def test_the_split_does_not_depend_on_the_order_designs_and_parents_are_given(
        lineage: tuple[dict[int, DesignNode], int], c: int, rnd: object) -> None:
    nodes, start = lineage
    shuffled = {}
    keys = list(nodes)
    rnd.shuffle(keys)  # type: ignore[attr-defined]
    for k in keys:
        parents = list(nodes[k].parents)
        rnd.shuffle(parents)  # type: ignore[attr-defined]
        shuffled[k] = DesignNode(k, tuple(parents), nodes[k].authors)
    assert split(c, start, nodes, RULES, LAB, True) == split(c, start, shuffled, RULES, LAB, True)


@settings(max_examples=200, deadline=None)
@given(lineages(), st.integers(0, 10**7), st.data())
def test_redirecting_to_the_fund_moves_an_accounts_shares_and_nothing_else(
        lineage: tuple[dict[int, DesignNode], int], c: int, data: st.DataObject) -> None:
    nodes, start = lineage
    before = split(c, start, nodes, RULES)
    payees = sorted({cl.payee.id for cl in before if cl.payee.kind == "account"})
    if not payees:
        return
    who = data.draw(st.sampled_from(payees))
    after = split(c, start, nodes, RULES, redirects={who: FUND})
    had = sum(cl.amount for cl in before if cl.payee.id == who)
    moved = [cl for cl in after if cl.redirected_from is not None]
    assert all(cl.payee == FUND and cl.redirected_from.id == who for cl in moved)  # type: ignore[union-attr]
    # Exactly the same exact shares move: rounding may shift at most one unit per claim.
    assert abs(sum(cl.amount for cl in moved) - had) <= len(moved) + sum(1 for cl in before if cl.payee.id == who)
    assert not [cl for cl in after if cl.payee.id == who]
