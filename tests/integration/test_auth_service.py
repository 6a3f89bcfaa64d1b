"""The auth service against each database backend (the repository contract suite)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from aiplayground.auth.principal import Principal, Role, Scope
from aiplayground.auth.service import AuthService
from aiplayground.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from aiplayground.store.db import Database
from aiplayground.store.tables import ApiToken, User, utcnow


@pytest.fixture
def auth(db: Database) -> AuthService:
    return AuthService(db)


def as_principal(auth: AuthService, name: str) -> Principal:
    user = auth.get_user(name)
    return Principal(user_id=user.id, name=user.name, role=user.role)


def test_bootstrap_creates_one_admin_and_a_single_use_link(auth: AuthService) -> None:
    secret = auth.bootstrap_admin()
    assert secret is not None
    assert auth.bootstrap_admin() is None, "a second start must not create another admin"
    admin = auth.get_user("admin")
    assert admin.role is Role.ADMIN
    assert admin.is_active
    session = auth.redeem_login_link(secret)
    assert auth.authenticate_session(session).name == "admin"
    with pytest.raises(Unauthenticated):
        auth.redeem_login_link(secret)


def test_expired_login_link_is_refused(auth: AuthService) -> None:
    user = auth.create_user("carol")
    secret = auth.create_login_link(user.id, ttl=timedelta(seconds=-1))
    with pytest.raises(Unauthenticated):
        auth.redeem_login_link(secret)


def test_duplicate_and_invalid_user_names(auth: AuthService) -> None:
    auth.create_user("alice")
    with pytest.raises(Conflict):
        auth.create_user("alice")
    for bad in ["", "Alice", "../x", "a b", "x" * 65, "-lead"]:
        with pytest.raises(ValidationFailed):
            auth.create_user(bad)


def test_password_login_is_hashed_with_argon2id(auth: AuthService, db: Database) -> None:
    auth.create_user("dave", password="correct horse battery")
    with db.session() as s:
        stored = s.scalar(select(User.password_hash).where(User.name == "dave"))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    session = auth.login_with_password("dave", "correct horse battery")
    assert auth.authenticate_session(session).name == "dave"
    with pytest.raises(Unauthenticated):
        auth.login_with_password("dave", "wrong password!")
    with pytest.raises(Unauthenticated):
        auth.login_with_password("nobody", "correct horse battery")
    with pytest.raises(ValidationFailed):
        auth.create_user("erin", password="short")


def test_user_without_password_cannot_log_in_with_empty_password(auth: AuthService) -> None:
    auth.create_user("frank")
    with pytest.raises(Unauthenticated):
        auth.login_with_password("frank", "")


def test_token_is_stored_hashed_and_authenticates(auth: AuthService, db: Database) -> None:
    user = auth.create_user("alice")
    new = auth.create_token(user.id, "laptop", scopes=[Scope.READ])
    assert new.token.startswith("aip_")
    with db.session() as s:
        hashes = list(s.scalars(select(ApiToken.token_hash)))
    assert new.token not in hashes
    principal = auth.authenticate_token(new.token)
    assert principal.name == "alice"
    assert principal.scopes == frozenset({Scope.READ})
    with pytest.raises(PermissionDenied):
        principal.require_write()
    listed = auth.list_tokens(principal)
    assert [t.id for t in listed] == [new.info.id]
    assert listed[0].last_used_at is not None


def test_member_cannot_mint_admin_scope(auth: AuthService) -> None:
    user = auth.create_user("alice")
    new = auth.create_token(user.id, "t", scopes=[Scope.READ, Scope.ADMIN])
    assert Scope.ADMIN not in new.info.scopes


def test_revoked_expired_and_suspended_tokens_are_refused(auth: AuthService) -> None:
    auth.bootstrap_admin()
    admin = as_principal(auth, "admin")
    user = auth.create_user("alice")
    revoked = auth.create_token(user.id, "a")
    expired = auth.create_token(user.id, "b", expires_in=timedelta(seconds=1))
    kept = auth.create_token(user.id, "c")
    alice = auth.authenticate_token(kept.token)

    auth.revoke_token(alice, revoked.info.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate_token(revoked.token)

    with auth.db.session() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == expired.info.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate_token(expired.token)

    session = auth.open_session(user.id)
    auth.update_user(admin, "alice", is_active=False)
    with pytest.raises(Unauthenticated, match="suspended"):
        auth.authenticate_token(kept.token)
    with pytest.raises(Unauthenticated, match="suspended"):
        auth.authenticate_session(session)
    auth.update_user(admin, "alice", is_active=True)
    assert auth.authenticate_token(kept.token).name == "alice"


def test_another_users_token_is_not_found(auth: AuthService) -> None:
    alice = auth.create_user("alice")
    auth.create_user("bob")
    token = auth.create_token(alice.id, "mine")
    with pytest.raises(NotFound):
        auth.revoke_token(as_principal(auth, "bob"), token.info.id)
    assert auth.authenticate_token(token.token).name == "alice"


def test_logout_ends_the_session(auth: AuthService) -> None:
    user = auth.create_user("alice")
    secret = auth.open_session(user.id)
    auth.close_session(secret)
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(secret)


def test_only_admins_manage_users_and_cannot_lock_themselves_out(auth: AuthService) -> None:
    auth.bootstrap_admin()
    auth.create_user("alice")
    alice = as_principal(auth, "alice")
    admin = as_principal(auth, "admin")
    with pytest.raises(PermissionDenied):
        auth.list_users(alice)
    with pytest.raises(PermissionDenied):
        auth.update_user(alice, "alice", role=Role.ADMIN)
    with pytest.raises(Conflict):
        auth.update_user(admin, "admin", is_active=False)
    promoted = auth.update_user(admin, "alice", role=Role.VIEWER)
    assert promoted.role is Role.VIEWER
    assert {u.name for u in auth.list_users(admin)} == {"admin", "alice"}


def test_changing_password_needs_the_current_one(auth: AuthService) -> None:
    auth.create_user("alice", password="first password!")
    alice = as_principal(auth, "alice")
    with pytest.raises(ValidationFailed):
        auth.set_password(alice, "wrong", "second password!")
    auth.set_password(alice, "first password!", "second password!")
    auth.login_with_password("alice", "second password!")


def test_token_cache_forgets_revoked_tokens_and_suspended_users(auth: AuthService) -> None:
    auth.bootstrap_admin()
    admin = as_principal(auth, "admin")
    user = auth.create_user("alice")
    first = auth.create_token(user.id, "a")
    second = auth.create_token(user.id, "b")
    alice = auth.authenticate_token(first.token)
    auth.authenticate_token(second.token)
    assert auth.cached_token(first.token) == alice
    auth.revoke_token(alice, first.info.id)
    assert auth.cached_token(first.token) is None
    assert auth.cached_token(second.token) is not None
    auth.update_user(admin, "alice", is_active=False)
    assert auth.cached_token(second.token) is None
    with pytest.raises(Unauthenticated):
        auth.authenticate_token(second.token)


def test_token_cache_respects_token_expiry(auth: AuthService) -> None:
    user = auth.create_user("alice")
    new = auth.create_token(user.id, "short", expires_in=timedelta(seconds=1))
    auth.authenticate_token(new.token)
    assert auth.cached_token(new.token) is not None
    time.sleep(1.1)
    assert auth.cached_token(new.token) is None
