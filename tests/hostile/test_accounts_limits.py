"""Hostile clients against accounts: password guessing, sign-up floods, sessions, weak passwords,
Idempotency-Key replays, secrets in logs and on disk.

Real hub processes (``start_hub``) on SQLite and PostgreSQL, loopback only, bounded in count and time.
"""
from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf[-_]token" (?:value|content)="([^"]+)"')


def sign_up(url: str, email: str, password: str = PASSWORD, **headers: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/accounts", json={"email": email, "password": password, "name": "Victim"},
                         headers=headers, timeout=30)


def sign_in(url: str, email: str, password: str, **headers: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/auth/tokens", json={"email": email, "password": password},
                         headers=headers, timeout=30)


def web_login(url: str, email: str, password: str) -> requests.Response:
    browser = requests.Session()
    token = CSRF.search(browser.get(f"{url}/login", timeout=30).text)
    assert token, "no CSRF token on the sign-in page"
    return browser.post(f"{url}/login", data={"csrf_token": token.group(1), "email": email, "password": password},
                        allow_redirects=False, timeout=30)


def assert_rate_limited(r: requests.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 3600


def test_guessing_one_password_locks_the_account_not_the_guesser_s_luck(start_hub: Any) -> None:
    """With the production defaults: 30 wrong passwords, then the right one does not get in (today it does)."""
    from server.config import DEFAULT_LIMITS

    hub = start_hub(limits={name: DEFAULT_LIMITS[name] for name in ("signin_per_address", "signin_per_account")})
    email = f"victim-{uuid.uuid4().hex[:6]}@example.org"
    assert sign_up(hub.url, email).status_code == 201
    started = time.monotonic()
    answers = [sign_in(hub.url, email, f"guess number {n}").status_code for n in range(30)]
    assert set(answers) <= {401, 429} and answers[0] == 401 and 429 in answers
    assert_rate_limited(sign_in(hub.url, email, PASSWORD))
    # the web form counts against the same account: switching doors does not buy more guesses
    page = web_login(hub.url, email, PASSWORD)
    assert page.status_code == 429 and "Too many attempts" in page.text and int(page.headers["Retry-After"]) >= 1
    # another account is not locked by the guessing
    other = f"other-{uuid.uuid4().hex[:6]}@example.org"
    assert sign_up(hub.url, other).status_code == 201
    assert sign_in(hub.url, other, PASSWORD).status_code == 201
    assert time.monotonic() - started < 60


def test_addresses_are_counted_by_socket_peer_not_forwarded_for(start_hub: Any) -> None:
    """Sign-in, sign-up and validation per address; a forged X-Forwarded-For does not reset the count."""
    hub = start_hub(limits={"signin_per_address": "5/minute", "signup_per_address": "3/minute",
                            "validate_per_address": "2/minute"})
    fresh = [f"n{n}-{uuid.uuid4().hex[:6]}@example.org" for n in range(4)]
    signups = [sign_up(hub.url, email, **{"X-Forwarded-For": f"10.0.0.{n}"}) for n, email in enumerate(fresh)]
    assert [r.status_code for r in signups[:3]] == [201, 201, 201]
    assert_rate_limited(signups[3])
    tries = [sign_in(hub.url, f"nobody{n}@example.org", "whatever it is", **{"X-Forwarded-For": f"10.1.0.{n}"})
             for n in range(6)]
    assert [r.status_code for r in tries[:5]] == [401] * 5
    assert_rate_limited(tries[5])
    stl = b"solid x\nendsolid x\n"
    checks = [requests.post(f"{hub.url}/api/v1/validate", files={"file": ("x.stl", stl)}, timeout=60) for _ in range(3)]
    assert checks[0].status_code == 200 and checks[1].status_code == 200
    assert_rate_limited(checks[2])
