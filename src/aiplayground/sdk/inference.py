"""Inference calls of the SDK: KServe v1 and Open Inference Protocol v2 against the platform."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from aiplayground import errors

# The protocol routes answer errors as {"error": "message"}: the status tells the kind.
_ERRORS_BY_STATUS: dict[int, type[errors.PlaygroundError]] = {
    400: errors.InvalidInput,
    401: errors.Unauthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    413: errors.TooLarge,
    422: errors.ValidationFailed,
    501: errors.MissingDependency,
    502: errors.UpstreamError,
    503: errors.Unavailable,
    504: errors.UpstreamTimeout,
}
DATATYPES = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}


def protocol_error(response: httpx.Response) -> errors.PlaygroundError:
    """The PlaygroundError for a KServe-shaped error answer."""
    try:
        payload = response.json()
        message = str(payload.get("error", payload)) if isinstance(payload, dict) else str(payload)
    except ValueError:
        message = response.text or response.reason_phrase
    if response.status_code == 429:
        return errors.RateLimited(
            message, retry_after=float(response.headers.get("retry-after", 1))
        )
    cls = _ERRORS_BY_STATUS.get(response.status_code, errors.PlaygroundError)
    return cls(message or f"HTTP {response.status_code}")


def request_body(data: Any, protocol: str) -> dict[str, Any]:
    """A protocol body from a ready body (dict) or from rows (a list or an array)."""
    if isinstance(data, dict):
        return data
    if protocol == "v1":
        return {"instances": data.tolist() if hasattr(data, "tolist") else list(data)}
    import numpy as np

    array = np.asarray(data)
    datatype = "BYTES" if array.dtype.kind in "USO" else DATATYPES.get(array.dtype.kind, "FP64")
    values = array.ravel().tolist()
    tensor = {"name": "input-0", "datatype": datatype, "shape": list(array.shape), "data": values}
    return {"inputs": [tensor]}


class InferenceMixin:
    """Methods for /v1 and /v2 (mixed into `Client`)."""

    http: httpx.Client

    def infer(
        self, model: str, data: Any, protocol: str = "v2", version: str | int | None = None
    ) -> dict[str, Any]:
        """Predict with a catalog model; `data` is a protocol body or rows to send."""
        name = quote(model, safe="")
        body = request_body(data, protocol)
        if protocol == "v1":
            if version is not None:
                raise errors.InvalidInput("KServe v1 has no versions: use protocol='v2'")
            path = f"/v1/models/{name}:predict"
        elif protocol == "v2":
            prefix = f"/v2/models/{name}"
            if version is not None:
                prefix += f"/versions/{quote(str(version), safe='')}"
            path = f"{prefix}/infer"
        else:
            raise errors.InvalidInput(f"unknown protocol {protocol!r}: use v1 or v2")
        return self._protocol_call("POST", path, json=body)

    def model_metadata(self, model: str, version: str | int | None = None) -> dict[str, Any]:
        """Open Inference Protocol metadata of a model: versions, inputs and outputs."""
        path = f"/v2/models/{quote(model, safe='')}"
        if version is not None:
            path += f"/versions/{quote(str(version), safe='')}"
        return self._protocol_call("GET", path)

    def model_ready(self, model: str) -> bool:
        """Whether the model can serve now (loading it if needed)."""
        response = self.http.get(f"/v2/models/{quote(model, safe='')}/ready")
        if response.status_code == 503:
            return False
        if not response.is_success:
            raise protocol_error(response)
        return bool(response.json().get("ready"))

    def _protocol_call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, path, **kwargs)
        if not response.is_success:
            raise protocol_error(response)
        result: dict[str, Any] = response.json()
        return result
