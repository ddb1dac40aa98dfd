"""Signed links: one-click unsubscribe (no session, no expiry) and email confirmation (a week)."""
from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

CONFIRM_MAX_AGE_S = 7 * 24 * 3600


def unsubscribe_token(secret: str, account_id: int, kind: str) -> str:
    return URLSafeSerializer(secret, salt="cosmoloc.unsubscribe").dumps({"a": account_id, "k": kind})


def read_unsubscribe(secret: str, token: str) -> tuple[int, str] | None:
    """(account id, kind) of a genuine unsubscribe token, else None."""
    try:
        data = URLSafeSerializer(secret, salt="cosmoloc.unsubscribe").loads(token)
        return int(data["a"]), str(data["k"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def confirm_token(secret: str, account_id: int, email: str) -> str:
    return URLSafeTimedSerializer(secret, salt="cosmoloc.confirm-email").dumps({"a": account_id, "e": email})


def read_confirm(secret: str, token: str) -> tuple[int, str] | None:
    """(account id, address) of a genuine confirmation token younger than a week, else None."""
    try:
        data = URLSafeTimedSerializer(secret, salt="cosmoloc.confirm-email").loads(token, max_age=CONFIRM_MAX_AGE_S)
        return int(data["a"]), str(data["e"])
    except (SignatureExpired, BadSignature, KeyError, TypeError, ValueError):
        return None
