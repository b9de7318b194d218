"""RateBudget at its edges: defaults, boundaries of each bound, and the probe after a 429."""

from __future__ import annotations

import pytest

from fec.budget import Decision, RateBudget

WALL0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL0 + self.now


def budget(limit: int = 1000, **options: float | int | None) -> tuple[RateBudget, Clock]:
    clock = Clock()
    made = RateBudget(limit, clock=clock, wall=clock.wall, rng=lambda: 0.0,
                      **options)  # type: ignore[arg-type]
    return made, clock


def test_the_defaults_are_an_hourly_window_and_five_minutes_of_waiting() -> None:
    hourly, clock = budget(1)
    assert hourly.acquire().action == "go"
    clock.now += 3599.5
    assert hourly.acquire() == Decision("wait", 0.5)  # inside the hour, and within max_wait
    clock.now += 0.5
    assert hourly.acquire().action == "go"
    patient, _ = budget()
    patient.on_rate_limited(300.0)  # exactly the default max_wait: a pause, not a stop
    assert patient.acquire() == Decision("wait", 300.0)
    impatient, _ = budget()
    impatient.on_rate_limited(300.5)
    assert impatient.acquire().action == "stop"


@pytest.mark.parametrize("options", [
    {"limit": 1}, {"window": 0.25}, {"max_wait": 0.0}, {"max_requests": 0},
])
def test_the_smallest_valid_settings_are_accepted(options: dict[str, float]) -> None:
    limit = int(options.pop("limit", 5))
    RateBudget(limit, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("limit", "options", "message"), [
    (0, {}, "limit must be >= 1, window and backoff_base > 0, max_wait >= 0"),
    (5, {"window": 0.0}, "limit must be >= 1, window and backoff_base > 0, max_wait >= 0"),
    (5, {"max_wait": -0.5}, "limit must be >= 1, window and backoff_base > 0, max_wait >= 0"),
    (5, {"backoff_base": 0.0}, "limit must be >= 1, window and backoff_base > 0, max_wait >= 0"),
    (5, {"max_requests": -1}, "max_requests must be >= 0"),
])
def test_nonsense_settings_say_which(limit: int, options: dict[str, float],
                                     message: str) -> None:
    with pytest.raises(ValueError) as info:
        RateBudget(limit, **options)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_the_estimate_counts_our_requests_until_the_server_speaks() -> None:
    made, clock = budget(3, window=60.0)
    assert made.remaining_estimate() == 3
    for _ in range(3):
        made.acquire()
    assert made.remaining_estimate() == 0
    clock.now += 60.0  # they have all left the window
    assert made.remaining_estimate() == 3
    made.observe(None, 1)
    made.acquire()
    assert made.remaining_estimate() == 0


def test_a_header_limit_is_taken_only_when_positive() -> None:
    made, _ = budget(50)
    made.observe(0, None)
    assert made.limit == 50
    made.observe(1, None)
    assert made.limit == 1


def test_a_second_answer_to_the_same_grant_is_still_news() -> None:
    made, _ = budget()
    seq = made.acquire().seq
    made.observe(None, 5, seq)
    made.observe(None, 2, seq)
    assert made.remaining_estimate() == 2


@pytest.mark.parametrize("retry_after", [1.0, 1.5])
def test_a_retry_after_of_a_second_or_more_is_honoured_as_given(retry_after: float) -> None:
    made, _ = budget()
    made.on_rate_limited(retry_after)
    assert made.acquire() == Decision("wait", retry_after)


def test_retry_afters_count_toward_the_backoff_exponent() -> None:
    made, clock = budget()
    for _ in range(2):
        made.on_rate_limited(5.0)
        clock.now += 5.0
    made.on_rate_limited(None)  # a third 429 in a row, without Retry-After: 2 s x 2^2
    assert made.acquire() == Decision("wait", 8.0)


def test_after_a_429_only_one_probe_goes_whatever_the_server_said_before() -> None:
    made, clock = budget()
    made.observe(None, 10)
    made.on_rate_limited(2.0)
    clock.now += 2.0
    assert made.acquire().action == "go"  # the probe
    # nothing more until it is answered: a backoff that continues the 429's streak
    assert made.acquire() == Decision("wait", 4.0)


def test_granted_requests_spent_pause_then_allow_exactly_one_probe() -> None:
    made, clock = budget()
    made.observe(None, 2)
    assert [made.acquire().action for _ in range(2)] == ["go", "go"]
    assert made.acquire() == Decision("wait", 2.0)
    clock.now += 2.0
    assert made.acquire().action == "go"
    assert made.acquire() == Decision("wait", 4.0)


def test_a_backoff_before_the_server_speaks_keeps_our_own_count() -> None:
    made, clock = budget()
    made.on_rate_limited(None)
    clock.now += 2.0
    assert [made.acquire().action for _ in range(3)] == ["go", "go", "go"]


def test_the_window_wait_is_for_the_oldest_request_even_when_short() -> None:
    made, clock = budget(2, window=1.0)
    made.acquire()
    clock.now += 0.2
    made.acquire()
    clock.now += 0.3
    assert made.acquire() == Decision("wait", 0.5)  # until the first leaves, not the second


def test_a_later_retry_after_extends_a_pause_by_the_difference_only() -> None:
    made, clock = budget(max_wait=1.5)
    made.on_rate_limited(1.0)
    clock.now += 0.5
    made.on_rate_limited(1.0)  # extends by 0.5 s: 1.5 s in all, exactly max_wait
    assert made.acquire() == Decision("wait", 1.0)
    assert made.paused_total == 1.5


def test_a_backoff_past_max_wait_stops_with_a_time_to_resume() -> None:
    made, clock = budget(max_wait=1.0)
    made.on_rate_limited(None)  # 2 s of backoff would pass the 1 s limit
    assert made.acquire() == Decision("stop", 0.0, clock.wall() + 2.0)
    spent, clock = budget(max_wait=1.0)
    spent.observe(None, 1)
    assert spent.acquire().action == "go"
    assert spent.acquire() == Decision("stop", 0.0, clock.wall() + 3600.0)  # the window
