"""RateBudget and the window it learns: how much evidence a window needs, which pause it is
measured from, and what a known window changes (pacing, probes within it, refinement).

The clock is a fake one: every request, pause and header lands at an exact instant.
"""

from __future__ import annotations

import logging

import pytest

from fec.budget import Decision, RateBudget
from fec.errors import format_epoch

# The window learned when 100 requests go 10 ms apart from 100.00 s, the server counts them
# all, and at 160 s it counts only the probe: measured from the 20th request before the pause
# (100.80 s), with the margin (20 + 1) / (20 - 1) and 2 % for the clocks.
LEARNED = (160.0 - 100.80) * 21 / 19 * 1.02


def spend(limit: int, requests: int = 100, *, max_wait: float = 300.0,
          window: float = 3600.0) -> tuple[RateBudget, list[float]]:
    """`requests` requests 10 ms apart from 100.00 s, each answered by a server that allows
    `limit` and counts them all; the last answer says none is left, so the budget pauses
    (2 s) and probes. The clock is left at 160 s, long after the pause."""
    now = [100.0]
    budget = RateBudget(1000, window=window, max_wait=max_wait, clock=lambda: now[0],
                        wall=lambda: now[0], rng=lambda: 0.0)
    for n in range(requests):
        decision = budget.acquire()
        assert decision.action == "go"
        budget.observe(limit, limit - n - 1, decision.seq)
        now[0] += 0.01
    budget.observe(limit, 0, requests)
    now[0] = 160.0
    return budget, now


def learned(limit: int = 120, *, max_wait: float = 300.0) -> tuple[RateBudget, list[float]]:
    """After `spend`, the probe at 160 s is counted alone: the window is LEARNED."""
    budget, now = spend(limit, max_wait=max_wait)
    probe = budget.acquire()
    assert probe.action == "go"
    budget.observe(limit, limit - 1, probe.seq)
    assert budget.learned_window == pytest.approx(LEARNED)
    return budget, now


# --- the evidence a window is learned from ----------------------------------------------------


@pytest.mark.parametrize(("requests", "window"), [
    (3, None),  # too few before the pause to tell a window from the estimate's rounding
    (4, (160.0 - 100.0) * 5 / 3 * 1.02),  # measured from the first: margin (4 + 1) / (4 - 1)
    (20, (160.0 - 100.0) * 21 / 19 * 1.02),  # still from the first, not the second
])
def test_a_window_needs_enough_requests_before_the_pause(requests: int,
                                                         window: float | None) -> None:
    budget, _ = spend(120, requests)
    probe = budget.acquire()
    budget.observe(120, 119, probe.seq)  # the server counts only the probe
    assert budget.learned_window == (None if window is None else pytest.approx(window))


def test_a_window_no_shorter_than_the_one_assumed_is_no_news() -> None:
    measured = learned()[0].learned_window
    assert measured is not None
    budget, _ = spend(120, window=measured)  # the same run, assuming what it will measure
    probe = budget.acquire()
    budget.observe(120, 119, probe.seq)
    assert budget.learned_window is None  # so requests are not paced over it either


def test_a_late_answer_to_a_request_sent_before_the_pause_teaches_nothing() -> None:
    # Whatever it says, it was counted before the pause: it cannot show the window's end.
    budget, _ = spend(120)
    budget.observe(120, 120, 100)
    assert budget.learned_window is None


@pytest.mark.parametrize(("between", "window"), [
    # Up to the probe reserve, requests between two pauses are taken as probes: the window
    # is still measured from the pause before them (its 100 requests, margin 109 / 99) ...
    (8, (160.0 - 100.0) * 109 / 99 * 1.02),
    # ... beyond it, they are traffic, and the new pause is the one to measure from.
    (9, (160.0 - 100.89) * 21 / 19 * 1.02),
])
def test_the_window_is_measured_from_the_last_pause_after_real_traffic(
        between: int, window: float) -> None:
    now = [100.0]
    budget = RateBudget(1000, clock=lambda: now[0], wall=lambda: now[0], rng=lambda: 0.0)
    for _ in range(100):  # a server that sends no headers until later
        assert budget.acquire().action == "go"
        now[0] += 0.01
    now[0] = 101.0
    budget.on_rate_limited(2.0)
    now[0] = 103.0  # the very instant the pause ends
    for _ in range(between):
        assert budget.acquire().action == "go"
    budget.on_rate_limited(2.0)
    now[0] = 160.0
    probe = budget.acquire()
    budget.observe(120, 119, probe.seq)  # counted alone: everything before has left
    assert budget.learned_window == pytest.approx(window)


