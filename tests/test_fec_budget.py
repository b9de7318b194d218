"""RateBudget: decisions, shared pauses, max_wait, max_requests, and behaviour under threads."""

from __future__ import annotations

import logging
import threading
from collections import Counter

import pytest

from fec.budget import Decision, RateBudget, default_hourly_limit
from fec.errors import RequestLimitReached

WALL0 = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def wall(self) -> float:
        return WALL0 + self() - 1000.0


def make_budget(
    limit: int = 3, *, rng: float = 0.0, window: float = 3600.0, max_wait: float = 300.0,
    max_requests: int | None = None,
) -> tuple[RateBudget, FakeClock]:
    clock = FakeClock()
    budget = RateBudget(limit, window=window, max_wait=max_wait, max_requests=max_requests,
                        clock=clock, wall=clock.wall, rng=lambda: rng)
    return budget, clock


def test_default_hourly_limit() -> None:
    assert default_hourly_limit("DEMO_KEY") == 30
    assert default_hourly_limit("a" * 40) == 1000


def test_goes_until_the_window_is_full_then_waits_for_the_oldest_request() -> None:
    budget, clock = make_budget(3, window=100.0, max_wait=1000.0)
    assert [budget.acquire().action for _ in range(3)] == ["go", "go", "go"]
    clock.advance(10)
    assert budget.acquire() == Decision("wait", 90.0)
    clock.advance(90)
    assert budget.acquire() == Decision("go", seq=4)
    assert budget.requests_made == 4


def test_window_wait_past_max_wait_stops_with_resume_time() -> None:
    budget, clock = make_budget(2, window=3600.0, max_wait=300.0)
    budget.acquire()
    budget.acquire()
    decision = budget.acquire()
    assert decision == Decision("stop", 0.0, WALL0 + 3600.0)
    clock.advance(5000)
    assert budget.acquire() == decision  # stop is final for every thread


def test_max_requests_raises_when_it_would_be_exceeded() -> None:
    budget, _ = make_budget(100, max_requests=2)
    budget.acquire()
    budget.acquire()
    with pytest.raises(RequestLimitReached) as info:
        budget.acquire()
    assert str(info.value) == (
        "Stopped safely after 2 API requests (--max-requests); re-run to resume."
    )
    assert budget.requests_made == 2


def test_429_without_retry_after_backs_off_exponentially_with_jitter() -> None:
    budget, clock = make_budget(100, rng=1.0, max_wait=1000.0)
    budget.on_rate_limited(None)
    assert budget.acquire() == Decision("wait", 2.5)  # 2 s plus 25 % jitter
    clock.advance(2.5)
    budget.on_rate_limited(None)
    assert budget.acquire() == Decision("wait", 5.0)
    clock.advance(5.0)
    budget.on_success()
    budget.on_rate_limited(None)
    assert budget.acquire() == Decision("wait", 2.5)  # a success restarts the streak


def test_backoff_is_capped() -> None:
    budget, clock = make_budget(100, max_wait=10_000.0)
    for _ in range(10):
        budget.on_rate_limited(None)
        delay = budget.acquire().delay
        clock.advance(delay)
    assert delay == 60.0


def test_429s_of_requests_in_flight_do_not_escalate_the_pause() -> None:
    budget, _ = make_budget(100)
    budget.on_rate_limited(None)
    budget.on_rate_limited(None)
    budget.on_rate_limited(None)
    assert budget.acquire() == Decision("wait", 2.0)
    assert budget.paused_total == 2.0


def test_retry_after_is_honoured_and_extensions_count_once() -> None:
    budget, clock = make_budget(100, max_wait=300.0)
    budget.on_rate_limited(100.0)
    clock.advance(10)
    budget.on_rate_limited(100.0)  # pause now ends at 110 s instead of 100 s: +10 s
    assert budget.acquire() == Decision("wait", 100.0)
    assert budget.paused_total == 110.0
    clock.advance(100)
    assert budget.acquire().action == "go"


def test_the_pause_that_would_pass_max_wait_is_a_stop() -> None:
    budget, clock = make_budget(100, max_wait=300.0)
    budget.on_rate_limited(200.0)
    assert budget.acquire() == Decision("wait", 200.0)
    clock.advance(200)
    budget.on_rate_limited(150.0)
    assert budget.acquire() == Decision("stop", 0.0, WALL0 + 200.0 + 150.0)
    assert budget.paused_total == 200.0


def test_server_remaining_lower_than_our_count_is_believed() -> None:
    budget, _ = make_budget(1000)
    budget.acquire()
    budget.observe(1000, 2)
    assert budget.remaining_estimate() == 2
    assert [budget.acquire().action for _ in range(2)] == ["go", "go"]
    decision = budget.acquire()
    assert decision == Decision("wait", 2.0)  # spent what the server granted: pause, then probe


def test_remaining_zero_pauses_like_a_429_then_sends_one_probe() -> None:
    budget, clock = make_budget(1000, max_wait=1000.0)
    budget.observe(1000, 0)
    assert budget.acquire() == Decision("wait", 2.0)
    clock.advance(2)
    assert budget.acquire().action == "go"  # the probe
    assert budget.acquire() == Decision("wait", 4.0)  # no news yet: back off further
    clock.advance(1)
    budget.on_success()
    budget.observe(1000, 50)  # the probe's answer
    clock.advance(3)
    assert budget.acquire().action == "go"
    budget.on_success()  # requests flow again: the next 429 starts the backoff over
    budget.on_rate_limited(None)
    assert budget.acquire() == Decision("wait", 2.0)


