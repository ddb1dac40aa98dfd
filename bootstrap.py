#!/usr/bin/env python3
"""Set up cosmoloc in ./.venv with nothing but python3, then run it.

    python3 bootstrap.py demo      # install, then run the hub with demo data on http://127.0.0.1:5000
    python3 bootstrap.py test      # install with the test tools, then run the whole test suite
    python3 bootstrap.py bench     # install, then run the benchmarks

Extra arguments after the command go to ``cosmoloc demo`` or ``pytest``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"


def sh(*args: str, **kwargs: object) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, **kwargs)  # type: ignore[call-overload]


def install(extras: str = "hub,agent") -> None:
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    sh(str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip")
    target = f".[{extras}]"
    sh(str(PY), "-m", "pip", "install", "-q", "-e", target, cwd=str(ROOT))
    # Leaflet for the lab map, from the npm registry; without npm the pages fall back to a list.
    subprocess.call([str(PY), "-m", "server.web.assets"], cwd=str(ROOT))


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test", "bench", "setup"):
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "test":
        # System pieces some tests use (chromium, prusa-slicer, OctoPrint in its own venv); needs root or sudo.
        # Without them those tests are skipped with the reason, and the rest still runs.
        if subprocess.call(["bash", str(ROOT / "tests" / "setup" / "install_test_deps.sh")]) != 0:
            print("bootstrap: could not install the test system packages; their tests will be skipped", flush=True)
        install("hub,agent,test")
        return subprocess.call([str(PY), "-m", "pytest", *rest], cwd=str(ROOT))
    install("hub,agent,bench" if command == "bench" else "hub,agent")
    if command == "setup":
        return 0
    if command == "bench":
        return subprocess.call([str(PY), str(ROOT / "benchmarks" / "run_all.py"), *rest], cwd=str(ROOT))
    env = {**os.environ}
    env.setdefault("COSMOLOC_DATA_DIR", str(ROOT / "instance"))
    return subprocess.call([str(VENV / "bin" / "cosmoloc"), "demo", *rest], cwd=str(ROOT), env=env)


if __name__ == "__main__":
    sys.exit(main())
