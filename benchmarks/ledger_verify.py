"""How long `cosmoloc ledger verify` takes per 10,000 events, against the floor of hashing them, in one run.

Generates a ledger as a busy hub would write it: designs published and remixed into a random DAG
(up to three parents, lineages up to a dozen generations deep), and received orders, each with its
agreed quote, the part made, the receipt and one claim event per payee, some later refunded. Then
measures on the same events:

  (a) floor: the sorted-key JSON of every event and its sha256, nothing checked;
  (b) ``verify_chain``: every seq, prev, action and hash, as a ratio to (a);
  (c) ``recompute``: (b) plus the lineage rebuilt and every receipt recomputed and compared, as a ratio to (a);
  (d) what ``cosmoloc ledger verify --export FILE`` does: (c) after reading the export file's JSON.

    python benchmarks/ledger_verify.py            # 10k and 100k events
    python benchmarks/ledger_verify.py --quick    # 10k events
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from design_commons.ledger import (  # noqa: E402
    GENESIS,
    Author,
    DesignNode,
    Payee,
    RuleBook,
    contribution,
    recompute,
    reverse,
    seal,
    split,
    verify_chain,
)
from design_commons.ledger import events as ev  # noqa: E402
from design_commons.ledger.chain import HASHED_FIELDS  # noqa: E402

LAB_KINDS = ["fablab", "makerspace", "cooperative", "nonprofit", "company"]


def generate(n_events: int, seed: int = 7) -> list[dict[str, Any]]:
    """About ``n_events`` sealed events: a third design events, the rest the events of received orders."""
    rnd = random.Random(seed)
    rules = RuleBook.shipped().in_force
    unsealed: list[dict[str, Any]] = []
    lineage: dict[int, DesignNode] = {}
    depth: dict[int, int] = {}
    design_id = order_id = 0
    while len(unsealed) < n_events:
        if not lineage or rnd.random() < 0.25:
            design_id += 1
            owner = rnd.randint(1, 500)
            unsealed.append(ev.design_published(design_id, f"Design {design_id}", "CERN-OHL-S-2.0", owner, f"maker {owner}"))
            parents: list[int] = []
            if lineage and rnd.random() < 0.7:
                deep = [d for d in lineage if depth[d] < 12]
                parents = rnd.sample(deep, min(len(deep), rnd.choice([1, 1, 1, 2, 3])))
                unsealed.append(ev.design_remixed(design_id, [(p, None) for p in parents], owner, f"maker {owner}"))
            lineage[design_id] = DesignNode(design_id, tuple((p, None) for p in parents), (Author(owner, f"maker {owner}"),))
            depth[design_id] = 1 + max((depth[p] for p in parents), default=0)
            continue
        order_id += 1
        design = rnd.choice(list(lineage))
        lab = Payee("fablab", rnd.randint(1, 200), "lab")
        kind = rnd.choice(LAB_KINDS)
        price = rnd.randint(500, 50_000)
        complete = rnd.random() < 0.6
        unsealed += [ev.quote_agreed(order_id, design, "CERN-OHL-S-2.0", lab, kind, price, "EUR", rules.version, rules.sha256),
                     ev.part_made(order_id, lab, complete), ev.part_received(order_id)]
        claims = split(contribution(price, rules, "CERN-OHL-S-2.0", kind), design, lineage, rules, lab, complete)
        unsealed += [ev.claim(order_id, "EUR", c) for c in claims]
        if rnd.random() < 0.05:
            unsealed += [ev.claim(order_id, "EUR", c, reversal="refund") for c in reverse(claims)]
    sealed, prev = [], GENESIS
    for seq, event in enumerate(unsealed, start=1):
        event = seal(prev, {**event, "seq": seq, "at": f"2026-12-06T12:00:00.{seq % 1_000_000:06d}Z"})
        prev = event["hash"]
        sealed.append(event)
    return sealed


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def floor(events: list[dict[str, Any]]) -> None:
    """Sorted-key JSON of each event's hashed fields and its sha256: the least any verifier must do."""
    prev = GENESIS
    for e in events:
        body = {name: e.get(name) for name in HASHED_FIELDS}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        prev = hashlib.sha256(prev.encode() + text.encode()).hexdigest()


def measure(events: list[dict[str, Any]], repeat: int) -> None:
    replay = recompute(events)
    assert replay.ok, replay.problems[:3]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.json"
        path.write_text(json.dumps({"items": events, "head": events[-1]["hash"]}))

        def from_file() -> None:
            doc = json.loads(path.read_text())
            assert recompute(doc["items"], head=doc["head"]).ok

        a = best(lambda: floor(events), repeat)
        b = best(lambda: verify_chain(events), repeat)
        c = best(lambda: recompute(events), repeat)
        d = best(from_file, repeat)
    per10k = d * 10_000 / len(events)
    print(f"{len(events):>8} {len(replay.receipts):>8} {a * 1000:>8.0f} ms {b * 1000:>7.0f} ms {b / a:>4.2f}x"
          f" {c * 1000:>8.0f} ms {c / a:>4.2f}x {d * 1000:>9.0f} ms {d / a:>5.2f}x {per10k * 1000:>9.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k events only")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    repeat = 3 if args.quick else 2
    print(f"{'events':>8} {'receipts':>8} {'(a) floor':>11} {'(b) chain':>14} {'(c) recompute':>16} {'(d) verify file':>18}"
          f" {'(d) per 10k':>12}")
    for size in sizes:
        measure(generate(size), repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
