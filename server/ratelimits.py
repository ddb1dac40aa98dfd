"""Rate limits on the doors a stranger can knock on without an account: sign-in, sign-up, validation.

Each rate is a limit in ``DEFAULT_LIMITS`` (``signin_per_address``, ``signin_per_account``,
``signup_per_address``, ``validate_per_address``), read when the request comes, so
``COSMOLOC_LIMITS`` changes them without code. Counts are shared between the API and the web
form of the same door (one ``scope``), so alternating the two does not double the attempts.
Past a limit the API answers 429 problem+json ``rate_limited`` with ``Retry-After`` (seconds)
and the web a page saying when to try again.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, render_template, request
from flask_limiter import RateLimitExceeded

from server.errors import problem
from server.extensions import limiter

F = Callable[..., Any]


def _rate(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config["COSMOLOC"].limit(name))


def _account_key() -> str:
    """The email a sign-in names (JSON body or form), lower-cased: the key of the per-account limit."""
    data: Any = request.get_json(silent=True) if request.is_json else request.form
    email = data.get("email") if hasattr(data, "get") else None
    return "account:" + (email.strip().lower()[:320] if isinstance(email, str) else "")


def _wrong_password(response: Response) -> bool:
    return response.status_code == 401


def signin_limits(view: F) -> F:
    """Per address (every attempt) and per account (wrong passwords only, from any address)."""
    view = limiter.shared_limit(_rate("signin_per_account"), scope="signin-account", key_func=_account_key,
                                methods=["POST"], deduct_when=_wrong_password)(view)
    return limiter.shared_limit(_rate("signin_per_address"), scope="signin-address", methods=["POST"])(view)


def password_change_limit(view: F) -> F:
    """Per address, counted with sign-in: a stolen session must not become a password-guessing oracle."""
    return limiter.shared_limit(_rate("signin_per_address"), scope="signin-address", methods=["POST", "PUT"])(view)


def signup_limit(view: F) -> F:
    """Per address: new accounts from one client."""
    return limiter.shared_limit(_rate("signup_per_address"), scope="signup-address", methods=["POST"])(view)


def validate_limit(view: F) -> F:
    """Per address: sandboxes started by one client."""
    return limiter.shared_limit(_rate("validate_per_address"), scope="validate-address", methods=["POST"])(view)


def _retry_after_s() -> int:
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def init_app(app: Flask) -> None:
    """Count in memory on the embedded default, in Redis when the hub has one (shared by every process)."""
    settings = app.config["COSMOLOC"]
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url or "memory://"
    # A Redis that is away for a moment must not turn every sign-in into a 500: count in memory meanwhile.
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = bool(settings.redis_url)
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded) -> Any:
        wait = _retry_after_s()
        if request.path.startswith("/api/"):
            response = problem(429, "rate_limited", f"Too many attempts; try again in {wait} seconds.")
        else:
            minutes = max(1, math.ceil(wait / 60))
            page = render_template("error.html", status=429, title="Too many attempts",
                                   detail=f"Too many attempts from here. Please wait {minutes} minute"
                                          f"{'s' if minutes > 1 else ''} and try again.")
            response = current_app.make_response((page, 429))
        response.headers["Retry-After"] = str(wait)
        return response
