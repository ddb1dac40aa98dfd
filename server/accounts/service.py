"""Accounts, passwords (argon2) and personal tokens (shown once, stored as sha256)."""
from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.accounts.models import Account, ApiToken
from server.db import utcnow
from server.errors import ApiError, invalid
from server.input_rules import check_name

PERSONAL_TOKEN_PREFIX = "clp_"
MIN_PASSWORD = 8
_hasher = PasswordHasher()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_account(session: Session, email: str, password: str, name: str) -> Account:
    """Create an account; 409 ``email_taken`` if the address is in use, 422 for a weak password."""
    email, name = email.strip().lower(), check_name(name.strip(), "name", "The name")
    if not 1 <= len(name) <= 200 or len(email) > 320:  # the columns' sizes: the web form reaches here unchecked
        raise invalid("A name is 1 to 200 characters and an email address at most 320.",
                      {"name": ["1 to 200 characters"]})
    if len(password) < MIN_PASSWORD:
        raise invalid(f"The password needs at least {MIN_PASSWORD} characters.",
                      {"password": [f"at least {MIN_PASSWORD} characters"]}, code="weak_password")
    if session.scalar(select(Account.id).where(Account.email == email)) is not None:
        raise ApiError(409, "email_taken", "An account with this email already exists.")
    account = Account(email=email, name=name, password_hash=_hasher.hash(password))
    session.add(account)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ApiError(409, "email_taken", "An account with this email already exists.") from None
    return account


def authenticate(session: Session, email: str, password: str) -> Account | None:
    account = session.scalar(select(Account).where(Account.email == email.strip().lower()))
    if account is None:
        _hasher.hash(password)  # spend the same time whether or not the account exists
        return None
    try:
        _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


def issue_token(session: Session, account: Account, name: str = "") -> tuple[ApiToken, str]:
    """Make a personal token; return the row and the token itself (shown once, never stored)."""
    token = PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(account=account, name=name[:100], prefix=token[:10], token_hash=hash_token(token))
    session.add(row)
    session.flush()
    return row, token


def account_for_token(session: Session, token: str) -> Account | None:
    """The account of a personal token that is not revoked (one query), else None."""
    return session.scalar(select(Account).join(ApiToken, ApiToken.account_id == Account.id)
                          .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)))


def get_account(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def list_tokens(session: Session, account: Account) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.account_id == account.id,
                                                       ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)))


def revoke_token(session: Session, account: Account, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or row.account_id != account.id or row.revoked_at is not None:
        raise ApiError(404, "not_found", "No such token.")
    row.revoked_at = utcnow()
