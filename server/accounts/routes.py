"""Accounts API: sign up, exchange credentials for a personal token, list and revoke tokens."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from server.accounts import schemas, service
from server.edge import current_account, db, idempotent, json_body
from server.errors import ApiError
from server.ratelimits import password_change_limit, signin_limits, signup_limit

bp = Blueprint("accounts_api", __name__, url_prefix="/api/v1")


@bp.post("/accounts")
@signup_limit
@idempotent("accounts")
def create_account() -> tuple[dict[str, Any], int]:
    body = json_body(schemas.NewAccount)
    account = service.create_account(db(), body.email, body.password, body.name)
    return schemas.account_json(account), 201


@bp.post("/auth/tokens")
@signin_limits
def create_token() -> Any:
    body = json_body(schemas.Credentials)
    account = service.authenticate(db(), body.email, body.password)
    if account is None:
        raise ApiError(401, "bad_credentials", "The email or password is wrong.")
    row, token = service.issue_token(db(), account, body.name or "api")
    db().commit()
    return jsonify({"token": token, **schemas.token_json(row)}), 201


@bp.get("/account")
def me() -> Any:
    return jsonify(schemas.account_json(current_account()))


@bp.put("/account/password")
@password_change_limit
def change_password() -> Any:
    body = json_body(schemas.PasswordChange)
    changed = service.change_password(db(), current_account(), body.current_password, body.new_password,
                                      revoke_tokens=body.revoke_tokens)
    db().commit()
    return jsonify(changed)


@bp.get("/auth/tokens")
def list_tokens() -> Any:
    rows = service.list_tokens(db(), current_account())
    return jsonify({"items": [schemas.token_json(t) for t in rows]})


@bp.delete("/auth/tokens/<int:token_id>")
def revoke_token(token_id: int) -> Any:
    service.revoke_token(db(), current_account(), token_id)
    db().commit()
    return "", 204
