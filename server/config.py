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
    # the HTTP server (cosmoloc serve)
    "body_timeout_s": "60",  # longest pause within a request body, and its base time (408 past it)
    "body_min_rate_bps": "16384",  # a body may take one more second per this many bytes
    "threads_per_worker": "16",  # threads of a worker process that run requests
    "requests_per_worker": "5000",  # a worker process is replaced after about this many requests
    # labs and orders
    "machines_per_lab": "50",  # machines one lab may have in all (registration, PATCH, heartbeats)
    "open_orders_per_account": "20",  # orders of one citizen not yet finished (validating ... in production)
    "orders_per_account_hour": "30",  # orders one citizen may place in any 60 minutes
    # free text
    "description_chars": "20000",  # a design's description longer than this is a 422 (a lab's: 5000)
    # attempts per client address (the socket peer, see COSMOLOC_TRUSTED_PROXIES) and per account;
    # past one: 429 rate_limited with Retry-After. A whole office behind one NAT shares an address.
    "signin_per_address": "30/minute;300/hour",  # sign-in attempts (API tokens and /login), right or wrong
    "signin_per_account": "10/minute;50/hour",  # wrong passwords for one email, from anywhere
    "signup_per_address": "5/minute;20/hour",  # new accounts (API and /signup)
    "validate_per_address": "10/minute;100/hour",  # anonymous POST /api/v1/validate sandboxes
    # web sessions end this long after sign-in (seconds; signing out or changing the password ends them sooner)
    "session_max_age_s": "1209600",
    # design files and their validation
    "sandboxes": "3",  # sandboxed validations at once per process, up to 2 GiB each; background work takes all but one
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


def _check_rate(name: str, value: str) -> None:
    """A rate must read as flask-limiter reads it (``10/minute;100/hour``), or the hub does not start."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"COSMOLOC_LIMITS: {name} must be a rate such as 10/minute;100/hour, got {value!r}") from None


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
    # how many reverse proxies in front of the hub append to X-Forwarded-For (0: the socket peer is the client)
    trusted_proxies: int = 0
    # PrusaSlicer for the reference slices of quotes: "auto" (found on PATH), "off", or the program to run
    slicer: str = "auto"
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
            "trusted_proxies": _int("COSMOLOC_TRUSTED_PROXIES", 0),
            "slicer": os.environ.get("COSMOLOC_SLICER", "auto"),
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
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.data_dir.stat().st_mode & 0o077:
            # the database, the secret key and every stored file are inside: the hub's user alone may enter
            self.data_dir.chmod(0o700)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'cosmoloc.sqlite3'}"
        if self.max_upload_mb <= 0:
            raise ConfigError("COSMOLOC_MAX_UPLOAD_MB must be positive")
        for name, value in self.limits.items():
            if "/" not in DEFAULT_LIMITS[name] and not (value.isascii() and value.isdigit()):
                raise ConfigError(f"COSMOLOC_LIMITS: {name} must be a whole number, got {value!r}")
            if "/" in DEFAULT_LIMITS[name]:
                _check_rate(name, value)
        if not self.secret_key:
            key_file = self.data_dir / "secret_key"
            if not key_file.exists():
                try:  # created readable by the owner alone, never for a moment by others
                    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:  # another process of this hub made it first
                    pass
                else:
                    with os.fdopen(fd, "w") as out:
                        out.write(secrets.token_hex(32))
            elif key_file.stat().st_mode & 0o077:
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
