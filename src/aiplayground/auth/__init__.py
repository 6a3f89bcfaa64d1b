"""Users, roles, API tokens, browser sessions and login links."""

from aiplayground.auth.principal import Principal, Role, Scope
from aiplayground.auth.service import AuthService

__all__ = ["AuthService", "Principal", "Role", "Scope"]
