"""Browser login: password form, one-time links and logout (cookies, not JSON)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from aiplayground.api.deps import SESSION_COOKIE, check_same_origin, get_platform
from aiplayground.auth.redirect import safe_next
from aiplayground.errors import Unauthenticated

router = APIRouter(prefix="/auth", include_in_schema=False)


def _with_session(request: Request, secret: str, target: str) -> RedirectResponse:
    platform = get_platform(request)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(platform.settings.server.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=platform.settings.server.secure_cookies,
        path="/",
    )
    return response


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form(max_length=2048)] = None,
) -> RedirectResponse:
    """Log in with a name and password; sets the session cookie."""
    check_same_origin(request)
    try:
        secret = get_platform(request).auth.login_with_password(username, password)
    except Unauthenticated:
        return RedirectResponse("/login?error=1", status_code=303)
    return _with_session(request, secret, safe_next(next))


@router.get("/link/{secret}")
def login_link(request: Request, secret: str) -> RedirectResponse:
    """Spend a one-time login link; sets the session cookie."""
    try:
        session = get_platform(request).auth.redeem_login_link(secret)
    except Unauthenticated:
        return RedirectResponse("/login?error=link", status_code=303)
    return _with_session(request, session, "/")


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """End the browser session."""
    check_same_origin(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        get_platform(request).auth.close_session(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
