"""Outbound URL policy: internal addresses refused at check time, connect time and on redirects."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aiplayground.errors import PermissionDenied, ValidationFailed
from aiplayground.net import UrlPolicy


class Handler(BaseHTTPRequestHandler):
    """/ok answers 200; /to?u=URL redirects there; every request's headers are recorded."""

    seen: list[tuple[str, dict[str, str]]]

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]
        if self.path.startswith("/to?u="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to?u="))
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def base(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/v1",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.1.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[2002:7f00:1::]/",
        "https://224.0.0.1/",
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(PermissionDenied, match="allowed_hosts"):
        UrlPolicy([]).check_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://2130706433/", "unusual notation"),
        ("http://0x7f000001/", "unusual notation"),
        ("http://127.1/", "unusual notation"),
        ("http://0177.0.0.1/", "invalid URL"),
        ("file:///etc/passwd", "only http"),
        ("ftp://example.org/x", "only http"),
        ("gopher://127.0.0.1:6379/", "only http"),
        ("http://user:secret@93.184.215.14/", "user name or password"),
        ("http:///nohost", "invalid URL|no host"),
    ],
)
def test_odd_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason):
        UrlPolicy(["127.0.0.1"]).check_url(url)


def test_public_address_passes_and_is_normalized() -> None:
    assert (
        UrlPolicy([]).check_url("HTTP://93.184.215.14:8080/v1#frag")
        == "http://93.184.215.14:8080/v1"
    )


@pytest.mark.parametrize("allowed", ["127.0.0.1", "127.0.0.0/8", "localhost"])
def test_allow_listed_hosts_pass(allowed: str) -> None:
    policy = UrlPolicy([allowed])
    host = "localhost" if allowed == "localhost" else "127.0.0.1"
    assert policy.check_url(f"http://{host}:9000/v2") == f"http://{host}:9000/v2"
    with pytest.raises(PermissionDenied):
        policy.check_url("http://169.254.169.254/")


def test_client_checks_the_address_when_connecting(server: ThreadingHTTPServer) -> None:
    with UrlPolicy([]).client() as client, pytest.raises(PermissionDenied, match="loopback"):
        client.get(f"{base(server)}/ok")
    with UrlPolicy(["127.0.0.1"]).client() as client:
        assert client.get(f"{base(server)}/ok").status_code == 200


def test_redirect_to_metadata_service_is_refused(server: ThreadingHTTPServer) -> None:
    policy = UrlPolicy(["127.0.0.1"])
    with policy.client() as client:
        # The client alone never follows redirects.
        assert client.get(f"{base(server)}/to?u=http://169.254.169.254/").status_code == 302
        with pytest.raises(PermissionDenied, match=r"169\.254\.169\.254"):
            policy.request(client, "GET", f"{base(server)}/to?u=http://169.254.169.254/")
        with pytest.raises(ValidationFailed, match="only http"):
            policy.request(client, "GET", f"{base(server)}/to?u=file:///etc/passwd")


def test_redirects_are_followed_and_credentials_stay_with_their_origin(
    server: ThreadingHTTPServer,
) -> None:
    port = server.server_address[1]
    policy = UrlPolicy(["127.0.0.1", "localhost"])
    server.seen.clear()  # type: ignore[attr-defined]
    with policy.client(headers={"Authorization": "Bearer sk-secret"}) as client:
        same = policy.request(client, "GET", f"{base(server)}/to?u=/ok")
        other = policy.request(client, "GET", f"{base(server)}/to?u=http://localhost:{port}/ok")
    assert same.status_code == other.status_code == 200
    seen = server.seen  # type: ignore[attr-defined]
    assert [path for path, _ in seen] == [
        "/to?u=/ok",
        "/ok",
        f"/to?u=http://localhost:{port}/ok",
        "/ok",
    ]
    assert seen[1][1].get("Authorization") == "Bearer sk-secret"
    assert "Authorization" not in seen[3][1]


def test_redirect_loops_stop(server: ThreadingHTTPServer) -> None:
    policy = UrlPolicy(["127.0.0.1"])
    loop = f"{base(server)}/to?u=" * 8 + "/ok"
    with policy.client() as client, pytest.raises(Exception, match="redirects more than 5"):
        policy.request(client, "GET", loop)


async def test_async_client_checks_connects_and_redirects(server: ThreadingHTTPServer) -> None:
    async with UrlPolicy([]).async_client() as client:
        with pytest.raises(PermissionDenied):
            await client.get(f"{base(server)}/ok")
    policy = UrlPolicy(["127.0.0.1"])
    async with policy.async_client() as client:
        assert (await policy.arequest(client, "GET", f"{base(server)}/to?u=/ok")).status_code == 200
        with pytest.raises(PermissionDenied, match="link-local"):
            await policy.arequest(client, "GET", f"{base(server)}/to?u=http://169.254.169.254/")


async def test_async_streaming_follows_redirects(server: ThreadingHTTPServer) -> None:
    policy = UrlPolicy(["127.0.0.1"])
    async with policy.async_client() as client:
        response = await policy.arequest(client, "GET", f"{base(server)}/to?u=/ok", stream=True)
        try:
            assert response.status_code == 200
            assert [chunk async for chunk in response.aiter_bytes()] in ([], [b""])
        finally:
            await response.aclose()
