"""Per-sender flood protection: a sliding one-minute window kept in process memory."""
from __future__ import annotations

import time
from collections import OrderedDict, deque

WINDOW_SECONDS = 60.0
MAX_TRACKED_SENDERS = 100_000


class RateLimiter:
    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int:
        """Record one hit; return 0 if allowed, else seconds to wait."""
        now = self._clock()
        hits = self._hits.pop(key, None) or deque()
        while hits and now - hits[0] >= WINDOW_SECONDS:
            hits.popleft()
        self._hits[key] = hits  # most recently used last, so the oldest senders are dropped first
        if len(self._hits) > MAX_TRACKED_SENDERS:
            self._hits.popitem(last=False)
        if len(hits) >= self.per_minute:
            return max(1, int(WINDOW_SECONDS - (now - hits[0])) + 1)
        hits.append(now)
        return 0
