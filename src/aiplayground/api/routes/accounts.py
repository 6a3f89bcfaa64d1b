"""The caller, their API tokens, and user administration."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from aiplayground.api.deps import CurrentPrincipal, get_platform
from aiplayground.auth.principal import Role, Scope
from aiplayground.auth.schemas import NewToken, TokenInfo, UserInfo

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class Me(BaseModel):
    """The caller and the scopes of the credential in use."""

    user: UserInfo
    scopes: list[Scope]
    via: str


class TokenCreate(BaseModel):
    """A request for a new API token."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] | None = Field(None, description="Default: every scope the user has.")
    expires_in_days: float | None = Field(None, gt=0, le=3650)


class TokenList(BaseModel):
    """The caller's tokens."""

    items: list[TokenInfo]
    total: int


class UserCreate(BaseModel):
    """A new user (admins only)."""

    name: str
    role: Role = Role.MEMBER
    password: str | None = None
    display_name: str = ""
    email: str | None = None


class UserUpdate(BaseModel):
    """A change of role or suspension (admins only)."""

    role: Role | None = None
    is_active: bool | None = None


class UserList(BaseModel):
    """Every user."""

    items: list[UserInfo]
    total: int


class PasswordChange(BaseModel):
    """The caller's new password."""

    current: str | None = None
    new: str


@router.get("/me")
def me(request: Request, principal: CurrentPrincipal) -> Me:
    """Who the credential belongs to."""
    user = get_platform(request).auth.get_user(principal.name)
    return Me(user=user, scopes=sorted(principal.scopes), via=principal.via)


@router.put("/me/password", status_code=204)
def change_password(request: Request, principal: CurrentPrincipal, body: PasswordChange) -> None:
    """Set the caller's password."""
    get_platform(request).auth.set_password(principal, body.current, body.new)


@router.get("/tokens")
def list_tokens(request: Request, principal: CurrentPrincipal) -> TokenList:
    """The caller's API tokens (secrets are never shown again)."""
    items = get_platform(request).auth.list_tokens(principal)
    return TokenList(items=items, total=len(items))


@router.post("/tokens", status_code=201)
def create_token(request: Request, principal: CurrentPrincipal, body: TokenCreate) -> NewToken:
    """Create an API token for the caller; the secret is in this response only."""
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    return get_platform(request).auth.issue_token(
        principal, body.name, scopes=body.scopes, expires_in=expires
    )


@router.delete("/tokens/{token_id}")
def revoke_token(request: Request, principal: CurrentPrincipal, token_id: str) -> TokenInfo:
    """Revoke one of the caller's tokens; it stops working at once."""
    return get_platform(request).auth.revoke_token(principal, token_id)


@router.get("/users")
def list_users(request: Request, principal: CurrentPrincipal) -> UserList:
    """Every user (admins only)."""
    items = get_platform(request).auth.list_users(principal)
    return UserList(items=items, total=len(items))


@router.post("/users", status_code=201)
def create_user(request: Request, principal: CurrentPrincipal, body: UserCreate) -> UserInfo:
    """Create a user (admins only)."""
    principal.require_admin()
    return get_platform(request).auth.create_user(
        body.name,
        role=body.role,
        password=body.password,
        display_name=body.display_name,
        email=body.email,
    )


@router.patch("/users/{name}")
def update_user(
    request: Request, principal: CurrentPrincipal, name: str, body: UserUpdate
) -> UserInfo:
    """Change a user's role, or suspend or reactivate them (admins only)."""
    return get_platform(request).auth.update_user(
        principal, name, role=body.role, is_active=body.is_active
    )
