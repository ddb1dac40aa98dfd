"""The agent's configuration: the lab TOML file of DESIGN.md, validated, and the node token kept secret.

The token never sits in the TOML itself: it comes from ``token_file`` (a path relative to the
config file's folder) or from the ``COSMOLOC_NODE_TOKEN`` variable. It is held in a
:class:`Secret` whose repr hides it, and :func:`install_redaction` adds a logging filter that
blanks it out of any log line as belt and braces.
"""
from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

# One process vocabulary, used everywhere (DESIGN.md): the library's.
from design_commons.fitting import SHEET_PROCESSES  # noqa: F401
from design_commons.validation import PROCESSES

TOKEN_ENV = "COSMOLOC_NODE_TOKEN"


_TOP_KEYS = {"hub", "token_file", "state_dir", "poll_interval_s", "accept", "machines", "outbox_keep_days",
             "outbox_keep_reports"}
_MACHINE_KEYS = {"key", "name", "process", "build_volume_mm", "materials", "driver", "speed"}
_OCTOPRINT_KEYS = {"url", "api_key_file", "slicer_config", "slicer", "slice_timeout_s"}


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and the key at fault (never the token)."""


class AcceptPolicy(StrEnum):
    """Who decides on offers: the agent (``auto``) or the operator with ``cosmoloc agent accept`` (``manual``)."""

    AUTO = "auto"
    MANUAL = "manual"


class Secret:
    """A string that does not show itself: ``repr`` and ``str`` print stars, :meth:`reveal` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it (the Authorization header)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not to be pickled")


@dataclass(frozen=True)
class MachineConfig:
    """One machine of the lab as configured: ``build_volume_mm`` is (x, y, z) in mm (for sheet
    processes: x, y of the bed and z the thickest stock it cuts); ``speed`` is for the simulated
    driver only (seconds of making per real second); ``options`` holds driver tables such as
    ``[machines.octoprint]`` (checked into an :class:`OctoPrintSettings` for the octoprint driver)."""

    key: str
    name: str
    process: str
    build_volume_mm: tuple[float, float, float]
    materials: tuple[str, ...]
    driver: str
    speed: float = 1.0
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OctoPrintSettings:
    """The ``[machines.octoprint]`` table, checked: the OctoPrint ``url``, its API key (read from
    ``api_key_file``, relative to the config file's folder, and kept as a :class:`Secret`), the
    PrusaSlicer profile ``slicer_config`` (an existing .ini file), the ``slicer`` program (a name looked
    up on PATH when it has no folder; None: ``prusa-slicer``) and the slicing time limit in seconds."""

    url: str
    api_key: Secret
    slicer_config: Path
    slicer: str | None = None
    slice_timeout_s: float = 600.0


@dataclass(frozen=True)
class AgentConfig:
    """The whole agent configuration; paths are absolute (resolved against the config file's folder).

    Delivered reports stay in the outbox ``outbox_keep_days`` days, and the ``outbox_keep_reports``
    newest of them longer still; pending reports stay until delivered.
    """

    hub: str
    token: Secret
    state_dir: Path
    poll_interval_s: float
    accept: AcceptPolicy
    machines: tuple[MachineConfig, ...]
    path: Path | None = None
    outbox_keep_days: float = 7.0
    outbox_keep_reports: int = 1000

    def machine(self, key: str) -> MachineConfig | None:
        """The machine with this key, or None."""
        return next((m for m in self.machines if m.key == key), None)


def load_config(path: str | Path, env: Mapping[str, str] | None = None,
                known_drivers: Iterable[str] | None = None) -> AgentConfig:
    """Read and validate the agent TOML at ``path``.

    Raises :class:`ConfigError` for a missing or unreadable file, bad TOML, a missing or invalid
    key, no token, or a driver that is not registered.
    """
    env = os.environ if env is None else env
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.__class__.__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if known_drivers is None:
        from fablab_nodes.drivers import driver_names

        known_drivers = driver_names()
    config = parse_config(raw, base_dir=path.resolve().parent, env=env, known_drivers=tuple(known_drivers),
                          source=str(path))
    return replace(config, path=path.resolve())


