"""Remote endpoint checks against a real local HTTP server, and API key sealing."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.endpoints import EndpointService, load_or_create_secret
from aiplayground.catalog.schemas import Protocol
from aiplayground.errors import (
    PermissionDenied,
    PlaygroundError,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from aiplayground.net import UrlPolicy

API_KEY = "sk-test-0123456789"


class ModelServer(BaseHTTPRequestHandler):
    """KServe v1/v2 and OpenAI-style answers for model `m`; /broken paths answer 500."""

    def do_GET(self) -> None:
        status, body = self.answer()
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer(self) -> tuple[int, object]:
        if self.path.startswith("/broken"):
            return 500, {"error": "boom"}
        if self.path == "/v1/models/m":
            return 200, {"name": "m", "ready": True}
        if self.path == "/v2/models/m/ready":
            return 200, {}
        if self.path == "/v1/models":
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return 401, {"error": "bad key"}
            return 200, {"object": "list", "data": [{"id": "m", "object": "model"}]}
        return 404, {"error": "not found"}

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ModelServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def service(tmp_path: Path) -> EndpointService:
    secret = load_or_create_secret(tmp_path / "secret.key")
    return EndpointService(UrlPolicy(["127.0.0.1"]), secret, timeout=2.0)


CALLER = Principal(user_id="u1", name="alice", role=Role.MEMBER)


@pytest.mark.parametrize(
    ("protocol", "suffix", "key"),
    [
        (Protocol.KSERVE_V1, "", None),
        (Protocol.KSERVE_V2, "", None),
        (Protocol.OPENAI, "/v1", API_KEY),
    ],
)
def test_check_passes_for_each_protocol(
    service: EndpointService, server_url: str, protocol: Protocol, suffix: str, key: str | None
) -> None:
    url = service.validate_url(f"{server_url}{suffix}/", CALLER)
    assert url == f"{server_url}{suffix}"
    service.check(url, protocol, "m", key)


def test_wrong_api_key_or_model_is_reported(service: EndpointService, server_url: str) -> None:
    with pytest.raises(UpstreamError, match="check the API key") as caught:
        service.check(f"{server_url}/v1", Protocol.OPENAI, "m", "wrong")
    assert caught.value.details["status"] == 401
    with pytest.raises(ValidationFailed, match="it serves m"):
        service.check(f"{server_url}/v1", Protocol.OPENAI, "other", API_KEY)
    with pytest.raises(UpstreamError, match="no model named 'other'"):
        service.check(server_url, Protocol.KSERVE_V2, "other", None)


def test_server_error_is_an_upstream_error(service: EndpointService, server_url: str) -> None:
    with pytest.raises(UpstreamError, match="answered 500") as caught:
        service.check(f"{server_url}/broken", Protocol.KSERVE_V1, "m", None)
    assert caught.value.details["status"] == 500


def test_closed_port_is_not_reachable(service: EndpointService) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamError, match="not reachable"):
        service.check(f"http://127.0.0.1:{port}", Protocol.KSERVE_V2, "m", None)


def test_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections, never answers
        service = EndpointService(UrlPolicy(["127.0.0.1"]), bytes(32), timeout=0.3)
        with pytest.raises(UpstreamTimeout, match="did not answer"):
            service.check(
                f"http://127.0.0.1:{listener.getsockname()[1]}", Protocol.KSERVE_V1, "m", None
            )


def test_internal_urls_are_refused_unless_allow_listed(server_url: str) -> None:
    service = EndpointService(UrlPolicy([]), bytes(32))
    with pytest.raises(PermissionDenied):
        service.validate_url(server_url, CALLER)
    with pytest.raises(PermissionDenied):  # even when validation was skipped
        service.check(server_url, Protocol.KSERVE_V1, "m", None)
    with pytest.raises(ValidationFailed, match="query"):
        EndpointService(UrlPolicy(["127.0.0.1"]), bytes(32)).validate_url(
            f"{server_url}/?a=1", CALLER
        )


def test_seal_round_trip_hides_the_key(service: EndpointService, tmp_path: Path) -> None:
    sealed = service.seal(API_KEY)
    assert API_KEY not in sealed
    assert service.seal(API_KEY) != sealed  # fresh IV each time
    assert service.unseal(sealed) == API_KEY
    other = EndpointService(UrlPolicy([]), load_or_create_secret(tmp_path / "other.key"))
    with pytest.raises(PlaygroundError, match="secret key changed"):
        other.unseal(sealed)


def test_secret_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "home" / "secret.key"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]
    path.write_bytes(b"short")
    with pytest.raises(PlaygroundError, match="holds 5 bytes"):
        load_or_create_secret(path)
