"""OpenAI-compatible embeddings served by the platform's packaged models: /openai/v1/embeddings.

The official `openai` client works unchanged (`client.embeddings.create(model=..., input=...)`;
it asks for base64 by default). Inputs longer than the model's window are truncated to it,
as sentence-transformers does. Errors use OpenAI's error shape (`api.errors`).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from aiplayground.api.deps import CurrentPrincipal
from aiplayground.api.routes.knowledge import knowledge_service
from aiplayground.errors import InvalidInput, TooLarge

router = APIRouter(prefix="/openai/v1", tags=["openai"])
MAX_INPUT_CHARS = 100_000
BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["model", "input"],
                    "properties": {
                        "model": {"type": "string"},
                        "input": {
                            "oneOf": [
                                {"type": "string"},
                                {"type": "array", "items": {"type": "string"}},
                            ]
                        },
                        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
                        "dimensions": {"type": "integer"},
                        "user": {"type": "string"},
                    },
                }
            }
        },
    }
}


def _invalid(message: str, param: str) -> InvalidInput:
    return InvalidInput(message, details={"param": param})


async def _body(request: Request) -> dict[str, Any]:
    limit = request.app.state.platform.settings.limits.max_json_bytes
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > limit:
            raise TooLarge(f"the request body exceeds {limit} bytes")
    try:
        body = orjson.loads(bytes(raw))
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"the body is not valid JSON: {exc}", "body") from exc
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object", "body")
    return body


def _inputs(body: dict[str, Any], most: int) -> list[str]:
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise _invalid("'input' must be a string or a non-empty list of strings", "input")
    if not all(isinstance(t, str) for t in texts):
        raise _invalid("token-id inputs are not supported here; send text", "input")
    if len(texts) > most:
        raise _invalid(f"at most {most} inputs per request", "input")
    for text in texts:
        if not text:
            raise _invalid("inputs must not be empty strings", "input")
        if len(text) > MAX_INPUT_CHARS:
            raise _invalid(f"an input is longer than {MAX_INPUT_CHARS} characters", "input")
    return texts


@router.post("/embeddings", openapi_extra=BODY)
async def create_embeddings(request: Request, caller: CurrentPrincipal) -> Response:
    """Embeddings of the inputs by a packaged model (GET /api/v1/embedding-models lists them)."""
    service = knowledge_service(request)
    body = await _body(request)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("'model' must name an embedding model", "model")
    texts = _inputs(body, service.settings.max_embedding_inputs)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise _invalid("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    vectors, tokens, name = await run_in_threadpool(service.embed, model, texts)
    dimensions = body.get("dimensions")
    if dimensions is not None and dimensions != vectors.shape[1]:
        raise _invalid(f"model {name!r} makes {vectors.shape[1]}-dimensional vectors", "dimensions")
    rows = np.asarray(vectors, dtype="<f4")
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(row.tobytes()).decode("ascii")
            if encoding == "base64"
            else row.tolist(),
        }
        for i, row in enumerate(rows)
    ]
    answer = {
        "object": "list",
        "data": data,
        "model": name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Response(orjson.dumps(answer), media_type="application/json")
