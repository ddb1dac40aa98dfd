"""The accounts API's answers, built through the contract's models (cosmoloc_contract.accounts)."""
from __future__ import annotations

from typing import Any

from cosmoloc_contract import accounts as contract
from server.accounts.models import Account, ApiToken


def account_json(account: Account) -> dict[str, Any]:
    return contract.Account(id=account.id, email=account.email, name=account.name).to_json()


def token_info(token: ApiToken) -> contract.TokenInfo:
    return contract.TokenInfo(id=token.id, name=token.name, prefix=token.prefix, created_at=token.created_at,
                              last_used_at=None)


def token_json(token: ApiToken) -> dict[str, Any]:
    return token_info(token).to_json()


def new_token_json(token: ApiToken, secret: str) -> dict[str, Any]:
    return contract.NewToken(**token_info(token).model_dump(), token=secret).to_json()
