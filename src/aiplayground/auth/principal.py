"""Who is calling, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from aiplayground.errors import PermissionDenied


class Role(StrEnum):
    """Platform roles, from most to least powerful."""

    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Scope(StrEnum):
    """What an API token may be used for."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ALL_SCOPES = (Scope.READ, Scope.WRITE, Scope.ADMIN)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user, and the scopes of the credential used."""

    user_id: str
    name: str
    role: Role
    scopes: frozenset[Scope] = field(default_factory=lambda: frozenset(ALL_SCOPES))
    via: str = "token"

    @property
    def is_admin(self) -> bool:
        """True for an admin acting with an admin-scoped credential."""
        return self.role is Role.ADMIN and Scope.ADMIN in self.scopes

    def require_read(self) -> None:
        """Raise unless this credential may read."""
        if Scope.READ not in self.scopes:
            raise PermissionDenied("this token lacks the 'read' scope")

    def require_write(self) -> None:
        """Raise unless this caller may create or change objects."""
        if self.role is Role.VIEWER:
            raise PermissionDenied("viewers cannot create or change objects")
        if Scope.WRITE not in self.scopes:
            raise PermissionDenied("this token lacks the 'write' scope")

    def require_admin(self) -> None:
        """Raise unless this caller is an admin using an admin-scoped credential."""
        if self.role is not Role.ADMIN:
            raise PermissionDenied("this needs the admin role")
        if Scope.ADMIN not in self.scopes:
            raise PermissionDenied("this token lacks the 'admin' scope")

    def can_see(self, owner_id: str, visibility: str = "private") -> bool:
        """True when an object with this owner and visibility is visible to the caller."""
        return visibility == "public" or owner_id == self.user_id or self.role is Role.ADMIN

    def can_change(self, owner_id: str) -> bool:
        """True when the caller may change an object with this owner."""
        return self.role is not Role.VIEWER and (
            owner_id == self.user_id or self.role is Role.ADMIN
        )
