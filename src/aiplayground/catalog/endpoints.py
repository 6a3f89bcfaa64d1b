"""Remote model endpoints: URL checks, a reachability probe, and API keys sealed at rest."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.fernet import Fernet, InvalidToken

from aiplayground.auth.principal import Principal
from aiplayground.catalog.schemas import Protocol
from aiplayground.errors import (
    PlaygroundError,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from aiplayground.net import UrlPolicy

log = logging.getLogger(__name__)

SECRET_BYTES = 32


class EndpointService:
    """Checks and probes remote KServe/OpenAI endpoints, and seals their API keys."""

    def __init__(self, policy: UrlPolicy, secret_key: bytes, *, timeout: float = 10.0) -> None:
        self.policy = policy
        self.timeout = timeout
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret_key).digest()))

    def validate_url(self, url: str, caller: Principal) -> str:
        """The endpoint's base URL, checked against the outbound policy, without trailing '/'."""
        checked = self.policy.check_url(url.strip())
        parsed = httpx.URL(checked)
        if parsed.query or parsed.fragment:
            raise ValidationFailed(
                "an endpoint URL is a base URL without '?query' or '#fragment', such as "
                "https://host/v1 or https://host",
                details={"field": "url"},
            )
        log.info("endpoint URL checked", extra={"user": caller.name, "host": parsed.host})
        return checked.rstrip("/")

    def check(self, url: str, protocol: Protocol, remote_name: str, api_key: str | None) -> None:
        """Probe the endpoint: it must answer for the model; raise Upstream* otherwise."""
        name = quote(remote_name, safe="")
        probe = {
            Protocol.KSERVE_V1: f"{url}/v1/models/{name}",
            Protocol.KSERVE_V2: f"{url}/v2/models/{name}/ready",
            Protocol.OPENAI: f"{url}/models",
        }[protocol]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        with self.policy.client(timeout=self.timeout, headers=headers) as client:
            try:
                response = self.policy.request(client, "GET", probe)
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(
                    f"{url} did not answer within {self.timeout:g} s; check that the server "
                    "is up, or register it with check=false",
                    details={"url": url},
                ) from exc
            except httpx.TransportError as exc:
                raise UpstreamError(
                    f"{url} is not reachable ({exc}); check the URL and that the server is running",
                    details={"url": url},
                ) from exc
        self._judge(url, protocol, remote_name, response)

    def _judge(
        self, url: str, protocol: Protocol, remote_name: str, response: httpx.Response
    ) -> None:
        status = response.status_code
        details: dict[str, Any] = {"url": url, "status": status}
        if status in (401, 403):
            raise UpstreamError(
                f"{url} refused the request ({status}); check the API key", details=details
            )
        if status == 404 and protocol is not Protocol.OPENAI:
            raise UpstreamError(
                f"{url} has no model named {remote_name!r} (404); check remote_name and the "
                "protocol",
                details=details,
            )
        if not 200 <= status < 300:
            raise UpstreamError(
                f"{url} answered {status} to {response.request.url.path}; check the URL, "
                "protocol and that the model is loaded",
                details=details,
            )
        body = _json_or_none(response)
        if protocol is Protocol.KSERVE_V1 and isinstance(body, dict) and body.get("ready") is False:
            raise UpstreamError(
                f"model {remote_name!r} at {url} is not ready yet; try again later",
                details=details,
            )
        if protocol is Protocol.OPENAI and isinstance(body, dict):
            served = [m.get("id") for m in body.get("data") or [] if isinstance(m, dict)]
            if served and remote_name not in served:
                raise ValidationFailed(
                    f"{url} does not serve a model named {remote_name!r}; it serves "
                    f"{', '.join(str(s) for s in served[:10])}. Set remote_name to one of them",
                    details={"field": "remote_name"},
                )

    def seal(self, api_key: str) -> str:
        """Encrypt an API key for storage (Fernet: AES-CBC with an HMAC)."""
        return self._fernet.encrypt(api_key.encode()).decode("ascii")

    def unseal(self, token: str) -> str:
        """Decrypt an API key sealed by `seal`."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise PlaygroundError(
                "a stored API key cannot be decrypted: the server's secret key changed. "
                "Register the endpoint again with its API key"
            ) from exc


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # KServe v2 ready answers may have an empty body
        return None


def load_or_create_secret(path: Path) -> bytes:
    """The server's 32-byte secret, created (mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(secrets.token_bytes(SECRET_BYTES))
                stream.flush()
                os.fsync(stream.fileno())
            # link() fails if another process created the key first: then theirs is used.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise PlaygroundError(
            f"the secret key file {path} holds {len(secret)} bytes, not {SECRET_BYTES}; restore "
            "it from a backup, or delete it (stored endpoint API keys will then be lost)"
        )
    if path.stat().st_mode & 0o077:
        log.warning("secret key file %s is readable by other users; chmod 600 it", path)
    return secret
