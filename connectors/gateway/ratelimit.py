"""Flood protection: sliding one-minute windows kept in process memory.

Two lines of defence for chat (docs/ARCHITECTURE.md "Abuse limits"): per conversation (`RATE_LIMIT_PER_MINUTE`;
the sender id is proven by its token, so nobody can use up another caller's allowance) and per client
address (`RATE_LIMIT_PER_CLIENT_PER_MINUTE`, higher, for several callers behind one NAT), so rotating
conversation ids does not lift the limit. IPv6 clients are counted per /64, the block one client gets.
"""
from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque

WINDOW_SECONDS = 60.0
MAX_TRACKED_SENDERS = 100_000


def client_key(host: str | None) -> str:
    """The rate-limit key of a client address: the address itself, or its /64 for IPv6."""
    if not host:
        return "ip:unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "ip:" + host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "ip:" + str(address.ipv4_mapped)
        return "ip:" + str(ipaddress.ip_network(f"{address}/64", strict=False))
    return "ip:" + str(address)


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
