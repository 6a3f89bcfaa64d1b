"""The UI shell in a real browser: login, navigation, API tokens, logout."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, new_context

pytestmark = pytest.mark.e2e

PAGES = [
    ("catalog", "/catalog", "Catalog"),
    ("chat", "/chat", "Chat"),
    ("inference", "/inference", "Inference"),
    ("train", "/train", "Train"),
    ("settings", "/settings", "Settings"),
    ("home", "/", "Welcome, Administrator"),
]


def test_api_routes_still_answer_with_the_ui_mounted(live_server: LiveServer) -> None:
    base = live_server.base_url
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert "/api/v1/me" in httpx.get(f"{base}/api/v1/openapi.json").json()["paths"]
    unknown = httpx.get(f"{base}/api/v1/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    wrong_method = httpx.put(f"{base}/api/v1/me")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert httpx.get(f"{base}/").status_code == 303


def test_without_a_session_every_page_leads_to_login(
    anonymous_page: Page, live_server: LiveServer
) -> None:
    page = anonymous_page
    page.goto(f"{live_server.base_url}/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    expect(page.get_by_test_id("page-title")).to_have_text("Log in")
    expect(page.get_by_text("aiplayground admin login-link --user NAME")).to_be_visible()

    page.goto(f"{live_server.base_url}/settings?tab=users")
    page.get_by_test_id("login-username").fill("admin")
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/login\?error=1$"))
    expect(page.get_by_test_id("login-error")).to_contain_text("Wrong user name or password")


def test_navigation_reaches_all_six_pages(admin_page: Page, live_server: LiveServer) -> None:
    page = admin_page
    page.goto(f"{live_server.base_url}/")
    expect(page.get_by_test_id("page-title")).to_have_text("Welcome, Administrator")
    expect(page.get_by_test_id("summary-users").get_by_test_id("summary-value")).to_have_text("1")
    expect(page.get_by_test_id("user-menu")).to_contain_text("admin")
    page.screenshot(path="/tmp/aip-home.png", full_page=True)

    for key, path, title in PAGES:
        page.get_by_test_id(f"nav-{key}").click()
        expect(page).to_have_url(f"{live_server.base_url}{path}")
        expect(page.get_by_test_id("page-title")).to_have_text(title)
        expect(page.get_by_test_id(f"nav-{key}")).to_have_attribute("aria-current", "page")
        if key in {"catalog", "chat", "inference", "train"}:
            expect(page.get_by_test_id("empty-state")).to_be_visible()

    page.get_by_test_id("nav-settings").click()
    for tab in ("tokens", "account", "users"):
        expect(page.get_by_test_id(f"tab-{tab}")).to_be_visible()


def test_api_token_is_shown_once_works_and_can_be_revoked(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    page.goto(f"{live_server.base_url}/settings")
    page.get_by_test_id("token-name").fill("e2e-token")
    page.get_by_test_id("token-create").click()
    secret_field = page.get_by_test_id("token-secret")
    expect(secret_field).to_have_value(re.compile(r"^aip_"))
    secret = secret_field.input_value()
    expect(page.get_by_test_id("token-created")).to_contain_text("will not be shown again")

    me = httpx.get(
        f"{live_server.base_url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
    )
    assert me.status_code == 200, me.text
    assert me.json()["user"]["name"] == "admin"
    assert me.json()["user"]["role"] == "admin"

    row = page.get_by_test_id("token-table").locator("tr", has_text="e2e-token")
    expect(row).to_contain_text("active")
    row.get_by_test_id("token-revoke").click()
    page.get_by_test_id("revoke-confirm").click()
    expect(row).to_contain_text("revoked")

    again = httpx.get(
        f"{live_server.base_url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
    )
    assert again.status_code == 401

    page.reload()
    expect(page.get_by_test_id("token-table").locator("tr", has_text="e2e-token")).to_be_visible()
    expect(page.get_by_test_id("token-secret")).to_have_count(0)


def test_login_link_works_only_once(
    anonymous_page: Page, live_server: LiveServer, admin_state: dict[str, object]
) -> None:
    # admin_state has spent the server's link; a second visit must not log in.
    page = anonymous_page
    page.goto(live_server.login_url)
    expect(page).to_have_url(re.compile(r"/login\?error=link$"))
    expect(page.get_by_test_id("login-error")).to_contain_text("invalid, already used or expired")


def test_log_out_ends_the_session(browser: Browser, live_server: LiveServer) -> None:
    # A session of its own: logging out the shared one would break the other tests.
    context = new_context(browser)
    page = context.new_page()
    page.goto(live_server.new_login_link())
    expect(page.get_by_test_id("page-title")).to_have_text("Welcome, Administrator")
    page.get_by_test_id("user-menu").click()
    expect(page.get_by_test_id("user-role")).to_contain_text("admin")
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(f"{live_server.base_url}/login")
    page.goto(f"{live_server.base_url}/train")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftrain$"))
    context.close()


def test_admin_creates_a_user_who_logs_in_by_link_and_can_be_suspended(
    admin_page: Page, browser: Browser, live_server: LiveServer
) -> None:
    admin = admin_page
    admin.goto(f"{live_server.base_url}/settings?tab=users")
    admin.get_by_test_id("user-new-name").fill("jdoe")
    admin.get_by_test_id("user-new-display").fill("Jane Doe")
    admin.get_by_test_id("user-create").click()
    row = admin.get_by_test_id("user-table").locator("tr", has_text="jdoe")
    expect(row).to_contain_text("member")
    row.get_by_role("button", name="Login link").click()
    link_field = admin.get_by_test_id("user-login-link")
    expect(link_field).to_have_value(re.compile(r"/auth/link/"))
    link = link_field.input_value()
    admin.keyboard.press("Escape")

    context = new_context(browser)
    member = context.new_page()
    member.goto(link)
    expect(member.get_by_test_id("page-title")).to_have_text("Welcome, Jane Doe")
    expect(member.get_by_test_id("summary-tokens")).to_be_visible()
    expect(member.get_by_test_id("summary-users")).to_have_count(0)
    member.get_by_test_id("nav-settings").click()
    expect(member.get_by_test_id("tab-account")).to_be_visible()
    expect(member.get_by_test_id("tab-users")).to_have_count(0)

    row.get_by_role("button", name="Suspend").click()
    admin.get_by_role("button", name="Suspend", exact=True).last.click()
    expect(row).to_contain_text("suspended")
    member.reload()
    expect(member).to_have_url(re.compile(r"/login\?next=%2Fsettings$"))
    context.close()
