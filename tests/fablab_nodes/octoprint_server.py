"""A real OctoPrint with its virtual printer, started headless on loopback for the driver's tests.

OctoPrint lives in its own virtualenv (``<repo>/.octoprint-venv``, made by
``tests/setup/install_test_deps.sh``; ``COSMOLOC_OCTOPRINT`` may name another ``octoprint``
program), because it pins an older Flask than the hub. :class:`OctoPrintServer` writes a fresh
basedir before it starts OctoPrint:

- ``config.yaml``: bound to 127.0.0.1 on a free port; first run, the online check, the plugin
  blacklist, the Python EOL check and every plugin that talks to the internet (tracking, error
  tracking, announcements, software update, plugin manager, discovery, ...) off; the virtual
  printer on, fast, and connected to at start (port ``VIRTUAL``, 115200 baud);
- ``users.yaml``: one admin user whose API key the tests use (OctoPrint 1.11 always has access
  control; the global ``api.key`` is deprecated), the password an unusable random one;
- ``printerProfiles/cosmoloc.profile``: the default printer profile with the build volume asked for.

Then it waits until ``/api/version`` answers and the printer is operational.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_OCTOPRINT = REPO / ".octoprint-venv" / "bin" / "octoprint"

# Bundled and pip-installed plugins that would reach beyond loopback, or that the tests do not need.
DISABLED_PLUGINS = ["tracking", "errortracking", "announcements", "softwareupdate", "pluginmanager", "discovery",
                    "achievements", "backup", "health_check", "classicwebcam", "firmware_check", "pi_support",
                    "file_check"]


def octoprint_program() -> Path | None:
    """The ``octoprint`` program to run, or None when OctoPrint is not installed."""
    configured = os.environ.get("COSMOLOC_OCTOPRINT")
    candidates = [Path(configured)] if configured else [VENV_OCTOPRINT]
    found = shutil.which("octoprint")
    if found and not configured:
        candidates.append(Path(found))
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def octoprint_version(program: Path) -> str:
    """OctoPrint's version, e.g. ``1.11.8``."""
    out = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=60, check=False)
    return out.stdout.strip().rsplit(" ", 1)[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OctoPrintServer:
    """One OctoPrint process over the fresh ``basedir``; :meth:`start` it, :meth:`stop` it.

    ``volume_mm`` is the build volume (width, depth, height) of its printer profile.
    """

    def __init__(self, basedir: Path, program: Path, volume_mm: tuple[float, float, float] = (180, 170, 160),
                 port: int | None = None) -> None:
        self.basedir = Path(basedir)
        self.program = program
        self.volume_mm = volume_mm
        self.port = port or free_port()
        self.api_key = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_basedir(self) -> None:
        """Write config.yaml, users.yaml and the printer profile (see the module docstring)."""
        from argon2 import PasswordHasher

        self.basedir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": self.port, "firstRun": False,
                       "onlineCheck": {"enabled": False}, "pluginBlacklist": {"enabled": False},
                       "pythonEolCheck": {"enabled": False}},
            "serial": {"autoconnect": True, "port": "VIRTUAL", "baudrate": 115200, "log": False},
            "printerProfiles": {"default": "cosmoloc"},
            "plugins": {
                "_disabled": DISABLED_PLUGINS,
                # simulated_errors: by default the virtual printer fakes line errors around line 100,
                # one of them a resend that stalls the print for the 30 s communication timeout.
                "virtual_printer": {"enabled": True, "throttle": 0.001, "sendWait": False, "simulateReset": False,
                                    "sendBusy": False, "resend_ratio": 0, "simulated_errors": []},
            },
            "feature": {"sdSupport": False},
        }
        (self.basedir / "config.yaml").write_text(yaml.safe_dump(config))
        password = PasswordHasher().hash(secrets.token_urlsafe(24))  # nobody logs in with it
        users = {"_version": 2, "cosmoloc": {"password": password, "active": True, "groups": ["admins", "users"],
                                             "permissions": [], "apikey": self.api_key, "settings": {}}}
        users_path = self.basedir / "users.yaml"
        users_path.write_text(yaml.safe_dump(users))
        users_path.chmod(0o600)
        width, depth, height = self.volume_mm
        profile = {
            "id": "cosmoloc", "name": "cosmoloc test printer", "model": "virtual", "color": "default",
            "volume": {"width": width, "depth": depth, "height": height, "formFactor": "rectangular",
                       "origin": "lowerleft", "custom_box": False},
            "heatedBed": True, "heatedChamber": False,
            "extruder": {"count": 1, "offsets": [[0.0, 0.0]], "nozzleDiameter": 0.4, "sharedNozzle": False,
                         "defaultExtrusionLength": 5},
            "axes": {"x": {"speed": 6000, "inverted": False}, "y": {"speed": 6000, "inverted": False},
                     "z": {"speed": 200, "inverted": False}, "e": {"speed": 300, "inverted": False}},
        }
        (self.basedir / "printerProfiles").mkdir(exist_ok=True)
        (self.basedir / "printerProfiles" / "cosmoloc.profile").write_text(yaml.safe_dump(profile))

    def start(self, timeout_s: float = 90.0) -> OctoPrintServer:
        """Start OctoPrint and wait until the virtual printer is operational; RuntimeError (with the
        end of OctoPrint's output) when it is not within ``timeout_s``."""
        if not (self.basedir / "config.yaml").exists():
            self.write_basedir()
        args = [str(self.program), "serve", "--basedir", str(self.basedir), "--host", "127.0.0.1",
                "--port", str(self.port)]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--iknowwhatimdoing")  # CI containers run as root
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        self._console = (self.basedir / "console.log").open("ab")
        self.process = subprocess.Popen(args, stdout=self._console, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not self.printer_operational():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"OctoPrint did not come up on {self.url}:\n{self.console_tail()}")
            time.sleep(0.2)
        return self

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, headers={"X-Api-Key": self.api_key}, timeout=5)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(self.url + path, json=body, headers={"X-Api-Key": self.api_key}, timeout=5)

    def printer_operational(self) -> bool:
        try:
            response = self.get("/api/printer?exclude=temperature,sd")
        except requests.RequestException:
            return False
        if response.status_code != 200:
            return False
        flags = response.json().get("state", {}).get("flags", {})
        return bool(flags.get("operational") and not flags.get("printing"))

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until no print runs (a cancelled one takes a moment to wind down)."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.get("/api/job")
            if response.ok and response.json().get("state") == "Operational":
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"OctoPrint still busy: {response.text[:300]}")
            time.sleep(0.1)

    def console_tail(self, lines: int = 40) -> str:
        log = self.basedir / "console.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def stop(self) -> None:
        """Terminate OctoPrint (kill it after 15 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        console = getattr(self, "_console", None)
        if console is not None:
            console.close()
