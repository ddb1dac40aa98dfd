"""Settings: defaults in code, secrets and deployment choices from the environment, fail fast."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A setting is missing or malformed; the hub refuses to start."""


#: Every bound a stranger can run into, with its default. One variable holds any changes:
#: ``COSMOLOC_LIMITS="signin_per_address=100/minute sandboxes=4"`` (space-separated ``name=value``).
#: Rates are flask-limiter strings (``10/minute;100/hour``); the rest are integers.
DEFAULT_LIMITS: dict[str, str] = {
    # request bodies and their shape
    "json_body_bytes": "1048576",  # a JSON body over this is a 413 before it is parsed
    "json_depth": "64",  # JSON nested deeper is a 422
    # design files and their validation
    "sandboxes": "2",  # sandboxed validations at once per process (/validate and background alike), up to 2 GiB each
    "sandbox_wait_s": "2",  # how long POST /validate waits for a free sandbox before 503 busy
    "sandbox_seconds": "60",  # CPU seconds one sandboxed validation may use (the wall-clock bound is 2x + 10 s)
    "validations_running_per_account": "1",  # in-process: one account's files validated at once, others take turns
    "pending_validations_per_account": "20",  # files of one account waiting for validation; more is a 429
    "stored_mb_per_account": "2048",  # bytes of design files one account may keep; more is a 413
    "orphan_blob_grace_s": "1800",  # a stored file no row points at is removed once older than this
    "blob_sweep_interval_s": "300",  # how often each hub process looks for such files (0: never)
}


def parse_limits(raw: str) -> dict[str, str]:
    """Parse ``COSMOLOC_LIMITS`` (``name=value`` pairs, space-separated); unknown names fail fast."""
    out: dict[str, str] = {}
    for item in raw.split():
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise ConfigError(f"COSMOLOC_LIMITS: {item!r} is not name=value")
        if name not in DEFAULT_LIMITS:
            raise ConfigError(f"COSMOLOC_LIMITS: unknown limit {name!r} (known: {', '.join(sorted(DEFAULT_LIMITS))})")
        out[name] = value
    return out


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("instance"))
    database_url: str = ""
    secret_key: str = ""
    redis_url: str = ""
    offer_ttl_s: int = 900
    node_stale_after_s: int = 300
    max_upload_mb: int = 100
    poll_interval_s: int = 10  # how often agents are asked to heartbeat and poll
    # background work in-process (embedded default) runs on this many threads
    inline_workers: int = 2
    # run background work synchronously inside the request (tests that want determinism)
    eager_tasks: bool = False
    base_url: str = ""
    # how often this process expires offers and retries unmatched orders (0: never, for tests)
    sweeper_interval_s: float = 2.0
    # map tiles of the web pages' lab map ({z}/{x}/{y} template)
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    # the bounds of DEFAULT_LIMITS, with any changes from COSMOLOC_LIMITS or overrides applied
    limits: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        data_dir = Path(os.environ.get("COSMOLOC_DATA_DIR", "instance")).resolve()
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "database_url": os.environ.get("COSMOLOC_DATABASE_URL", ""),
            "secret_key": os.environ.get("COSMOLOC_SECRET_KEY", ""),
            "redis_url": os.environ.get("COSMOLOC_REDIS_URL", ""),
            "offer_ttl_s": _int("COSMOLOC_OFFER_TTL_S", 900),
            "node_stale_after_s": _int("COSMOLOC_NODE_STALE_AFTER_S", 300),
            "max_upload_mb": _int("COSMOLOC_MAX_UPLOAD_MB", 100),
            "poll_interval_s": _int("COSMOLOC_POLL_INTERVAL_S", 10),
            "base_url": os.environ.get("COSMOLOC_BASE_URL", ""),
            "tile_url": os.environ.get("COSMOLOC_TILE_URL") or "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "limits": parse_limits(os.environ.get("COSMOLOC_LIMITS", "")),
        }
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise ConfigError(f"unknown setting {key!r}")
            values[key] = value
        if "limits" in overrides:  # overrides add to the environment's changes, checked the same way
            values["limits"] = {**parse_limits(os.environ.get("COSMOLOC_LIMITS", "")),
                                **parse_limits(" ".join(f"{k}={v}" for k, v in overrides["limits"].items()))}
        settings = cls(**values)
        settings.data_dir = Path(settings.data_dir).resolve()
        settings.finish()
        return settings

    def finish(self) -> None:
        """Fill derived defaults: the SQLite URL and the secret key kept in the data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'cosmoloc.sqlite3'}"
        if self.max_upload_mb <= 0:
            raise ConfigError("COSMOLOC_MAX_UPLOAD_MB must be positive")
        for name, value in self.limits.items():
            if "/" not in DEFAULT_LIMITS[name] and not value.isdigit():
                raise ConfigError(f"COSMOLOC_LIMITS: {name} must be a whole number, got {value!r}")
        if not self.secret_key:
            key_file = self.data_dir / "secret_key"
            if not key_file.exists():
                key_file.write_text(secrets.token_hex(32))
                key_file.chmod(0o600)
            self.secret_key = key_file.read_text().strip()

    def limit(self, name: str) -> str:
        """One bound as its text (a rate string or an integer)."""
        return self.limits.get(name) or DEFAULT_LIMITS[name]

    def limit_int(self, name: str) -> int:
        """One integer bound; a malformed value fails when the hub starts (see ``finish``)."""
        return int(self.limit(name))

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
