"""Accounts API: sign up, exchange credentials for a personal token, list and revoke tokens."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from cosmoloc_contract import accounts as contract
from server.accounts import schemas, service
from server.edge import current_account, db, idempotent, json_body
from server.errors import ApiError
from server.openapi import Auth, operation
from server.ratelimits import password_change_limit, signin_limits, signup_limit

bp = Blueprint("accounts_api", __name__, url_prefix="/api/v1")


@bp.post("/accounts")
@operation("Create an account", auth=Auth.NONE, body=contract.NewAccount, answers={201: contract.Account},
           errors=(409,), idempotent=True)
@signup_limit
@idempotent("accounts")
def create_account() -> tuple[dict[str, Any], int]:
    body = json_body(contract.NewAccount)
    account = service.create_account(db(), body.email, body.password, body.name)
    return schemas.account_json(account), 201


@bp.post("/auth/tokens")
@operation("Exchange an email and password for a personal token", auth=Auth.NONE, body=contract.Credentials,
           answers={201: contract.NewToken}, errors=(401,))
@signin_limits
def create_token() -> Any:
    body = json_body(contract.Credentials)
    account = service.authenticate(db(), body.email, body.password)
    if account is None:
        raise ApiError(401, "bad_credentials", "The email or password is wrong.")
    row, token = service.issue_token(db(), account, body.name or "api")
    db().commit()
    return jsonify(schemas.new_token_json(row, token)), 201


@bp.get("/account")
@operation("The account of the caller", auth=Auth.PERSONAL, answers={200: contract.Account})
def me() -> Any:
    return jsonify(schemas.account_json(current_account()))


@bp.put("/account/password")
@operation("Change the password: every other web session ends, personal tokens too if asked",
           auth=Auth.PERSONAL, body=contract.PasswordChange, answers={200: contract.PasswordChanged})
@password_change_limit
def change_password() -> Any:
    body = json_body(contract.PasswordChange)
    changed = service.change_password(db(), current_account(), body.current_password, body.new_password,
                                      revoke_tokens=body.revoke_tokens)
    db().commit()
    return jsonify(contract.PasswordChanged.model_validate(changed).to_json())


@bp.get("/auth/tokens")
@operation("The caller's personal tokens (never the tokens themselves)", auth=Auth.PERSONAL,
           answers={200: contract.TokenList})
def list_tokens() -> Any:
    rows = service.list_tokens(db(), current_account())
    return jsonify(contract.TokenList(items=[schemas.token_info(t) for t in rows]).to_json())


@bp.delete("/auth/tokens/<int:token_id>")
@operation("Revoke a personal token", auth=Auth.PERSONAL, answers={204: None})
def revoke_token(token_id: int) -> Any:
    service.revoke_token(db(), current_account(), token_id)
    db().commit()
    return "", 204
