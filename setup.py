"""Build hook: fetch the front-end libraries from the npm registry when the package is built.

Everything else is declared in setup.cfg. With this, `pip install .` gives a hub whose pages
serve Leaflet themselves; without npm the build still succeeds and the lab map falls back to a list.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithAssets(build_py):
    def run(self) -> None:
        if not (HERE / "server" / "static" / "vendor" / "leaflet" / "leaflet.js").exists():
            spec = importlib.util.spec_from_file_location("cosmoloc_assets", HERE / "server" / "web" / "assets.py")
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                module.install_assets()
        super().run()


setup(cmdclass={"build_py": BuildWithAssets})
