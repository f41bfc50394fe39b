"""Flood protection: sliding one-minute windows kept in process memory, or in Redis when several gateway
processes share the limits (RATE_LIMIT_REDIS_URL, set by the scale-out mode; see SharedWindows below).

Two lines of defence for chat (docs/ARCHITECTURE.md "Abuse limits"): per conversation (`RATE_LIMIT_PER_MINUTE`;
the sender id is proven by its token, so nobody can use up another caller's allowance) and per client
address (`RATE_LIMIT_PER_CLIENT_PER_MINUTE`, higher, for several callers behind one NAT), so rotating
conversation ids does not lift the limit. IPv6 clients are counted per /64, the block one client gets.
"""
from __future__ import annotations

import ipaddress
import itertools
import logging
import time
from collections import OrderedDict, deque

from starlette.requests import HTTPConnection

from connectors.gateway.errors import ApiError
from core.settings import get_settings

log = logging.getLogger("hotline.ratelimit")
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
    def __init__(self, per_minute: int, clock=time.monotonic, *, scope: str = "", redis_url: str = "") -> None:
        """`redis_url` (RATE_LIMIT_REDIS_URL, scale-out): one window per key shared by every gateway process, in
        Redis under `scope`, which each limiter names; empty: windows in this process only."""
        if redis_url and not scope:
            raise ValueError("a limiter shared in Redis needs its own scope")
        self.per_minute = per_minute
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._shared = SharedWindows(redis_url, f"{scope}:") if redis_url else None

    def retry_after(self, key: str) -> int:
        """Record one hit; return 0 if allowed, else seconds to wait."""
        if self._shared is not None:
            wait = self._shared.retry_after(key, self.per_minute)
            if wait is not None:
                return wait
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


def refuse_if_limited(wait: int) -> None:
    """429 `rate_limited` with Retry-After when `wait` (RateLimiter.retry_after) says the caller must wait."""
    if wait:
        raise ApiError(429, "rate_limited", headers={"Retry-After": str(wait)}, seconds=wait)


def limit(conn: HTTPConnection, name: str, per_minute: int, *keys: str) -> None:
    """A route's own limit: one hit per key on the app's limiter `app.state.<name>` (made on first use with
    `per_minute`, shared in Redis under `name` in scale-out mode); 429 when any key is over it."""
    limiter = getattr(conn.app.state, name, None)
    if limiter is None:
        limiter = RateLimiter(per_minute, scope=name, redis_url=get_settings().rate_limit_redis_url)
        setattr(conn.app.state, name, limiter)
    for key in keys:
        refuse_if_limited(limiter.retry_after(key))


# -- shared windows in Redis (scale-out) ----------------------------------------------------------------------------
# One sorted set per key (hit times as scores, on the Redis server's clock), trimmed and counted atomically.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.floor(window - (now - tonumber(oldest[2]))) + 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return 0
"""
SHARED_PREFIX = "hotline:ratelimit:"
_MEMBERS = itertools.count()
SHARED_RETRY_SECONDS = 5.0  # after a Redis error, count in process memory for this long before trying again


class SharedWindows:
    """The sliding windows of RateLimiter in Redis, so N gateways enforce one limit, not N.

    A short synchronous call (a local Redis answers in well under a millisecond; socket timeout 0.5 s). When
    Redis cannot be reached the limiter does not fail the request: `retry_after` returns None and the caller
    counts in its own memory (limits per process) until Redis answers again."""

    def __init__(self, url: str, scope: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._script = self._redis.register_script(_SLIDING_WINDOW)
        self._prefix = SHARED_PREFIX + scope
        self._down_until = 0.0

    def retry_after(self, key: str, per_minute: int) -> int | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            member = f"{time.time_ns()}-{id(self)}-{next(_MEMBERS)}"
            return int(self._script(keys=[self._prefix + key], args=[WINDOW_SECONDS, per_minute, member]))
        except Exception as exc:  # noqa: BLE001 - any Redis failure: fall back, never a 500
            self._down_until = time.monotonic() + SHARED_RETRY_SECONDS
            log.warning(
                "shared rate limits unavailable (%s); counting per process for %.0f s", type(exc).__name__,
                SHARED_RETRY_SECONDS)
            return None
