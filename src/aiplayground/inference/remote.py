"""Forwarding to remote KServe v1/v2 endpoints registered in the catalog.

Time-outs become 504, transport and server errors 502, and a refused input 400. Only
requests that cannot have reached the remote model (a refused connection), or reads, are
retried: a prediction that may have run is never sent twice.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson

from aiplayground.catalog.schemas import EndpointInfo, Protocol
from aiplayground.errors import InvalidInput, PlaygroundError, UpstreamError, UpstreamTimeout
from aiplayground.inference import codec_v1, codec_v2
from aiplayground.inference.tensor import InferRequest, InferResponse

RETRIES = 1
MAX_ERROR_TEXT = 500


class RemoteForwarder:
    """One pooled HTTP client for every remote endpoint."""

    def __init__(
        self,
        timeout_s: float,
        max_elements: int,
        max_response_bytes: int,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.max_elements = max_elements
        self.max_response_bytes = max_response_bytes
        # The platform passes its URL policy's client, which checks every address it
        # connects to (SSRF); redirects are never followed.
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            follow_redirects=False,
        )

    async def close(self) -> None:
        """Close pooled connections."""
        await self.client.aclose()

    async def infer(
        self, endpoint: EndpointInfo, name: str, api_key: str | None, request: InferRequest
    ) -> InferResponse:
        """Send the request in the endpoint's protocol and decode its answer."""
        remote = endpoint.remote_name or name
        base = endpoint.url.rstrip("/")
        if endpoint.protocol is Protocol.KSERVE_V2:
            body, headers = codec_v2.encode_request(request, binary=False)
            _, content, answer_headers = await self._send(
                "POST", f"{base}/v2/models/{remote}/infer", api_key, body, headers
            )
            try:
                response = codec_v2.decode_response(
                    content, answer_headers.get(codec_v2.HEADER_LENGTH), self.max_elements
                )
            except (InvalidInput, ValueError) as exc:
                raise UpstreamError(f"the remote endpoint's answer is malformed: {exc}") from exc
        elif endpoint.protocol is Protocol.KSERVE_V1:
            body = orjson.dumps(_v1_body(request), option=orjson.OPT_SERIALIZE_NUMPY)
            _, content, _ = await self._send(
                "POST",
                f"{base}/v1/models/{remote}:predict",
                api_key,
                body,
                {"content-type": "application/json"},
            )
            response = _v1_response(content, self.max_elements)
        else:
            raise InvalidInput(
                f"model {name!r} is an OpenAI-compatible endpoint: use the /openai/v1 routes"
            )
        response.model_name = name
        response.id = request.id
        return response

    async def get(self, endpoint: EndpointInfo, name: str, api_key: str | None) -> Any:
        """The remote model's metadata (v2) or status (v1)."""
        remote = endpoint.remote_name or name
        base = endpoint.url.rstrip("/")
        path = (
            f"/v2/models/{remote}"
            if endpoint.protocol is Protocol.KSERVE_V2
            else f"/v1/models/{remote}"
        )
        _, content, _ = await self._send("GET", base + path, api_key, None, {})
        return codec_v2.parse_json(content, "remote answer")

    async def _send(
        self,
        method: str,
        url: str,
        api_key: str | None,
        body: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes, httpx.Headers]:
        if api_key:
            headers = {**headers, "authorization": f"Bearer {api_key}"}
        for attempt in range(RETRIES + 1):
            try:
                return await self._once(method, url, body, headers)
            except httpx.ConnectError as exc:
                if attempt == RETRIES:
                    raise UpstreamError(f"cannot connect to the remote endpoint: {exc}") from exc
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout("the remote endpoint did not answer in time") from exc
            except httpx.TransportError as exc:
                if method != "GET" or attempt == RETRIES:
                    raise UpstreamError(f"the remote endpoint failed: {exc}") from exc
        raise AssertionError("unreachable")

    async def _once(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, httpx.Headers]:
        async with self.client.stream(method, url, content=body, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise UpstreamError("the remote endpoint's answer is too large")
                chunks.append(chunk)
            content = b"".join(chunks)
            if response.status_code >= 400:
                raise _error(response.status_code, content)
            if response.status_code >= 300:
                raise UpstreamError(f"the remote endpoint redirected ({response.status_code})")
            return response.status_code, content, response.headers


def _error(status: int, content: bytes) -> PlaygroundError:
    try:
        payload = orjson.loads(content)
        message = payload.get("error", payload) if isinstance(payload, dict) else payload
    except orjson.JSONDecodeError:
        message = content.decode("utf-8", "replace")
    text = str(message)[:MAX_ERROR_TEXT]
    if status in (400, 422):
        return InvalidInput(f"the remote model refused the input: {text}")
    if status in (504, 408):
        return UpstreamTimeout(f"the remote endpoint timed out: {text}")
    return UpstreamError(f"the remote endpoint answered {status}: {text}")


def _v1_body(request: InferRequest) -> dict[str, Any]:
    if request.raw_v1 is not None:
        return request.raw_v1
    if len(request.inputs) != 1:
        raise InvalidInput("a KServe v1 endpoint takes one input")
    data = request.inputs[0].data
    instances: Any = data if data.dtype.kind in "biuf" else np.asarray(data).tolist()
    body: dict[str, Any] = {"instances": instances}
    if request.parameters:
        body["parameters"] = request.parameters
    return body


def _v1_response(content: bytes, max_elements: int) -> InferResponse:
    try:
        payload = codec_v2.parse_json(content, "remote answer")
    except InvalidInput as exc:
        raise UpstreamError(f"the remote endpoint's answer is malformed: {exc}") from exc
    if not isinstance(payload, dict) or "predictions" not in payload:
        raise UpstreamError("the remote endpoint's answer has no 'predictions'")
    predictions = payload["predictions"]
    tensor = codec_v1.predictions_tensor(predictions, max_elements)
    return InferResponse(
        outputs=[tensor] if tensor is not None else [],
        raw_predictions=predictions,
    )
