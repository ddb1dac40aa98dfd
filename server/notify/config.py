"""The notification settings, read from the environment (``COSMOLOC_SMTP_URL`` and friends)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from server.config import ConfigError


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    username: str | None
    password: str | None


def parse_smtp_url(raw: str) -> Smtp | None:
    """``smtp://host:port`` or ``smtps://user:pass@host[:port]``; empty: email is off."""
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"COSMOLOC_SMTP_URL must be smtp://host:port or smtps://user:pass@host, got {parts.scheme!r}")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise ConfigError("COSMOLOC_SMTP_URL has a malformed port") from None
    return Smtp(host=parts.hostname, port=port, tls=parts.scheme == "smtps",
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None)


@dataclass(frozen=True)
class NotifySettings:
    smtp: Smtp | None
    mail_from: str
    allow_private_webhooks: bool

    @property
    def email_on(self) -> bool:
        return self.smtp is not None

    @classmethod
    def from_env(cls) -> NotifySettings:
        smtp = parse_smtp_url(os.environ.get("COSMOLOC_SMTP_URL", "").strip())
        mail_from = os.environ.get("COSMOLOC_MAIL_FROM", "").strip()
        if smtp is not None and not mail_from:
            raise ConfigError("COSMOLOC_MAIL_FROM must be set when COSMOLOC_SMTP_URL is")
        return cls(smtp=smtp, mail_from=mail_from,
                   allow_private_webhooks=os.environ.get("COSMOLOC_WEBHOOKS_ALLOW_PRIVATE", "") == "1")
