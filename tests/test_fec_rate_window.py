"""RateBudget against api.data.gov's limiter: the window is learned from what the headers do,
and a Remaining that rises (the gateway's sliding estimate) never lets more than the limit
through within one window.

The gateway is the fake's model of API Umbrella (tests/fake_openfec/gateway.py), the clock a
shared fake: a run of hours takes milliseconds, and every count is exact.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import pytest

from fec.budget import PROBE_RESERVE, Decision, RateBudget
from tests.fake_openfec.gateway import RollingWindow, SlidingEstimate


@dataclass
class Run:
    done: int = 0
    sent: int = 0
    refused: int = 0
    seconds: float = 0.0
    busiest: int = 0
    windows: list[float] = field(default_factory=list)  # each learned window, in order
    stopped: Decision | None = None


def simulate(limit: int, window: float, model: str, requests: int, *, threads: int = 4,
             latency: float = 0.05, start: float = 0.0, backoff: float = 0.1,
             max_wait: float = 1e9) -> Run:
    """`threads` workers send `requests` requests through one budget to one gateway; each
    answer takes `latency` seconds and carries the gateway's headers, as the client passes
    them on (Limit, Remaining, the grant they answer; Retry-After on a refusal)."""
    now = [start]
    limiter = (SlidingEstimate if model == "sliding" else RollingWindow)(
        limit, window, clock=lambda: now[0])
    budget = RateBudget(1000, max_wait=max_wait, backoff_base=backoff, clock=lambda: now[0],
                        wall=lambda: now[0], rng=lambda: 0.5)
    run, events, sent, order = Run(), [(start, n, None) for n in range(threads)], 0, threads
    heapq.heapify(events)
    while events and run.done < requests:
        now[0], _, answer = heapq.heappop(events)
        if answer is not None:
            seq, accepted, remaining, wait = answer
            budget.observe(limit, remaining, seq)
            if accepted:
                run.done += 1
                budget.on_success()
            else:
                run.refused, sent = run.refused + 1, sent - 1
                budget.on_rate_limited(float(wait))
            learned = budget.learned_window
            if learned is not None and (not run.windows or run.windows[-1] != learned):
                run.windows.append(learned)
        if sent >= requests:
            continue
        decision = budget.acquire()
        order += 1
        if decision.action == "stop":
            run.stopped = decision
            break
        if decision.action == "wait":
            heapq.heappush(events, (now[0] + decision.delay, order, None))
            continue
        sent += 1
        accepted, remaining, wait = limiter.hit("key")
        heapq.heappush(events, (now[0] + latency, order, (decision.seq, accepted, remaining,
                                                          wait)))
    run.seconds, run.busiest, run.sent = now[0] - start, limiter.busiest("key"), sent
    return run


@pytest.mark.parametrize("model", ["sliding", "rolling"])
@pytest.mark.parametrize("start", [0.0, 0.9, 2.3])  # where the gateway's periods fall
def test_a_short_window_is_learned_and_never_overrun(model: str, start: float) -> None:
    run = simulate(120, 3.0, model, 600, start=start)
    assert run.done == 600 and run.refused == 0
    assert run.busiest <= 120  # in ANY three seconds, however the estimate rose
    assert run.windows and all(w >= 3.0 for w in run.windows)  # never below the truth
    assert run.windows[-1] < 3.0 * 1.15  # and close to it once requests flow evenly


def test_a_real_per_minute_key_runs_near_its_pace() -> None:
    # 120 a minute, answers taking a second, four threads: 3,000 requests need 25 minutes.
    run = simulate(120, 60.0, "sliding", 3000, latency=1.0, backoff=2.0, start=17.0)
    assert run.done == 3000 and run.refused == 0 and run.busiest <= 120
    assert 60.0 <= run.windows[-1] < 66.0
    assert run.seconds < 1.4 * 1500


def test_believing_a_rising_remaining_would_overrun() -> None:
    # The same traffic against the same gateway, sent whenever Remaining allows it: more
    # than the limit goes through within one true window. This is what the budget prevents.
    limiter = SlidingEstimate(120, 3.0, clock=lambda: now)
    now, remaining = 2.9, 120
    for _ in range(120):  # a burst at the end of a period
        _, remaining, _ = limiter.hit("key")
    while now < 5.8:
        now += 0.05
        if remaining > 0:
            _, remaining, _ = limiter.hit("key")
        else:
            remaining = 1  # a probe, as any client must send to hear the new count
    assert limiter.busiest("key") > 120


def test_small_limits_learn_too() -> None:
    for limit in (15, 30, 60):  # a quarter of the limit for probes, up to 1, 3, 7 s apart
        run = simulate(limit, 2.0, "sliding", 10 * limit, latency=0.02, backoff=1.0)
        assert run.done == 10 * limit and run.refused == 0 and run.busiest <= limit
        assert run.windows and run.windows[-1] >= 2.0


def test_an_hourly_key_keeps_its_hour_and_stops_with_the_time_to_resume() -> None:
    run = simulate(1000, 3600.0, "sliding", 1500, latency=1.0, backoff=2.0, max_wait=300)
    assert run.stopped is not None and run.windows == []
    assert run.sent == 1000  # all the limit, the last few as probes
    assert run.stopped.resume_after is not None
    assert 3000 < run.stopped.resume_after < 3700  # when the first request leaves the hour


@pytest.mark.parametrize(("limit", "kept"), [(40, PROBE_RESERVE), (30, 7)])  # at most 1/4
def test_before_the_window_is_known_a_few_requests_are_kept_for_probes(limit: int,
                                                                       kept: int) -> None:
    now = [0.0]
    budget = RateBudget(1000, clock=lambda: now[0], wall=lambda: now[0], rng=lambda: 0.0)
    first = budget.acquire()
    budget.observe(limit, limit - 1, first.seq)  # the server: `limit` per unknown window
    granted = 1
    while budget.acquire().action == "go":
        granted += 1
    assert granted == limit - kept
    # Remaining rises (the gateway's estimate slides), but not past our own count: probes only.
    budget.observe(limit, limit - 5, granted)
    now[0] += 2.0
    assert [budget.acquire().action for _ in range(3)] == ["go", "wait", "wait"]


def test_the_window_is_what_it_took_for_everything_before_a_pause_to_leave() -> None:
    now = [100.0]
    budget = RateBudget(1000, clock=lambda: now[0], wall=lambda: now[0], rng=lambda: 0.0)
    for n in range(100):  # one request every 10 ms from 100.00 to 100.99
        decision = budget.acquire()
        budget.observe(120, 120 - n - 1, decision.seq)
        now[0] += 0.01
    budget.observe(120, 0, 100)  # the server counts them all: pause, then a probe
    now[0] = 160.0
    probe = budget.acquire()
    assert probe.action == "go" and budget.learned_window is None
    budget.observe(120, 119, probe.seq)  # it counts only the probe: all 100 are gone
    # Measured from the 20th request before the pause, ten times the one sent since and
    # itself, so that the estimate's rounding of the last few cannot fool it; (20 + 1) /
    # (20 - 1) is the margin that still leaves, and 2 % more for the clocks.
    assert budget.learned_window == pytest.approx((160.0 - 100.80) * 21 / 19 * 1.02)


def test_no_window_is_learned_while_the_server_still_counts_earlier_requests() -> None:
    now = [100.0]
    budget = RateBudget(1000, clock=lambda: now[0], wall=lambda: now[0], rng=lambda: 0.0)
    for n in range(100):
        decision = budget.acquire()
        budget.observe(120, 120 - n - 1, decision.seq)
    budget.observe(120, 0, 100)
    now[0] = 160.0
    probe = budget.acquire()
    budget.observe(120, 117, probe.seq)  # three counted: two of them from before the pause
    assert budget.learned_window is None
