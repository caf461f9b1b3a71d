"""A sliding-window rate limit per key, for anything that takes requests from outside.

Core's login uses it per client and user; channel plugins use it per sender (the web chat's
visitors and sockets). It keeps the times of the last ``limit`` events of each key, so memory is
bounded by the keys seen within one window; keys idle for a window are forgotten now and then.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]

FORGET_AFTER_KEYS = 10_000  # past this many keys, those idle for a window are dropped


class RateLimiter:
    """At most ``limit`` events per key in any ``window`` seconds (a sliding window)."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"a rate limit needs limit >= 1 and window > 0, not {limit}/{window}")
        self.limit = limit
        self.window = window
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}

    def take(self, key: str) -> float:
        """Count one event for ``key``: 0.0 when allowed; else, counting nothing, the seconds
        to wait before the next one is allowed (always more than zero)."""
        now = self.clock()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return max(seen[0] + self.window - now, 0.001)
        seen.append(now)
        if len(self._seen) > FORGET_AFTER_KEYS:
            for stale in [k for k, q in self._seen.items() if not q or q[-1] <= now - self.window]:
                del self._seen[stale]
        return 0.0

    def give_back(self, key: str) -> None:
        """Uncount the newest event of ``key``: for limits on failures, where each attempt is
        counted before it is tried (so attempts made at once cannot all slip under the
        limit) and given back when it succeeds."""
        seen = self._seen.get(key)
        if seen:
            seen.pop()
