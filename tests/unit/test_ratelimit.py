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
