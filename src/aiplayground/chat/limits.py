"""Per-user request rate (token bucket) and concurrent stream limits, answered with 429."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from aiplayground.errors import RateLimited
from aiplayground.settings import ChatSettings


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class ChatLimits:
    """Admission for generations: a token bucket per user, and stream counts."""

    def __init__(self, settings: ChatSettings) -> None:
        self.rate = settings.requests_per_minute / 60.0
        self.burst = float(settings.burst)
        self.per_user = settings.max_streams_per_user
        self.total = settings.max_streams
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._streams: defaultdict[str, int] = defaultdict(int)
        self._running = 0

    def admit(self, user_id: str) -> None:
        """Take one request from the user's bucket and a stream slot; RateLimited if none."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(user_id) or _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            self._buckets[user_id] = bucket
            if bucket.tokens < 1.0:
                raise RateLimited(
                    f"too many chat requests: at most {self.rate * 60:g} a minute "
                    f"(bursts of {self.burst:g})",
                    retry_after=(1.0 - bucket.tokens) / self.rate,
                )
            if self._streams[user_id] >= self.per_user:
                raise RateLimited(
                    f"you have {self.per_user} generations running; wait for one to finish",
                    retry_after=1.0,
                )
            if self._running >= self.total:
                raise RateLimited("the server is generating at capacity", retry_after=2.0)
            bucket.tokens -= 1.0
            self._streams[user_id] += 1
            self._running += 1

    def release(self, user_id: str) -> None:
        """Give the stream slot back."""
        with self._lock:
            self._running -= 1
            self._streams[user_id] -= 1
            if self._streams[user_id] <= 0:
                del self._streams[user_id]
