"""Accounts, API tokens, browser sessions and one-time login links."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from aiplayground.auth.cache import TokenCache
from aiplayground.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from aiplayground.auth.principal import ALL_SCOPES, Principal, Role, Scope
from aiplayground.auth.schemas import NewToken, TokenInfo, UserInfo
from aiplayground.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from aiplayground.store.db import Database
from aiplayground.store.tables import ApiToken, LoginLink, UiSession, User, utcnow

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TOKEN_PREFIX = "aip_"
# Recording every use of a token would turn each read request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


class AuthService:
    """Creates and checks every credential the platform accepts."""

    def __init__(
        self,
        db: Database,
        *,
        session_lifetime: timedelta = timedelta(hours=12),
        token_cache_s: float = 2.0,
    ) -> None:
        self.db = db
        self.session_lifetime = session_lifetime
        self.tokens = TokenCache(ttl=token_cache_s)

    # users ---------------------------------------------------------------------------

    def user_count(self) -> int:
        """How many users exist."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(User)) or 0)

    def create_user(
        self,
        name: str,
        *,
        role: Role = Role.MEMBER,
        password: str | None = None,
        display_name: str = "",
        email: str | None = None,
    ) -> UserInfo:
        """Create a user; without a password the user logs in by link or token only."""
        if not USER_NAME.match(name):
            raise ValidationFailed(
                "user names are 1-64 characters of a-z, 0-9, '_', '.', '-', "
                "starting with a letter or digit",
                details={"field": "name"},
            )
        if password is not None and len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed(
                f"passwords need at least {MIN_PASSWORD_LENGTH} characters",
                details={"field": "password"},
            )
        with self.db.session() as s:
            if s.scalar(select(User.id).where(User.name == name)):
                raise Conflict(f"user {name!r} already exists")
            user = User(
                name=name,
                role=Role(role).value,
                password_hash=hash_password(password) if password else None,
                display_name=display_name or name,
                email=email,
            )
            s.add(user)
            s.flush()
            return UserInfo.model_validate(user)

    def get_user(self, name: str) -> UserInfo:
        """A user by name."""
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"no user named {name!r}")
            return UserInfo.model_validate(user)

    def list_users(self, caller: Principal) -> list[UserInfo]:
        """Every user (admins only)."""
        caller.require_admin()
        with self.db.session() as s:
            return [UserInfo.model_validate(u) for u in s.scalars(select(User).order_by(User.name))]

    def update_user(
        self,
        caller: Principal,
        name: str,
        *,
        role: Role | None = None,
        is_active: bool | None = None,
    ) -> UserInfo:
        """Change a user's role or suspend/reactivate them (admins only)."""
        caller.require_admin()
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"no user named {name!r}")
            if user.id == caller.user_id and (is_active is False or role not in (None, Role.ADMIN)):
                raise Conflict("admins cannot suspend or demote themselves")
            if role is not None:
                user.role = Role(role).value
            if is_active is not None:
                user.is_active = is_active
            s.flush()
            info = UserInfo.model_validate(user)
        self.tokens.forget_user(info.id)
        return info

    def set_password(self, caller: Principal, current: str | None, new: str) -> None:
        """Set the caller's own password; the current one is needed if one is set."""
        if len(new) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed(
                f"passwords need at least {MIN_PASSWORD_LENGTH} characters",
                details={"field": "password"},
            )
        with self.db.session() as s:
            user = s.get(User, caller.user_id)
            if user is None:
                raise NotFound("user not found")
            if user.password_hash and not verify_password(user.password_hash, current or ""):
                raise ValidationFailed(
                    "the current password is wrong", details={"field": "current"}
                )
            user.password_hash = hash_password(new)

    def login_with_password(self, name: str, password: str) -> str:
        """Check a name and password and open a browser session; returns the cookie secret."""
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
        # The hash is verified even for unknown users so timing does not reveal names.
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok or not user.is_active:
            raise Unauthenticated("wrong user name or password")
        return self.open_session(user.id)

    # api tokens ----------------------------------------------------------------------

    def create_token(
        self,
        user_id: str,
        name: str,
        *,
        scopes: list[Scope] | None = None,
        expires_in: timedelta | None = None,
    ) -> NewToken:
        """Create an API token; the secret is returned once and stored only as a hash."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise ValidationFailed("token names are 1-100 characters", details={"field": "name"})
        wanted = list(dict.fromkeys(scopes or list(ALL_SCOPES)))
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValidationFailed("expiry must be in the future", details={"field": "expires"})
        secret = _new_secret(TOKEN_PREFIX)
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound("user not found")
            if Scope.ADMIN in wanted and user.role != Role.ADMIN:
                wanted.remove(Scope.ADMIN)
            token = ApiToken(
                user_id=user_id,
                name=name,
                prefix=secret[: len(TOKEN_PREFIX) + 6],
                token_hash=_digest(secret),
                scopes=[str(x) for x in wanted],
                expires_at=utcnow() + expires_in if expires_in else None,
            )
            s.add(token)
            s.flush()
            return NewToken(token=secret, info=TokenInfo.model_validate(token))

    def issue_token(
        self,
        caller: Principal,
        name: str,
        *,
        scopes: list[Scope] | None = None,
        expires_in: timedelta | None = None,
    ) -> NewToken:
        """Create a token for the caller, never with more scopes than the caller holds.

        Viewers may create tokens too, but only read-only ones: a token is how a viewer's
        scripts read the catalog.
        """
        if Scope.WRITE not in caller.scopes:
            # Otherwise a leaked read-only token could mint itself a longer-lived twin.
            raise PermissionDenied("creating tokens needs a credential with the 'write' scope")
        wanted = [s for s in (scopes or list(caller.scopes)) if s in caller.scopes]
        if caller.role is Role.VIEWER:
            wanted = [s for s in wanted if s is Scope.READ]
        if not wanted:
            raise ValidationFailed(
                "none of the requested scopes is available to you", details={"field": "scopes"}
            )
        return self.create_token(caller.user_id, name, scopes=wanted, expires_in=expires_in)

    def list_tokens(self, caller: Principal) -> list[TokenInfo]:
        """The caller's own tokens, newest first."""
        with self.db.session() as s:
            rows = s.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == caller.user_id)
                .order_by(ApiToken.created_at.desc())
            )
            return [TokenInfo.model_validate(t) for t in rows]

    def revoke_token(self, caller: Principal, token_id: str) -> TokenInfo:
        """Revoke one of the caller's tokens (another user's token is 'not found')."""
        with self.db.session() as s:
            token = s.get(ApiToken, token_id)
            if token is None or (token.user_id != caller.user_id and not caller.is_admin):
                raise NotFound("no such token")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
            s.flush()
            info = TokenInfo.model_validate(token)
        self.tokens.forget_token(info.id)
        return info

    def cached_token(self, secret: str) -> Principal | None:
        """The principal of a recently checked token, without touching the database."""
        return self.tokens.get(_digest(secret))

    def authenticate_token(self, secret: str) -> Principal:
        """The principal behind a bearer token, or Unauthenticated."""
        if not secret.startswith(TOKEN_PREFIX):
            raise Unauthenticated("invalid API token")
        now = utcnow()
        digest = _digest(secret)
        with self.db.session() as s:
            row = s.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == digest)
            ).first()
            if row is None:
                raise Unauthenticated("invalid API token")
            token, user = row
            if token.revoked_at is not None:
                raise Unauthenticated("this API token was revoked")
            if token.expires_at is not None and token.expires_at <= now:
                raise Unauthenticated("this API token has expired")
            if not user.is_active:
                raise Unauthenticated("this account is suspended")
            if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
                token.last_used_at = now
            principal = Principal(
                user_id=user.id,
                name=user.name,
                role=Role(user.role),
                scopes=frozenset(Scope(x) for x in token.scopes),
                via="token",
            )
            token_id, expires_at = token.id, token.expires_at
        self.tokens.put(digest, principal, token_id, expires_at)
        return principal

    # browser sessions ----------------------------------------------------------------

    def open_session(self, user_id: str) -> str:
        """Open a browser session for a user; returns the cookie secret."""
        secret = _new_secret()
        with self.db.session() as s:
            s.add(
                UiSession(
                    user_id=user_id,
                    token_hash=_digest(secret),
                    expires_at=utcnow() + self.session_lifetime,
                )
            )
            s.execute(update(User).where(User.id == user_id).values(last_login_at=utcnow()))
        return secret

    def authenticate_session(self, secret: str) -> Principal:
        """The principal behind a session cookie, or Unauthenticated."""
        with self.db.session() as s:
            row = s.execute(
                select(UiSession, User)
                .join(User, User.id == UiSession.user_id)
                .where(UiSession.token_hash == _digest(secret))
            ).first()
            if row is None:
                raise Unauthenticated("not logged in")
            session, user = row
            if session.revoked_at is not None or session.expires_at <= utcnow():
                raise Unauthenticated("the session has ended; log in again")
            if not user.is_active:
                raise Unauthenticated("this account is suspended")
            return Principal(user_id=user.id, name=user.name, role=Role(user.role), via="session")

    def close_session(self, secret: str) -> None:
        """Log out: the session cookie stops working at once."""
        with self.db.session() as s:
            s.execute(
                update(UiSession)
                .where(UiSession.token_hash == _digest(secret), UiSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    # one-time login links ------------------------------------------------------------

    def create_login_link(self, user_id: str, *, ttl: timedelta = timedelta(hours=24)) -> str:
        """A one-time secret that opens a session for the user; returns the secret."""
        secret = _new_secret()
        with self.db.session() as s:
            s.add(LoginLink(user_id=user_id, token_hash=_digest(secret), expires_at=utcnow() + ttl))
        return secret

    def issue_login_link(
        self, caller: Principal, name: str, *, ttl: timedelta = timedelta(hours=24)
    ) -> str:
        """A one-time login link secret for another user (admins only)."""
        caller.require_admin()
        return self.create_login_link(self.get_user(name).id, ttl=ttl)

    def redeem_login_link(self, secret: str) -> str:
        """Spend a one-time login link and open a session; returns the cookie secret."""
        now = utcnow()
        with self.db.session() as s:
            # One UPDATE decides the race between two clicks on the same link.
            user_id = s.scalar(
                update(LoginLink)
                .where(
                    LoginLink.token_hash == _digest(secret),
                    LoginLink.used_at.is_(None),
                    LoginLink.expires_at > now,
                )
                .values(used_at=now)
                .returning(LoginLink.user_id)
            )
            if user_id is None:
                raise Unauthenticated("this login link is invalid, used or expired")
            user = s.get(User, user_id)
            if user is None or not user.is_active:
                raise Unauthenticated("this account is suspended")
        return self.open_session(user_id)

    def bootstrap_admin(self) -> str | None:
        """With no users yet, create the admin and return a one-time login secret."""
        if self.user_count() > 0:
            return None
        try:
            admin = self.create_user("admin", role=Role.ADMIN, display_name="Administrator")
        except Conflict:
            return None
        return self.create_login_link(admin.id)

    def first_admin(self) -> UserInfo | None:
        """The oldest active admin, if any."""
        with self.db.session() as s:
            user = s.scalar(
                select(User)
                .where(User.role == Role.ADMIN.value, User.is_active.is_(True))
                .order_by(User.created_at)
                .limit(1)
            )
            return UserInfo.model_validate(user) if user else None

    def ensure_user(self, name: str, role: Role) -> UserInfo:
        """The user with this name, created with `role` if missing (for admin scripts)."""
        try:
            return self.get_user(name)
        except NotFound:
            return self.create_user(name, role=role)

    def sweep_expired(self, now: datetime | None = None) -> int:
        """Delete expired sessions and login links; returns how many went."""
        now = now or utcnow()
        from sqlalchemy import delete

        with self.db.session() as s:
            a = s.execute(delete(UiSession).where(UiSession.expires_at < now)).rowcount  # type: ignore[attr-defined]
            b = s.execute(delete(LoginLink).where(LoginLink.expires_at < now)).rowcount  # type: ignore[attr-defined]
            return int(a or 0) + int(b or 0)