def parse_config(raw: Mapping[str, Any], base_dir: Path, env: Mapping[str, str],
                 known_drivers: tuple[str, ...], source: str = "config") -> AgentConfig:
    """Validate an already parsed TOML document; see :func:`load_config`."""

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {problem}")

    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (expected one of {', '.join(sorted(_TOP_KEYS))})")
    hub = raw.get("hub")
    if not isinstance(hub, str) or not hub.startswith(("http://", "https://")):
        raise fail("hub", "required, an http:// or https:// URL")
    state_dir = raw.get("state_dir", "agent-state")
    if not isinstance(state_dir, str) or not state_dir:
        raise fail("state_dir", "must be a folder path")
    poll = raw.get("poll_interval_s", 10)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or poll <= 0:
        raise fail("poll_interval_s", "must be a positive number of seconds")
    keep_days = raw.get("outbox_keep_days", 7)
    if isinstance(keep_days, bool) or not isinstance(keep_days, int | float) or keep_days < 0:
        raise fail("outbox_keep_days", "must be a number of days, 0 or more")
    keep_reports = raw.get("outbox_keep_reports", 1000)
    if isinstance(keep_reports, bool) or not isinstance(keep_reports, int) or keep_reports < 0:
        raise fail("outbox_keep_reports", "must be a whole number, 0 or more")
    try:
        accept = AcceptPolicy(raw.get("accept", "auto"))
    except ValueError:
        raise fail("accept", "must be \"auto\" or \"manual\"") from None
    machines_raw = raw.get("machines")
    if not isinstance(machines_raw, list) or not machines_raw:
        raise fail("machines", "at least one [[machines]] table is required")
    machines = tuple(_parse_machine(m, i, known_drivers, fail, base_dir) for i, m in enumerate(machines_raw))
    keys = [m.key for m in machines]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise fail("machines", f"machine key {dupes[0]!r} is used twice")
    token = _read_token(raw.get("token_file"), base_dir, env, fail)
    return AgentConfig(hub=hub.rstrip("/"), token=token, state_dir=(base_dir / state_dir).resolve(),
                       poll_interval_s=float(poll), accept=accept, machines=machines,
                       outbox_keep_days=float(keep_days), outbox_keep_reports=keep_reports)


def _parse_machine(m: Any, i: int, known_drivers: tuple[str, ...], fail: Any, base_dir: Path) -> MachineConfig:
    where = f"machines[{i}]"
    if not isinstance(m, dict):
        raise fail(where, "must be a table")
    key = m.get("key")
    if not isinstance(key, str) or not key.strip():
        raise fail(f"{where}.key", "required, a non-empty string")
    where = f"machines[{i}] ({key})"
    unknown = sorted(k for k in set(m) - _MACHINE_KEYS if not isinstance(m[k], dict))
    if unknown:
        raise fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(sorted(_MACHINE_KEYS))})")
    name = m.get("name", key)
    if not isinstance(name, str) or not name.strip():
        raise fail(f"{where}.name", "must be a non-empty string")
    process = m.get("process")
    if process not in PROCESSES:
        raise fail(f"{where}.process", f"required, one of {', '.join(PROCESSES)}")
    volume = m.get("build_volume_mm")
    if (not isinstance(volume, list) or len(volume) != 3
            or any(isinstance(v, bool) or not isinstance(v, int | float) or v <= 0 for v in volume)):
        raise fail(f"{where}.build_volume_mm", "required, three positive numbers [x, y, z] in mm")
    materials = m.get("materials", [])
    if not isinstance(materials, list) or any(not isinstance(x, str) or not x.strip() for x in materials):
        raise fail(f"{where}.materials", "must be a list of material names")
    driver = m.get("driver")
    if not isinstance(driver, str) or not driver:
        raise fail(f"{where}.driver", f"required, one of {', '.join(known_drivers)}")
    if driver not in known_drivers:
        raise fail(f"{where}.driver", f"unknown driver {driver!r} (available: {', '.join(known_drivers)})")
    speed = m.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or speed <= 0:
        raise fail(f"{where}.speed", "must be a positive number")
    options: dict[str, Any] = {k: v for k, v in m.items() if isinstance(v, dict)}
    if driver == "octoprint":
        if "octoprint" not in options:
            raise fail(f"{where}.driver", "driver \"octoprint\" needs a [machines.octoprint] table "
                                          "(url, api_key_file, slicer_config)")
        options["octoprint"] = _parse_octoprint(options["octoprint"], f"{where}.octoprint", base_dir, fail)
    x, y, z = (float(v) for v in volume)
    return MachineConfig(key=key, name=name, process=process, build_volume_mm=(x, y, z),
                         materials=tuple(s.strip() for s in materials), driver=driver, speed=float(speed),
                         options=options)


