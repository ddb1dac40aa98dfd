"""Front-end libraries from the npm registry, copied into server/static/vendor/ at setup time.

The hub serves them itself (no CDN at run time): Leaflet for the lab map, Swagger UI for the API
page at ``/api/docs``. Run ``python -m server.web.assets`` or call :func:`install_assets`
(bootstrap.py's install does). Without npm the pages still work: the lab map is replaced by the
list, the API page links the OpenAPI document, each with a note.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "static" / "vendor"
LEAFLET = "leaflet@1.9.4"
LEAFLET_FILES = ("leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png", "images/marker-icon.png",
                 "images/marker-icon-2x.png", "images/marker-shadow.png")
SWAGGER_UI = "swagger-ui-dist@5.36.0"
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE")


def install_npm_files(package: str, source: str, files: tuple[str, ...], target: Path, what: str,
                      timeout_s: float = 120.0) -> bool:
    """Fetch ``package`` with ``npm pack`` and copy ``files`` (relative to its ``source`` folder, plus its
    LICENSE) to ``target``, replacing what was there; False (and a note saying ``what`` is missing) without npm."""
    npm = shutil.which("npm")
    if npm is None:
        print(f"npm not found: {what} (install Node.js/npm and run `python -m server.web.assets` to add it)",
              file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory(prefix="cosmoloc-assets-") as tmp:
        try:
            done = subprocess.run([npm, "pack", package, "--silent", "--pack-destination", tmp], cwd=tmp,
                                  capture_output=True, text=True, timeout=timeout_s, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"npm pack {package} failed ({exc}): {what}", file=sys.stderr)
            return False
        tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
        root = Path(tmp) / "package"
        staging = target.with_name(target.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        for name in files:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / source / name, staging / name)
        if not (staging / "LICENSE").exists():
            shutil.copy2(root / "LICENSE", staging / "LICENSE")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return True


def install_leaflet(target: Path = VENDOR / "leaflet", package: str = LEAFLET, timeout_s: float = 120.0) -> bool:
    """Leaflet's dist files into ``target``; without them the lab directory shows its list instead of the map."""
    return install_npm_files(package, "dist", LEAFLET_FILES, target,
                             "the lab map will be replaced by a list", timeout_s)


def install_swagger_ui(target: Path = VENDOR / "swagger-ui", package: str = SWAGGER_UI,
                       timeout_s: float = 120.0) -> bool:
    """Swagger UI's bundle into ``target``, for the API page at ``/api/docs``; without it the page links the
    OpenAPI document instead."""
    return install_npm_files(package, "", SWAGGER_UI_FILES, target,
                             "/api/docs will link the OpenAPI document instead of showing it", timeout_s)


def install_assets() -> bool:
    """Install every vendored front-end library; True when all of them are in place."""
    leaflet = install_leaflet()
    return install_swagger_ui() and leaflet


if __name__ == "__main__":
    sys.exit(0 if install_assets() else 1)
