"""The REST foundation through HTTP: credentials, roles, errors, limits and operations."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aiplayground.api.errors import protocol_of
from aiplayground.app import Platform, create_app
from aiplayground.settings import Settings
from tests.conftest import bearer

OPEN_PATHS = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_path_parameter_is_documented(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    for path, operations in schema["paths"].items():
        expected = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == expected, f"{method} {path}: {declared} != {expected}"


def test_every_route_but_health_needs_a_credential(app: FastAPI, client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method in operations:
            response = client.request(method.upper(), concrete(path))
            if path in OPEN_PATHS:
                assert response.status_code < 400, path
                continue
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            error = response.json()["error"]
            if protocol_of(path) == "kserve":
                assert isinstance(error, str), "KServe routes answer in their own shape"
            elif protocol_of(path) == "openai":
                assert error["code"] == "unauthenticated"
                assert "message" in error
            else:
                assert error["code"] == "unauthenticated"
            checked += 1
    assert checked >= 8
    assert client.get("/metrics").status_code == 401
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_health_routes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "sqlite"


def test_readiness_drops_while_draining(client: TestClient, platform: Platform) -> None:
    platform.draining = True
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert client.get("/healthz").status_code == 200


def test_me_with_token(client: TestClient, alice_token: str) -> None:
    response = client.get("/api/v1/me", headers=bearer(alice_token))
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["name"] == "alice"
    assert body["user"]["role"] == "member"
    assert "password_hash" not in body["user"]
    assert body["via"] == "token"


@pytest.mark.parametrize(
    "header", ["Bearer aip_nonsense", "Bearer ", "Basic YWRtaW46YWRtaW4=", "aip_x"]
)
def test_bad_credentials_are_401(client: TestClient, header: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_token_lifecycle_over_http(client: TestClient, alice_token: str) -> None:
    created = client.post(
        "/api/v1/tokens", json={"name": "ci", "scopes": ["read"]}, headers=bearer(alice_token)
    )
    assert created.status_code == 201
    secret = created.json()["token"]
    token_id = created.json()["info"]["id"]
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    denied = client.post("/api/v1/tokens", json={"name": "x"}, headers=bearer(secret))
    assert denied.status_code == 403
    listed = client.get("/api/v1/tokens", headers=bearer(alice_token)).json()
    assert listed["total"] == 2
    assert all("token" not in item and "token_hash" not in item for item in listed["items"])
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(alice_token)).is_success
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_another_users_token_is_404(client: TestClient, alice_token: str, bob_token: str) -> None:
    bobs = client.get("/api/v1/tokens", headers=bearer(bob_token)).json()["items"][0]["id"]
    response = client.delete(f"/api/v1/tokens/{bobs}", headers=bearer(alice_token))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "no such token"}}
    assert client.get("/api/v1/me", headers=bearer(bob_token)).status_code == 200


def test_roles(client: TestClient, admin_token: str, alice_token: str, viewer_token: str) -> None:
    assert client.get("/api/v1/users", headers=bearer(alice_token)).status_code == 403
    assert client.get("/api/v1/users", headers=bearer(admin_token)).status_code == 200
    created = client.post(
        "/api/v1/users", json={"name": "newbie", "role": "viewer"}, headers=bearer(admin_token)
    )
    assert created.status_code == 201
    assert created.json()["role"] == "viewer"
    again = client.post("/api/v1/users", json={"name": "newbie"}, headers=bearer(admin_token))
    assert again.status_code == 409
    viewer_post = client.post("/api/v1/tokens", json={"name": "x"}, headers=bearer(viewer_token))
    assert viewer_post.status_code == 201
    assert viewer_post.json()["info"]["scopes"] == ["read"], "viewers only get read-only tokens"
    viewer_write = client.post(
        "/api/v1/tokens", json={"name": "y", "scopes": ["write"]}, headers=bearer(viewer_token)
    )
    assert viewer_write.status_code == 422
    assert client.get("/api/v1/me", headers=bearer(viewer_token)).status_code == 200


def test_suspension_takes_effect_at_once(
    client: TestClient, admin_token: str, alice_token: str
) -> None:
    response = client.patch(
        "/api/v1/users/alice", json={"is_active": False}, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    assert client.get("/api/v1/me", headers=bearer(alice_token)).status_code == 401


def test_validation_errors_name_the_field(client: TestClient, alice_token: str) -> None:
    response = client.post(
        "/api/v1/tokens", json={"name": "", "expires_in_days": -1}, headers=bearer(alice_token)
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    fields = {p["field"] for p in error["details"]["problems"]}
    assert {"name", "expires_in_days"} <= fields


def test_unknown_route_is_json_404(client: TestClient, alice_token: str) -> None:
    response = client.get("/api/v1/nope", headers=bearer(alice_token))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_oversize_body_is_413_before_reading(settings: Settings, platform: Platform) -> None:
    small = settings.model_copy(
        update={"limits": settings.limits.model_copy(update={"max_request_bytes": 1000})}
    )
    with TestClient(create_app(small, platform)) as c:
        response = c.post("/api/v1/tokens", content=b"x" * 5000)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "too_large"

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"y" * 500

        streamed = c.post("/api/v1/tokens", content=chunks())
        assert streamed.status_code == 413
        assert c.get("/healthz").status_code == 200


def test_session_cookie_and_csrf(client: TestClient, platform: Platform) -> None:
    platform.auth.create_user("alice", password="a long password")
    login = client.post(
        "/auth/login",
        data={"username": "alice", "password": "a long password"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert login.status_code == 303
    cookie = login.cookies.get("aip_session")
    assert cookie
    set_cookie = login.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    client.cookies.set("aip_session", cookie)
    assert client.get("/api/v1/me").json()["via"] == "session"
    cross = client.post(
        "/api/v1/tokens", json={"name": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    no_origin = client.post("/api/v1/tokens", json={"name": "x"})
    assert no_origin.status_code == 403
    same = client.post(
        "/api/v1/tokens", json={"name": "x"}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 201
    logout = client.post(
        "/auth/logout", headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert logout.status_code == 303
    client.cookies.set("aip_session", cookie)
    assert client.get("/api/v1/me").status_code == 401


def test_login_form_refuses_cross_site_posts_and_open_redirects(
    client: TestClient, platform: Platform
) -> None:
    platform.auth.create_user("alice", password="a long password")
    form = {"username": "alice", "password": "a long password", "next": "//evil.example/x"}
    cross = client.post(
        "/auth/login", data=form, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert cross.status_code == 403
    ok = client.post(
        "/auth/login", data=form, headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert ok.headers["location"] == "/"
    wrong = client.post(
        "/auth/login",
        data={"username": "alice", "password": "nope nope nope"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert wrong.headers["location"] == "/login?error=1"


def test_login_link_works_once(client: TestClient, platform: Platform) -> None:
    assert platform.login_url is not None
    path = platform.login_url.split("8000", 1)[1]
    first = client.get(path, follow_redirects=False)
    assert first.status_code == 303
    assert first.cookies.get("aip_session")
    second = client.get(path, follow_redirects=False)
    assert second.headers["location"] == "/login?error=link"


def test_metrics_count_requests_by_route(client: TestClient, alice_token: str) -> None:
    client.get("/api/v1/me", headers=bearer(alice_token))
    text = client.get("/metrics", headers=bearer(alice_token)).text
    assert 'aip_http_requests_total{method="GET",route="/api/v1/me",status="200"}' in text
    assert "aip_http_request_duration_seconds_bucket" in text


def test_security_headers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_ui_uploads_have_the_file_limit_not_the_request_limit(
    settings: Settings, platform: Platform
) -> None:
    limits = settings.limits.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(settings.model_copy(update={"limits": limits}), platform)) as c:
        response = c.post("/_nicegui/client/x/upload/y", content=b"z" * (2 * 1024 * 1024))
        assert response.status_code == 413
        assert c.post("/api/v1/tokens", content=b"z" * (2 * 1024 * 1024)).status_code == 401
