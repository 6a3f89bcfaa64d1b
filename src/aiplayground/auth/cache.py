"""A short-lived cache of checked API tokens, so the hot path skips the database.

Inference requests carry a bearer token each; checking it in the database cost more than
the prediction. A hit is trusted for `ttl` seconds. Revoking a token, or suspending or
changing a user, clears the affected entries in this process at once; another server
process sharing the database sees the change within `ttl` seconds at most.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from aiplayground.auth.principal import Principal
from aiplayground.store.tables import utcnow


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    token_id: str
    token_expires_at: datetime | None
    fresh_until: float


class TokenCache:
    """Maps a token digest to the principal it authenticated, for a few seconds."""

    def __init__(self, ttl: float = 2.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Principal | None:
        """The cached principal, or None when absent, stale or past the token's expiry."""
        if self.ttl <= 0:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.fresh_until < time.monotonic() or (
            entry.token_expires_at is not None and entry.token_expires_at <= utcnow()
        ):
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return entry.principal

    def put(
        self, digest: str, principal: Principal, token_id: str, expires_at: datetime | None
    ) -> None:
        """Remember a successful check."""
        if self.ttl <= 0:
            return
        entry = _Entry(principal, token_id, expires_at, time.monotonic() + self.ttl)
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_token(self, token_id: str) -> None:
        """Drop the entry of one token (revoked)."""
        with self._lock:
            for digest in [d for d, e in self._entries.items() if e.token_id == token_id]:
                del self._entries[digest]

    def forget_user(self, user_id: str) -> None:
        """Drop every entry of one user (suspended, role changed)."""
        with self._lock:
            for digest in [d for d, e in self._entries.items() if e.principal.user_id == user_id]:
                del self._entries[digest]
