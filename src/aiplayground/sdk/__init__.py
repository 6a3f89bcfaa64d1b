"""Python SDK: `Client(base_url, token)` over the platform's REST API."""

from aiplayground.sdk.client import ApiError, Client

__all__ = ["ApiError", "Client"]
