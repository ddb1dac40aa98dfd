"""Request bodies and answers of the accounts API."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from server.accounts.models import Account, ApiToken
from server.input_rules import Name


class NewAccount(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    name: Name = Field(min_length=1, max_length=200)

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        value = value.strip()
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            raise ValueError("not an email address")
        return value


class Credentials(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    name: str = Field(default="", max_length=100)  # a label for the token


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)
    revoke_tokens: bool = False  # personal tokens stay valid unless asked


def account_json(account: Account) -> dict[str, Any]:
    return {"id": account.id, "email": account.email, "name": account.name}


def token_json(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "prefix": token.prefix,
            "created_at": token.created_at.isoformat(), "last_used_at": None}
