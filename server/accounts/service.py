"""Accounts, passwords (argon2) and personal tokens (shown once, stored as sha256)."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.accounts import passwords, sessions
from server.accounts.models import Account, ApiToken
from server.db import read_then_release, utcnow
from server.errors import ApiError, invalid
from server.input_rules import check_name

PERSONAL_TOKEN_PREFIX = "clp_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_account(session: Session, email: str, password: str, name: str) -> Account:
    """Create an account; 409 ``email_taken`` if the address is in use, 422 ``weak_password``.

    The password is hashed before the first query, so no write transaction waits on argon2.
    """
    email, name = email.strip().lower(), check_name(name.strip(), "name", "The name")
    if not 1 <= len(name) <= 200 or len(email) > 320:  # the columns' sizes: the web form reaches here unchecked
        raise invalid("A name is 1 to 200 characters and an email address at most 320.",
                      {"name": ["1 to 200 characters"]})
    passwords.check_strength(password, email, name)
    password_hash = passwords.hash_password(password)
    if session.scalar(select(Account.id).where(Account.email == email)) is not None:
        raise ApiError(409, "email_taken", "An account with this email already exists.")
    account = Account(email=email, name=name, password_hash=password_hash)
    session.add(account)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ApiError(409, "email_taken", "An account with this email already exists.") from None
    return account


@dataclass(frozen=True)
class _Stored:
    id: int
    password_hash: str


def _checked(session: Session, where: ColumnElement[bool], password: str) -> _Stored | None:
    """Read an account's hash in a read transaction, then verify with none open; None if it does not match."""
    with read_then_release(session):
        row = session.execute(select(Account.id, Account.password_hash).where(where)).first()
    if row is None:
        passwords.spend_a_verify(password)
        return None
    if not passwords.verify(row.password_hash, password):
        return None
    return _Stored(row.id, row.password_hash)


def _set_hash(session: Session, stored: _Stored, new_hash: str) -> bool:
    """Replace the hash if nobody changed it since it was read; False if someone did."""
    result = session.execute(update(Account).where(Account.id == stored.id, Account.password_hash == stored.password_hash)
                             .values(password_hash=new_hash))
    return bool(getattr(result, "rowcount", 0))


def authenticate(session: Session, email: str, password: str) -> Account | None:
    """The account whose email and password these are, else None.

    argon2 runs with no transaction open: on SQLite a sign-in used to hold the only write lock
    through it (~0.3 s), so guessers stalled every heartbeat. Only the upgrade of an outdated
    hash writes, after the hashing, in the request's own short write transaction.
    """
    stored = _checked(session, Account.email == email.strip().lower(), password)
    if stored is None:
        return None
    if passwords.needs_rehash(stored.password_hash):
        _set_hash(session, stored, passwords.hash_password(password))
    return session.get(Account, stored.id)


def change_password(session: Session, account: Account, current: str, new: str, revoke_tokens: bool = False) -> dict[str, int]:
    """Change the password: every web session of the account ends, and its tokens too if asked.

    422 ``wrong_password`` if ``current`` is not the password, 422 ``weak_password`` for a weak
    ``new``, 409 ``password_changed`` if another request changed it meanwhile. Returns how many
    sessions ended and tokens were revoked. Personal tokens otherwise stay valid (as on GitHub):
    scripts keep working, and the tokens page lists and revokes them.
    """
    account_id, email, name = account.id, account.email, account.name
    stored = _checked(session, Account.id == account_id, current)
    if stored is None:
        raise invalid("The current password is wrong.", {"current_password": ["wrong password"]}, code="wrong_password")
    passwords.check_strength(new, email, name)
    if not _set_hash(session, stored, passwords.hash_password(new)):
        raise ApiError(409, "password_changed", "The password was changed meanwhile; sign in again.")
    ended = sessions.end_all(session, account_id)
    revoked = 0
    if revoke_tokens:
        result = session.execute(update(ApiToken).where(ApiToken.account_id == account_id, ApiToken.revoked_at.is_(None))
                                 .values(revoked_at=utcnow()))
        revoked = int(getattr(result, "rowcount", 0) or 0)
    return {"sessions_ended": ended, "tokens_revoked": revoked}


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