# --- a known window ---------------------------------------------------------------------------


def test_a_known_window_spreads_requests_evenly_and_silently(
        caplog: pytest.LogCaptureFixture) -> None:
    budget, now = learned()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fec.budget"):
        assert budget.acquire() == Decision("wait", pytest.approx(LEARNED / 120))
        now[0] = 160.0 + LEARNED / 120  # the probe's grant, plus one request's share
        assert budget.acquire().action == "go"
    # A per-minute key paces every request: a line each would bury everything else.
    assert caplog.records == []


def test_pacing_that_would_pass_the_wait_limit_stops_and_says_why(
        caplog: pytest.LogCaptureFixture) -> None:
    budget, _ = learned(max_wait=2.5)  # 2 s already paused while learning
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fec.budget"):
        stop = budget.acquire()
    # Worth resuming once the oldest request in the window has left it.
    assert stop == Decision("stop", 0.0, pytest.approx(100.0 + LEARNED))
    assert [r.getMessage() for r in caplog.records] == [
        "Rate limit (pacing): pausing 1 s more would pass the 2 s wait limit; stopping, "
        f"resume after {format_epoch(100.0 + LEARNED)}"]


def test_a_full_known_window_waits_for_its_oldest_request() -> None:
    budget, now = learned()
    budget.observe(101, 60, 101)  # the key's limit drops to the 101 requests in the window
    now[0] = 160.5  # pacing alone would allow one at 160 s + LEARNED / 101
    assert budget.acquire() == Decision("wait", pytest.approx(100.0 + LEARNED - 160.5))


def test_spent_within_a_known_window_probes_at_shares_of_it(
        caplog: pytest.LogCaptureFixture) -> None:
    # Once the window is known, probes come back within it: 1/16 of it, doubling up to half.
    budget, now = learned()
    now[0] = 161.0
    spent = budget.acquire()
    budget.on_success()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fec.budget"):
        budget.observe(120, 0, spent.seq)
        waits = []
        for _ in range(5):
            decision = budget.acquire()
            waits.append(decision.delay)
            now[0] += decision.delay
            assert budget.acquire().action == "go"  # the one probe
            assert budget.acquire().action == "wait"  # and nothing more until it is answered
    shares = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1 / 2, 1 / 2]
    assert waits == pytest.approx([LEARNED * share for share in shares[:5]])
    # The first pause is the server's word; each later one follows a probe still unanswered.
    assert [r.getMessage() for r in caplog.records] == [
        "Rate limit (the server reports no requests left): all requests pause for "
        f"{LEARNED / 16:.1f} s"] + [
        "Rate limit (the requests the server granted are spent): all requests pause for "
        f"{LEARNED * share:.1f} s" for share in shares[1:]]


def test_after_two_windows_of_pacing_the_window_is_refined() -> None:
    budget, now = learned()
    window = budget.learned_window
    assert window is not None
    two_windows = 160.0 + 2 * window
    assert two_windows - 160.0 == 2 * window  # the instant it becomes possible, exactly
    now[0] = two_windows - 10.0
    assert budget.acquire().action == "go"
    now[0] = two_windows
    last = budget.acquire()
    budget.observe(120, 119, last.seq)  # the request 10 s before it has left the window
    assert budget.learned_window == pytest.approx(10.0 * 1.05 + LEARNED / 120)


def test_requests_too_old_to_be_remembered_never_shorten_the_window() -> None:
    # A big key sends more requests within one window than the budget remembers; an answer
    # whose count reaches back past them cannot say when the oldest it counts was sent.
    budget, now = learned(30_000)
    now[0] = 160.0 + 2 * LEARNED
    first = None
    for _ in range(20_100):  # 20,000 are remembered
        decision = budget.acquire()
        while decision.action == "wait":
            now[0] += decision.delay
            decision = budget.acquire()
        first = first or decision.seq
    assert first is not None and now[0] - (160.0 + 2 * LEARNED) < LEARNED
    budget.observe(30_000, 30_000 - (decision.seq - first), decision.seq)
    assert budget.learned_window == pytest.approx(LEARNED)
