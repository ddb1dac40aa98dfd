"""A browser-like test client for the web pages: keeps the session, reads CSRF tokens from forms."""
from __future__ import annotations

import re
import uuid
from typing import Any

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf[-_]token" (?:value|content)="([^"]+)"')
ALERT = re.compile(r'role="alert"[^>]*>(.*?)</(?:div|p)>', re.S)


def csrf_from(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def alert_text(html: str) -> str:
    found = ALERT.search(html)
    assert found, "no error shown on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).replace("&#39;", "'").strip()


class WebUser:
    """One person using the site through Flask's test client (a browser without JavaScript)."""

    def __init__(self, app: Any, name: str = "someone", sign_up: bool = True) -> None:
        self.client = app.test_client()
        self.email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.org"
        self.name = name
        if sign_up:
            r = self.submit("/signup", {"name": name, "email": self.email, "password": PASSWORD})
            assert r.status_code == 303, r.text

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def token(self, page: str = "/") -> str:
        return csrf_from(self.client.get(page).text)

    def submit(self, url: str, data: dict[str, Any], **kw: Any) -> Any:
        """POST a form as the browser would, with the session's CSRF token (every page carries it)."""
        return self.client.post(url, data={"csrf_token": self.token(), **data}, **kw)
