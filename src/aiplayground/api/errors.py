"""The one place where error codes become HTTP statuses and protocol-specific bodies."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from aiplayground import errors

log = logging.getLogger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    errors.InvalidInput.code: 400,
    errors.Unauthenticated.code: 401,
    errors.PermissionDenied.code: 403,
    errors.NotFound.code: 404,
    errors.Conflict.code: 409,
    errors.TooLarge.code: 413,
    errors.ValidationFailed.code: 422,
    errors.RateLimited.code: 429,
    errors.MissingDependency.code: 501,
    errors.UpstreamError.code: 502,
    errors.Unavailable.code: 503,
    errors.UpstreamTimeout.code: 504,
}

CODE_BY_STATUS: dict[int, str] = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


def protocol_of(path: str) -> str:
    """Which error shape a path answers in: 'kserve', 'openai' or 'platform'."""
    if path.startswith(("/v1/", "/v2/")) or path in ("/v1", "/v2"):
        return "kserve"
    if path.startswith("/openai/"):
        return "openai"
    return "platform"


def error_body(path: str, status: int, code: str, message: str, details: Any = None) -> bytes:
    """Render an error in the shape the route's protocol expects."""
    body: dict[str, Any]
    protocol = protocol_of(path)
    if protocol == "kserve":
        body = {"error": message}  # KServe v1 and Open Inference Protocol v2
    elif protocol == "openai":
        body = {"error": {"message": message, "type": code, "param": None, "code": code}}
        if isinstance(details, dict) and "param" in details:
            body["error"]["param"] = details["param"]
    else:
        body = {"error": {"code": code, "message": message}}
        if details:
            body["error"]["details"] = details
    return orjson.dumps(body)


def error_response(
    request: Request, status: int, code: str, message: str, details: Any = None
) -> Response:
    """A JSON error response for this request's protocol."""
    headers = {}
    if status == 401 and protocol_of(request.url.path) == "platform":
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(details, dict) and "retry_after" in details:
        headers["Retry-After"] = str(max(1, round(float(details["retry_after"]))))
    return Response(
        error_body(request.url.path, status, code, message, details),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _playground_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.PlaygroundError)
    status = STATUS_BY_CODE.get(exc.code, 500)
    if status >= 500:
        log.warning("request failed: %s", exc.message, extra={"code": exc.code})
    return error_response(request, status, exc.code, exc.message, exc.details)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e["msg"]}
        for e in exc.errors()
    ]
    first = problems[0] if problems else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return error_response(request, 422, "validation_failed", message, {"problems": problems})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_BY_STATUS.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    response = error_response(request, exc.status_code, code, message)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Map every error the app can raise to a JSON response."""
    app.add_exception_handler(errors.PlaygroundError, _playground_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
