#!/usr/bin/env bash
# Install the system pieces some tests use, on a fresh Debian machine (run as root, or with sudo):
#   - Debian's chromium, driven by Playwright in the browser tests of the web pages;
#   - npm, to fetch Leaflet for the lab map (bootstrap.py installs it into server/static/vendor);
#   - PrusaSlicer from Debian (prusa-slicer: the command line slices headless, no display needed);
#   - OctoPrint 1.11 in its own virtualenv, <repo>/.octoprint-venv: it pins an older Flask than the
#     hub, so it must stay out of the project's .venv. The tests find it there.
# Idempotent: when both are in place it only checks them (well under a second).
# COSMOLOC_OCTOPRINT_SPEC overrides the pip requirement (default: OctoPrint>=1.11,<1.12).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.octoprint-venv"
SPEC="${COSMOLOC_OCTOPRINT_SPEC:-OctoPrint>=1.11,<1.12}"
PYTHON="${PYTHON:-python3}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
apt_updated=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -q
    apt_updated=1
  fi
  $SUDO apt-get install -y -q --no-install-recommends "$@"
}

# Chromium for the browser tests, npm for the front-end assets
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install_test_deps: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

# PrusaSlicer
if ! command -v prusa-slicer >/dev/null 2>&1; then
  echo "install_test_deps: installing prusa-slicer"
  apt_install prusa-slicer
fi

# OctoPrint in .octoprint-venv; the spec it was installed for is noted beside it.
MARK="$VENV/.cosmoloc-spec"
if [ -x "$VENV/bin/octoprint" ] && [ "$(cat "$MARK" 2>/dev/null)" = "$SPEC" ] \
    && "$VENV/bin/python" -c "import octoprint" >/dev/null 2>&1; then
  :
else
  echo "install_test_deps: installing $SPEC into $VENV"
  if ! "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "$SPEC"
  echo "$SPEC" > "$MARK"
fi

slicer_version="$(prusa-slicer --help 2>/dev/null | grep -m1 -o 'PrusaSlicer-[^ ]*' || true)"
octoprint_version="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("octoprint"))')"
echo "install_test_deps: ${slicer_version:-PrusaSlicer (version unknown)}, OctoPrint $octoprint_version"