def _parse_octoprint(table: dict[str, Any], where: str, base_dir: Path, fail: Any) -> OctoPrintSettings:
    unknown = sorted(set(table) - _OCTOPRINT_KEYS)
    if unknown:
        raise fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(sorted(_OCTOPRINT_KEYS))})")
    url = table.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise fail(f"{where}.url", "required, an http:// or https:// URL")
    key_file = table.get("api_key_file")
    if not isinstance(key_file, str) or not key_file:
        raise fail(f"{where}.api_key_file", "required, the path of a file holding the OctoPrint API key")
    key_path = base_dir / key_file
    try:
        api_key = key_path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise fail(f"{where}.api_key_file", f"not found: {key_path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{where}.api_key_file", f"cannot read {key_path}: {exc.__class__.__name__}") from None
    if not api_key:
        raise fail(f"{where}.api_key_file", f"{key_path} is empty")
    ini = table.get("slicer_config")
    if not isinstance(ini, str) or not ini:
        raise fail(f"{where}.slicer_config", "required, the path of a PrusaSlicer .ini profile")
    ini_path = (base_dir / ini).resolve()
    if not ini_path.is_file():
        raise fail(f"{where}.slicer_config", f"not found: {ini_path}")
    slicer = table.get("slicer")
    if slicer is not None:
        if not isinstance(slicer, str) or not slicer.strip():
            raise fail(f"{where}.slicer", "must be a program name or path")
        # A bare name is looked up on PATH when slicing; a path is relative to the config's folder.
        slicer = str((base_dir / slicer).resolve()) if ("/" in slicer or os.sep in slicer) else slicer
    timeout = table.get("slice_timeout_s", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise fail(f"{where}.slice_timeout_s", "must be a positive number of seconds")
    return OctoPrintSettings(url=url.rstrip("/"), api_key=Secret(api_key), slicer_config=ini_path, slicer=slicer,
                             slice_timeout_s=float(timeout))


def _read_token(token_file: Any, base_dir: Path, env: Mapping[str, str], fail: Any) -> Secret:
    problem = ""
    if token_file is not None:
        if not isinstance(token_file, str) or not token_file:
            raise fail("token_file", "must be a file path")
        token_path = base_dir / token_file
        try:
            value = token_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            problem = f"token_file not found: {token_path}"
        except (OSError, UnicodeDecodeError) as exc:
            problem = f"cannot read token_file {token_path}: {exc.__class__.__name__}"
        else:
            if value:
                return Secret(value)
            problem = f"token_file {token_path} is empty"
    value = env.get(TOKEN_ENV, "").strip()
    if value:
        return Secret(value)
    raise fail("token_file", problem or f"no node token: set token_file or the {TOKEN_ENV} variable")


class TokenRedactionFilter(logging.Filter):
    """Replaces the token by ``********`` in any record that would carry it (message, arguments, traceback)."""

    def __init__(self, secret: Secret) -> None:
        super().__init__()
        self._value = secret.reveal()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._value:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a badly formatted record: leave it to the handler
            return True
        if self._value in message:
            record.msg = message.replace(self._value, "********")
            record.args = None
        if record.exc_text and self._value in record.exc_text:
            record.exc_text = record.exc_text.replace(self._value, "********")
        return True


def install_redaction(secret: Secret, logger: logging.Logger | None = None) -> TokenRedactionFilter:
    """Attach a :class:`TokenRedactionFilter` to the handlers of ``logger`` (default: the root logger)
    and to the ``fablab_nodes`` logger; returns the filter so a caller can remove it."""
    flt = TokenRedactionFilter(secret)
    target = logger or logging.getLogger()
    for handler in target.handlers:
        handler.addFilter(flt)
    logging.getLogger("fablab_nodes").addFilter(flt)
    return flt
