"""What the auth service hands out: plain data, no ORM objects."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

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
