"""The sliding-window rate limit shared by login and the channels."""

from __future__ import annotations

import pytest

from trunkline.ratelimit import FORGET_AFTER_KEYS, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_limit_events_pass_then_the_next_waits_for_the_oldest_to_leave_the_window() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 10.0, clock)
    for step in range(3):
        assert limiter.take("a") == 0.0
        clock.now += 1.0 if step < 2 else 0.0
    assert limiter.take("a") == pytest.approx(8.0)  # the first, at 100, leaves at 110
    assert limiter.take("b") == 0.0  # another key has its own window
    clock.now = 109.999
    assert limiter.take("a") > 0.0
    clock.now = 110.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0.0  # 101 and 102 are still inside, plus this one


def test_a_refusal_always_says_to_wait_and_counts_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 5.0, clock)
    assert limiter.take("k") == 0.0
    clock.now += 5.0 - 1e-12  # at the very edge the wait rounds to nothing: still a refusal
    for _ in range(10):
        assert limiter.take("k") > 0.0
    clock.now += 1e-6
    assert limiter.take("k") == 0.0


def test_idle_keys_are_forgotten_once_there_are_many() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 1.0, clock)
    for n in range(FORGET_AFTER_KEYS):
        limiter.take(f"old-{n}")
    clock.now += 2.0
    limiter.take("new-1")
    limiter.take("new-2")
    assert len(limiter._seen) <= 2


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (1, 0.0), (-1, 5.0)])
def test_a_limit_that_allows_nothing_is_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="limit >= 1 and window > 0"):
        RateLimiter(limit, window)


def test_an_event_given_back_no_longer_counts() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 10.0, clock)
    for _ in range(5):  # five successes in a row: each counted, then given back
        assert limiter.take("a") == 0.0
        limiter.give_back("a")
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0.0  # two kept: the limit holds
    limiter.give_back("never seen")  # nothing to give back: no error
