"""Where ``cosmoloc ledger verify`` and ``export`` read a chain from: a hub over HTTP, an export file, or the
hub's own database. The first two need nothing but the standard library and ``design_commons``."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


class SourceError(Exception):
    """The chain could not be read at all (unreachable hub, unreadable file): a usage or I/O error, exit 2."""


PAGE = 1000


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "cosmoloc-ledger-verify"})
    for attempt in range(3):
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (the URL is the user's)
                body = json.loads(response.read().decode("utf-8"))
                if not isinstance(body, dict):
                    raise SourceError(f"{url} did not answer a JSON object")
                return body
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == 2:
                raise SourceError(f"{url} answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == 2:
                raise SourceError(f"cannot reach {url}: {exc}") from None
        except (ValueError, UnicodeDecodeError):
            raise SourceError(f"{url} did not answer JSON") from None
    raise SourceError(f"cannot read {url}")  # not reached


def from_hub(base_url: str, timeout_s: float = 30.0, progress: Callable[[int], None] | None = None
             ) -> tuple[list[dict[str, Any]], str]:
    """Every event of the hub at ``base_url`` (``GET /api/v1/ledger/events`` page by page) and its head."""
    if not base_url.startswith(("http://", "https://")):
        raise SourceError("--hub takes a URL starting with http:// or https://")
    base = base_url.rstrip("/") + "/api/v1/ledger/events"
    events: list[dict[str, Any]] = []
    after, head = 0, ""
    while True:
        page = _get_json(f"{base}?{urllib.parse.urlencode({'after': after, 'limit': PAGE})}", timeout_s)
        items, head = page.get("items") or [], str(page.get("head") or "")
        events.extend(items)
        if progress and items:
            progress(len(items))
        if not items or page.get("next_after") is None:
            return events, head
        after = int(items[-1]["seq"])


def from_file(path: str) -> tuple[list[dict[str, Any]], str | None]:
    """The events of an export file: ``{"items": [...], "head"?}`` as the API answers, or a plain list."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None
    if isinstance(doc, list):
        return doc, None
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        head = doc.get("head")
        return doc["items"], head if isinstance(head, str) else None
    raise SourceError(f"{path} holds neither a list of events nor {{\"items\": [...]}}")


def from_database() -> tuple[list[dict[str, Any]], None]:
    """Every event in the configured hub's database (COSMOLOC_DATABASE_URL / COSMOLOC_DATA_DIR). No head is
    returned: the table is the chain itself (a hub or a file is checked against the head it states)."""
    from sqlalchemy.exc import SQLAlchemyError

    from server.config import ConfigError, Settings
    from server.db import Database
    from server.ledger import service

    try:
        database = Database(Settings.from_env().database_url)
    except ConfigError as exc:
        raise SourceError(str(exc)) from None
    try:
        with database.session() as session:
            return list(service.all_events(session)), None
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot read the hub's database: {type(exc).__name__}") from None
    finally:
        database.dispose()
