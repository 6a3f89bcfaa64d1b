"""Python client of the platform's REST API (httpx; pass a transport to run in-process)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from aiplayground import errors
from aiplayground.sdk.catalog import CatalogMixin
from aiplayground.sdk.chat import ChatMixin
from aiplayground.sdk.hep import HepMixin
from aiplayground.sdk.inference import InferenceMixin
from aiplayground.sdk.knowledge import KnowledgeMixin
from aiplayground.sdk.training import TrainingMixin

_ERRORS_BY_CODE: dict[str, type[errors.PlaygroundError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidInput,
        errors.ValidationFailed,
        errors.Unauthenticated,
        errors.PermissionDenied,
        errors.NotFound,
        errors.Conflict,
        errors.TooLarge,
        errors.Unavailable,
        errors.UpstreamError,
        errors.UpstreamTimeout,
        errors.MissingDependency,
    )
}


class ApiError(errors.PlaygroundError):
    """An error answer the SDK has no more specific class for."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def raise_for_error(response: httpx.Response) -> None:
    """Turn a platform error response into the matching PlaygroundError."""
    if response.is_success:
        return
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        code, message = str(error.get("code", "error")), str(error.get("message", ""))
    else:
        code, message = "error", str(error or response.text or response.reason_phrase)
    if code == errors.RateLimited.code:
        raise errors.RateLimited(message, retry_after=float(response.headers.get("retry-after", 1)))
    cls = _ERRORS_BY_CODE.get(code)
    if cls is not None:
        raise cls(message, details=error.get("details") if isinstance(error, dict) else None)
    raise ApiError(
        message or f"HTTP {response.status_code}", status=response.status_code, code=code
    )


class Client(CatalogMixin, InferenceMixin, ChatMixin, TrainingMixin, KnowledgeMixin, HepMixin):
    """A connection to one AI Playground server, authenticated with an API token."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, transport=transport, timeout=timeout
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connections."""
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request and raise the platform error it answers with, if any."""
        response = self.http.request(method, path, **kwargs)
        raise_for_error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and decode its JSON answer."""
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    # operations and accounts ---------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The server's readiness report."""
        result: dict[str, Any] = self.json("GET", "/readyz")
        return result

    def me(self) -> dict[str, Any]:
        """The user this client's token belongs to."""
        result: dict[str, Any] = self.json("GET", "/api/v1/me")
        return result

    def list_tokens(self) -> list[dict[str, Any]]:
        """This user's API tokens."""
        items: list[dict[str, Any]] = self.json("GET", "/api/v1/tokens")["items"]
        return items

    def create_token(
        self, name: str, *, scopes: list[str] | None = None, expires_in_days: float | None = None
    ) -> dict[str, Any]:
        """Create an API token; the answer holds the secret under 'token'."""
        body = {"name": name, "scopes": scopes, "expires_in_days": expires_in_days}
        result: dict[str, Any] = self.json("POST", "/api/v1/tokens", json=body)
        return result

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        """Revoke an API token."""
        result: dict[str, Any] = self.json("DELETE", f"/api/v1/tokens/{token_id}")
        return result

    def list_users(self) -> list[dict[str, Any]]:
        """Every user (admins)."""
        items: list[dict[str, Any]] = self.json("GET", "/api/v1/users")["items"]
        return items

    def create_user(self, name: str, *, role: str = "member") -> dict[str, Any]:
        """Create a user (admins)."""
        result: dict[str, Any] = self.json(
            "POST", "/api/v1/users", json={"name": name, "role": role}
        )
        return result
