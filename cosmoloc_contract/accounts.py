"""Accounts and personal tokens (API.md, "Accounts")."""
from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from cosmoloc_contract.common import Answer, Items
from cosmoloc_contract.fields import Name, Timestamp

# -- requests --------------------------------------------------------------------------------


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
    name: str = Field(default="", max_length=100, description="a label for the token")


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)
    revoke_tokens: bool = Field(default=False, description="personal tokens stay valid unless asked")


# -- answers ---------------------------------------------------------------------------------


class Account(Answer):
    id: int
    email: str
    name: str


class TokenInfo(Answer):
    """A personal token as listed: never the token itself, only its first characters."""

    id: int
    name: str
    prefix: str
    created_at: Timestamp
    last_used_at: Timestamp | None


class NewToken(TokenInfo):
    token: str = Field(description="the personal token (clp_...), shown this once")


TokenList = Items[TokenInfo]


class PasswordChanged(Answer):
    sessions_ended: int
    tokens_revoked: int
