"""KServe v1 and Open Inference Protocol v2 routes: thin translations to `InferenceService`.

Bodies are read raw and decoded with orjson straight into numpy (no pydantic per request);
errors are rendered in the KServe shape `{"error": "..."}` by `api.errors`.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from aiplayground import __version__
from aiplayground.api.deps import CurrentPrincipal, authenticate
from aiplayground.errors import InvalidInput, TooLarge
from aiplayground.inference import codec_v1, codec_v2
from aiplayground.inference.service import InferenceService

router = APIRouter(tags=["inference"])
JSON = "application/json"
INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {JSON: {"schema": {"type": "object"}}},
    }
}


async def _service(request: Request) -> InferenceService:
    # async: FastAPI would run a plain function in a thread, a hop per request.
    service: InferenceService = request.app.state.platform.inference
    return service


Service = Annotated[InferenceService, Depends(_service)]


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type=JSON)


async def _body(request: Request, service: InferenceService, *, binary: bool) -> bytes:
    """The request body, refused early past its limit and inflated if compressed."""
    limit = service.settings.max_request_bytes
    if not binary:
        limit = min(limit, request.app.state.platform.settings.limits.max_json_bytes)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "deflate"):
        return _inflate(body, encoding, limit)
    if encoding != "identity":
        raise InvalidInput(f"unsupported Content-Encoding {encoding!r}: use gzip or deflate")
    return body


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the {encoding} body is corrupt") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"the inflated request body exceeds {limit} bytes")
    return out


# The inference routes: first, since routes are matched in order. They take the request
# alone and read their path parameters and caller themselves: FastAPI's resolution of
# typed parameters and dependencies was a fifth of the server's time per request.


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


INFER_BY_NAME: dict[str, Any] = {**INFER_BODY, "parameters": [_path_parameter("name")]}
INFER_BY_VERSION: dict[str, Any] = {
    **INFER_BODY,
    "parameters": [_path_parameter("name"), _path_parameter("version")],
}


@router.post("/v2/models/{name}/infer", openapi_extra=INFER_BY_NAME)
@router.post("/v2/models/{name}/versions/{version}/infer", openapi_extra=INFER_BY_VERSION)
async def infer_v2(request: Request) -> Response:
    """Inference with typed tensors (JSON, or JSON + binary tensor data)."""
    caller = await authenticate(request)
    service = await _service(request)
    path = request.path_params
    split = request.headers.get(codec_v2.HEADER_LENGTH)
    body = await _body(request, service, binary=split is not None)
    infer_request = codec_v2.decode_request(body, split, service.settings.max_elements)
    result = await service.infer(caller, path["name"], path.get("version"), infer_request)
    if not result.outputs and result.raw_predictions is not None:
        raise InvalidInput("the remote v1 endpoint's answer is not a tensor: use /v1/models")
    content, headers = codec_v2.encode_response(result, infer_request)
    return Response(content, media_type=headers.pop("content-type"), headers=headers)


@router.post("/v1/models/{name}:predict", openapi_extra=INFER_BY_NAME)
async def predict_v1(request: Request) -> Response:
    """`{"instances": [...]}` in, `{"predictions": [...]}` out."""
    caller = await authenticate(request)
    service = await _service(request)
    body = await _body(request, service, binary=False)
    infer_request = codec_v1.decode_request(body, service.settings.max_elements)
    result = await service.infer(caller, request.path_params["name"], None, infer_request)
    return Response(codec_v1.encode_response(result), media_type=JSON)


# Open Inference Protocol v2: health and server ---------------------------------------


@router.get("/v2/health/live")
def live() -> Response:
    """The server process is up (no credential needed)."""
    return _json({"live": True})


@router.get("/v2/health/ready")
def ready(request: Request) -> Response:
    """The server takes inference requests; false while it shuts down (no credential needed)."""
    draining = bool(request.app.state.platform.draining)
    return _json({"ready": not draining}, 503 if draining else 200)


@router.get("/v2")
def server_metadata(_: CurrentPrincipal) -> Response:
    """Server name, version and protocol extensions."""
    return _json(
        {"name": "ai-playground", "version": __version__, "extensions": ["binary_tensor_data"]}
    )


# Open Inference Protocol v2: models ----------------------------------------------------


@router.get("/v2/models/{name}")
@router.get("/v2/models/{name}/versions/{version}")
async def model_metadata(
    name: str, caller: CurrentPrincipal, service: Service, version: str | None = None
) -> Response:
    """Model metadata: versions, platform, inputs and outputs."""
    return _json(await service.metadata(caller, name, version))


@router.get("/v2/models/{name}/ready")
@router.get("/v2/models/{name}/versions/{version}/ready")
async def model_ready(
    name: str, caller: CurrentPrincipal, service: Service, version: str | None = None
) -> Response:
    """Whether the model can serve; loads it if needed (200 ready, 503 not)."""
    ok = await service.ready(caller, name, version)
    return _json({"name": name, "ready": ok}, 200 if ok else 503)


# KServe v1 -------------------------------------------------------------------------------


@router.get("/v1/models/{name}")
async def model_status_v1(name: str, caller: CurrentPrincipal, service: Service) -> Response:
    """`{"name": ..., "ready": ...}`; loads the model if needed."""
    ok = await service.ready(caller, name)
    return _json({"name": name, "ready": ok}, 200 if ok else 503)