def test_server_headers_replace_our_estimate_and_limit() -> None:
    budget, _ = make_budget(3, window=3600.0)
    for _ in range(3):
        budget.acquire()
    budget.observe(5000, 40)  # a bigger key, or a server window shorter than ours
    assert budget.limit == 5000
    assert budget.acquire().action == "go"
    assert budget.remaining_estimate() == 39


def test_sixteen_threads_never_get_more_than_the_limit_inside_a_window() -> None:
    budget, clock = make_budget(100, window=3600.0, max_wait=1e9)
    results: Counter[str] = Counter()
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            action = budget.acquire().action
            with lock:
                results[action] += 1

    def run_round() -> None:
        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    run_round()
    assert results == Counter(go=100, wait=700)
    clock.advance(3599)
    results.clear()
    run_round()
    assert results["go"] == 0  # the first 100 are still inside the window
    clock.advance(1)
    results.clear()
    run_round()
    assert results == Counter(go=100, wait=700)
    assert budget.requests_made == 200


def test_concurrent_429s_make_one_shared_pause() -> None:
    budget, _ = make_budget(100, max_wait=1000.0)
    barrier = threading.Barrier(16)

    def hit() -> None:
        barrier.wait()
        budget.on_rate_limited(None)

    threads = [threading.Thread(target=hit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert budget.paused_total == 2.0
    assert budget.acquire() == Decision("wait", 2.0)


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        RateBudget(0)
    with pytest.raises(ValueError):
        RateBudget(10, max_requests=-1)


def test_quota_spent_stop_resumes_when_our_oldest_request_leaves_the_window() -> None:
    # The server says nothing is left; backing off would pass max_wait. The backoff is only
    # a probe interval, so the resume time is when our oldest request ages out of the hour.
    budget, clock = make_budget(1000, window=3600.0, max_wait=0.0)
    assert budget.acquire().action == "go"
    clock.advance(600)
    budget.observe(1000, 0)
    stop = budget.acquire()
    assert stop.action == "stop"
    assert stop.resume_after == WALL0 + 3600.0


def test_retry_after_stop_resumes_at_the_servers_word() -> None:
    budget, clock = make_budget(1000, window=3600.0, max_wait=5.0)
    assert budget.acquire().action == "go"
    budget.on_rate_limited(retry_after=30.0)
    stop = budget.acquire()
    assert stop.action == "stop"
    assert stop.resume_after == clock.wall() + 30.0


def test_a_backoff_stop_trusts_the_servers_last_retry_after_over_our_window() -> None:
    # A server with a short window said "10 s" earlier; resuming an hour later would be wrong.
    budget, clock = make_budget(1000, window=3600.0, max_wait=11.0)
    assert budget.acquire().action == "go"
    budget.on_rate_limited(retry_after=10.0)
    clock.advance(10)
    assert budget.acquire().action == "go"
    budget.observe(1000, 0)  # spent again, and this time no Retry-After
    stop = budget.acquire()
    assert stop.action == "stop"
    assert stop.resume_after is not None
    assert stop.resume_after - clock.wall() == pytest.approx(10.0)


def test_a_late_header_does_not_hand_out_requests_already_spent() -> None:
    # Two requests go out with 2 left; the first one's answer ("1 left") arrives after the
    # second was sent: nothing is left, and an older header must not reopen the budget.
    budget, _ = make_budget(1000, window=3600.0, max_wait=300.0)
    first = budget.acquire()
    budget.observe(1000, 2, first.seq)
    a, _ = budget.acquire(), budget.acquire()
    budget.observe(1000, 1, a.seq)  # b was sent after a: that last one is b's
    assert budget.acquire().action == "wait"  # spent: pause, then probe
    budget.observe(1000, 5, first.seq)  # stale: ignored
    assert budget.acquire().action == "wait"


def test_every_pause_says_why_and_for_how_long(caplog: pytest.LogCaptureFixture) -> None:
    # Shown on stderr while the sync runs: the user sees why it is not moving.
    budget, clock = make_budget(2, window=100.0, max_wait=1000.0)
    with caplog.at_level(logging.INFO, logger="fec.budget"):
        budget.on_rate_limited(None)
        clock.advance(2)
        budget.on_rate_limited(30.0)
        clock.advance(30)
        assert [budget.acquire().action for _ in range(3)] == ["go", "go", "wait"]
        clock.advance(100)
        budget.observe(2, 0)
        clock.advance(8)
        assert [budget.acquire().action for _ in range(2)] == ["go", "wait"]
    assert [r.getMessage() for r in caplog.records] == [
        f"Rate limit ({reason}): all requests pause for {seconds} s" for reason, seconds in [
            ("429 Too Many Requests", "2.0"),
            ("429 with Retry-After", "30.0"),
            ("the window is full", "100.0"),
            ("the server reports no requests left", "8.0"),
            ("the requests the server granted are spent", "16.0"),
        ]]
