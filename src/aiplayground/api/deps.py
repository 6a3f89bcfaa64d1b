"""Request dependencies: the platform's services and the authenticated caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from aiplayground.auth.principal import Principal
from aiplayground.errors import PermissionDenied, Unauthenticated
from aiplayground.singleflight import SingleFlight

if TYPE_CHECKING:
    from aiplayground.app import Platform

SESSION_COOKIE = "aip_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Concurrent requests with one token whose cached check expired share one database check
# (keyed by the auth service too: one process may serve several platforms, as tests do).
TOKEN_CHECKS: SingleFlight[tuple[object, str], Principal] = SingleFlight()


def get_platform(request: Request) -> Platform:
    """The composed services of this app."""
    platform: Platform = request.app.state.platform
    return platform


def check_same_origin(request: Request) -> None:
    """Refuse a cookie-authenticated state change that did not come from our own pages."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        raise PermissionDenied("cross-site request refused: no Origin header")
    host = urlsplit(origin).netloc
    if host != request.headers.get("host"):
        raise PermissionDenied("cross-site request refused: Origin does not match")


async def authenticate(request: Request) -> Principal:
    """The caller, from a bearer token or a session cookie; raises Unauthenticated.

    A recently checked token is answered from memory on the event loop; everything else
    goes to the database in the thread pool.
    """
    platform = get_platform(request)
    header = request.headers.get("authorization")
    if header:
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthenticated("use 'Authorization: Bearer <api token>'")
        cached = platform.auth.cached_token(secret)
        if cached is None:
            principal = await TOKEN_CHECKS.run(
                (platform.auth, secret),
                lambda: run_in_threadpool(platform.auth.authenticate_token, secret),
            )
        else:
            principal = cached
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthenticated("a credential is needed: an API token or a login session")
        principal = await run_in_threadpool(platform.auth.authenticate_session, cookie)
        if request.method not in SAFE_METHODS:
            check_same_origin(request)
    if request.method in SAFE_METHODS:
        principal.require_read()
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
