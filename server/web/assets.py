"""Front-end libraries from the npm registry, copied into server/static/vendor/ at setup time.

The hub serves them itself (no CDN at run time). Run ``python -m server.web.assets`` or call
:func:`install_assets` (bootstrap.py's install does). Without npm the pages still work: the
lab map is replaced by the list, with a note.
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


def install_leaflet(target: Path = VENDOR / "leaflet", package: str = LEAFLET, timeout_s: float = 120.0) -> bool:
    """Fetch ``package`` with ``npm pack`` and copy its dist files to ``target``; False (and a note) without npm."""
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the lab map will be replaced by a list (install Node.js/npm and run "
              "`python -m server.web.assets` to add it)", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory(prefix="cosmoloc-assets-") as tmp:
        try:
            done = subprocess.run([npm, "pack", package, "--silent", "--pack-destination", tmp], cwd=tmp,
                                  capture_output=True, text=True, timeout=timeout_s, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"npm pack {package} failed ({exc}); the lab map will be replaced by a list", file=sys.stderr)
            return False
        tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
        dist = Path(tmp) / "package" / "dist"
        staging = target.with_name(target.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        for name in LEAFLET_FILES:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(dist / name, staging / name)
        shutil.copy2(Path(tmp) / "package" / "LICENSE", staging / "LICENSE")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return True


def install_assets() -> bool:
    """Install every vendored front-end library; True when all of them are in place."""
    return install_leaflet()


if __name__ == "__main__":
    sys.exit(0 if install_assets() else 1)
