"""What the auth service hands out: plain data, no ORM objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from aiplayground.auth.principal import Role, Scope


class UserInfo(BaseModel):
    """A user as shown to callers (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    display_name: str
    email: str | None
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    has_password: bool = False

    @model_validator(mode="before")
    @classmethod
    def _password_flag(cls, data: Any) -> Any:
        # Built from an ORM row: expose whether a password is set, never the hash.
        if hasattr(data, "password_hash"):
            return {
                **{k: getattr(data, k) for k in cls.model_fields if hasattr(data, k)},
                "has_password": bool(data.password_hash),
            }
        return data


class TokenInfo(BaseModel):
    """An API token's metadata; the secret is shown once, at creation."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewToken(BaseModel):
    """A freshly created token with its secret."""

    token: str
    info: TokenInfo
