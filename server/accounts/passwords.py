"""Passwords: how strong a new one must be (zxcvbn), and hashing (argon2id).

Hashing and verifying take ~0.3 s of CPU each by design: callers do them with no database
transaction open (see ``server.db.read_then_release``).
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from server.errors import invalid

MIN_LENGTH = 8
#: zxcvbn's score 0-4; 3 is "safely unguessable: moderate protection from an offline attack" (~10^10 guesses)
MIN_SCORE = 3
#: zxcvbn refuses longer input; the first characters of a longer password decide its strength
_SCORED_CHARS = 72

_hasher = PasswordHasher()


def check_strength(password: str, *context: str) -> None:
    """Refuse a password that is short, common or guessable: 422 ``weak_password`` saying why.

    ``context`` (the email, the name) counts as known to an attacker: a password built from it is weaker.
    """
    if len(password) < MIN_LENGTH:
        raise _weak(f"The password needs at least {MIN_LENGTH} characters.", f"at least {MIN_LENGTH} characters")
    inputs = [part for text in context for part in text.replace("@", " ").replace(".", " ").split() if part]
    result = zxcvbn(password[:_SCORED_CHARS], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        why = feedback.get("warning") or "This password is easy to guess."
        hints = " ".join(feedback.get("suggestions") or ["Use a few uncommon words together."])
        raise _weak(f"{why} {hints}".strip(), why)


def _weak(detail: str, field: str) -> Exception:
    return invalid(detail, {"password": [field]}, code="weak_password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash`` (a malformed hash never matches)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def spend_a_verify(password: str) -> None:
    """Take as long as a real check, so a wrong email answers no faster than a wrong password."""
    _hasher.hash(password)
