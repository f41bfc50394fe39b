import pytest

from connectors.gateway.ratelimit import RateLimiter


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_flooding_sender_is_told_how_long_to_wait_and_others_are_not_affected():
    clock = FakeClock()
    limiter = RateLimiter(per_minute=3, clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [0, 0, 0]
    wait = limiter.retry_after("a")
    assert 1 <= wait <= 61
    assert limiter.retry_after("b") == 0
    clock.now += 61
    assert limiter.retry_after("a") == 0


def test_redis_down_falls_back_to_limits_per_process():
    limiter = RateLimiter(per_minute=2, scope="down", redis_url="redis://127.0.0.1:1/0")
    assert [limiter.retry_after("web-a") for _ in range(2)] == [0, 0]
    assert limiter.retry_after("web-a") >= 1


def test_a_limiter_shared_in_redis_must_name_its_scope():
    # two limiters with the same number would otherwise count in one window
    with pytest.raises(ValueError):
        RateLimiter(per_minute=30, redis_url="redis://127.0.0.1:6379/0")
