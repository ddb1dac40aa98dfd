"""The package as people install it: `pip install cosmoloc` is the library and `cosmoloc validate` alone,
the hub and the agent are extras, and building it prints no warning a newcomer has to read past."""
from __future__ import annotations

import configparser
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, corpus_dir

HUB_ONLY = ("flask", "sqlalchemy", "gunicorn", "redis", "rq", "psycopg", "alembic", "requests")

# Run the command line with the hub's and the agent's libraries made impossible to import, as on a machine
# that installed the plain package.
BLOCKED = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Block())
from server.cli import main
sys.argv = ["cosmoloc", *sys.argv[1:]]
main()
"""


def _requirement_names(text: str) -> set[str]:
    names = set()
    for line in text.split("\n"):
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower())
    return names


def _cosmoloc_without_hub(*args: str) -> subprocess.CompletedProcess[str]:
    code = BLOCKED.format(names=set(HUB_ONLY))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=str(REPO),
                          timeout=120)


def test_the_plain_package_needs_no_web_server_database_or_queue() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    base = _requirement_names(cfg["options"]["install_requires"])
    assert not base & set(HUB_ONLY), base & set(HUB_ONLY)
    extras = cfg["options.extras_require"]
    assert {"flask", "sqlalchemy", "gunicorn", "redis"} <= _requirement_names(extras["hub"])
    assert {"requests", "pydantic"} <= _requirement_names(extras["agent"])  # the agent reads the contract's models


def test_validate_runs_without_the_hub_libraries() -> None:
    meshes = corpus_dir("meshes")
    sample = next(p for p in sorted(meshes.rglob("*.stl")) if p.stat().st_size < 2_000_000)
    done = _cosmoloc_without_hub("validate", "--json", str(sample))
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout.splitlines()[0])
    assert report["file"].endswith(sample.name) and report["status"] in ("passed", "warnings", "failed")


@pytest.mark.parametrize("command", [["serve"], ["agent", "--config", "lab.toml"], ["import-labs", "x.csv"]])
def test_hub_and_agent_commands_say_which_extra_they_need(command: list[str]) -> None:
    done = _cosmoloc_without_hub(*command)
    assert done.returncode == 2
    extra = "agent" if command[0] == "agent" else "hub"
    assert f"pip install 'cosmoloc[{extra}]'" in done.stderr, done.stderr


def test_the_contract_imports_without_the_hub_libraries() -> None:
    code = BLOCKED.split("from server.cli")[0].format(names=set(HUB_ONLY)) + (
        "from cosmoloc_contract import accounts, designs, evidence, fablabs, importing, ledger, node, orders, quotes\n"
        "print(orders.Job.__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO), timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "Job", done.stderr


@pytest.mark.slow
def test_the_wheel_builds_without_warnings_and_ships_its_data(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                           str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "Warning" not in output and "absent from the `packages`" not in output, output[-3000:]
    wheel = next(tmp_path.glob("cosmoloc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "server/templates/base.html" in names and "server/templates/api_docs.html" in names
    assert "cosmoloc_contract/orders.py" in names
    assert any(n.startswith("server/migrations/versions/0001") for n in names)
    assert "design_commons/ledger/rulesets/1.toml" in names  # `ledger verify` needs every rule version
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
