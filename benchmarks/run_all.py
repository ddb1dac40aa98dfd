"""Run every benchmark in turn: `python benchmarks/run_all.py [--quick]` (what `bootstrap.py bench` calls).

Each benchmark measures its own baseline in the same run and prints ratios against it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["mesh_validation.py", "drawing_validation.py", "labs_orders.py", "quotes.py", "evidence_photos.py",
              "ledger_verify.py", "contract_answers.py"]


def main() -> int:
    extra = sys.argv[1:]
    worst = 0
    for name in BENCHMARKS:
        print(f"\n=== {name} {' '.join(extra)}", flush=True)
        worst = max(worst, subprocess.call([sys.executable, str(HERE / name), *extra], cwd=str(HERE.parent)))
    return worst


if __name__ == "__main__":
    sys.exit(main())
