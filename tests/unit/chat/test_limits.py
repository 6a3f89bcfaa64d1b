"""Per-user token bucket and stream slots."""

from __future__ import annotations

import pytest

from aiplayground.chat.limits import ChatLimits
from aiplayground.errors import RateLimited
from aiplayground.settings import ChatSettings


def test_bucket_refuses_with_retry_after_and_is_per_user() -> None:
    limits = ChatLimits(ChatSettings(burst=2, requests_per_minute=6, max_streams_per_user=9))
    for _ in range(2):
        limits.admit("alice")
        limits.release("alice")
    with pytest.raises(RateLimited) as caught:
        limits.admit("alice")
    assert 5 < caught.value.retry_after <= 10  # one request every 10 s
    limits.admit("bob")


def test_streams_per_user_and_in_total() -> None:
    limits = ChatLimits(ChatSettings(burst=10, max_streams_per_user=1, max_streams=2))
    limits.admit("alice")
    with pytest.raises(RateLimited):
        limits.admit("alice")
    limits.admit("bob")
    with pytest.raises(RateLimited, match="capacity"):
        limits.admit("carol")
    limits.release("alice")
    limits.admit("carol")
