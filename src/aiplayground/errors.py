"""Errors that carry a code; the HTTP status for each code is decided in `api.errors`."""

from __future__ import annotations

from typing import Any


class PlaygroundError(Exception):
    """Base of every error the platform raises on purpose."""

    code = "internal"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(PlaygroundError):
    """The request is malformed or its values are out of range."""

    code = "invalid_input"


class ValidationFailed(PlaygroundError):
    """The request is well formed but a field fails validation."""

    code = "validation_failed"


class Unauthenticated(PlaygroundError):
    """No valid credential was presented."""

    code = "unauthenticated"


class PermissionDenied(PlaygroundError):
    """The caller is known but its role or scope does not allow this."""

    code = "permission_denied"


class NotFound(PlaygroundError):
    """The object does not exist, or the caller may not know it exists."""

    code = "not_found"


class Conflict(PlaygroundError):
    """The object already exists or is in a state that forbids this."""

    code = "conflict"


class TooLarge(PlaygroundError):
    """A body, file or archive exceeds a configured limit."""

    code = "too_large"


class RateLimited(PlaygroundError):
    """Too many requests; `retry_after` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(PlaygroundError):
    """A backend (database, storage, model worker) cannot serve right now."""

    code = "unavailable"


class UpstreamError(PlaygroundError):
    """A remote endpoint answered with an error."""

    code = "upstream_error"


class UpstreamTimeout(PlaygroundError):
    """A remote endpoint did not answer in time."""

    code = "upstream_timeout"


class MissingDependency(PlaygroundError):
    """An optional extra is needed for this feature; the message says what to install."""

    code = "missing_dependency"


def require_extra(module: str, extra: str) -> Any:
    """Import an optional heavy dependency, or raise an error saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"this feature needs the '{module}' package: pip install 'ai-playground[{extra}]'"
        ) from exc
