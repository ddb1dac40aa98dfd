"""The house rules that tools can check: ruff on the whole tree, mypy on the hub and the libraries, layering."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install '.[test]')")
    return path


def test_ruff_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "--quiet", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_clean() -> None:
    result = subprocess.run([_tool("mypy"), "design_commons", "fablab_nodes", "cosmoloc_contract", "server"], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]


def test_libraries_do_not_import_the_hub() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(flask|sqlalchemy|server)\b", re.M)
    offenders = [str(p.relative_to(REPO)) for pkg in ("design_commons", "fablab_nodes", "cosmoloc_contract")
                 for p in (REPO / pkg).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
