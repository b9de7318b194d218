"""FecClient: retries, the budget, error translation, the circuit breaker and key hygiene."""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st
from responses import matchers
from responses.registries import OrderedRegistry
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.response import HTTPResponse

from fec.budget import RateBudget
from fec.client import FecClient, RequestStats
from fec.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    CircuitOpen,
    ConfigurationError,
    FecError,
    QuotaExhausted,
    RateLimited,
    RequestLimitReached,
    TransientError,
    format_epoch,
)
from fec.transport import FecRetry, backoff_delay, make_retry, parse_retry_after

KEY = "sEcReT-kEy-0123456789abcdefXYZ"
BASE = "https://api.example.test/v1"
PATH = "/schedules/schedule_a/"
URL = BASE + PATH
WALL0 = 1_700_000_000.0
OK = {"results": [], "pagination": {"last_indexes": None}}
SIGNUP = "https://api.data.gov/signup/"
PASS = "pass it with --api-key or the OPENFEC_API_KEY environment variable"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL0 + self.now


class FakeStop(threading.Event):
    """A stop event whose waits advance the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0.0))
        self.clock.now += timeout or 0.0
        return self.is_set()


class Harness:
    def __init__(self, **options: Any) -> None:
        budget_options = {k: options.pop(k) for k in ("max_wait", "max_requests") if k in options}
        self.clock = FakeClock()
        self.stop = FakeStop(self.clock)
        self.budget = RateBudget(
            1000, clock=self.clock, wall=self.clock.wall, rng=lambda: 0.0, **budget_options
        )
        self.stats = RequestStats()
        options.setdefault("backoff_factor", 0.001)
        self.client = FecClient(
            KEY, BASE, budget=self.budget, stats=self.stats, stop=self.stop, **options
        )

    def get(self, params: Any = None) -> dict[str, Any]:
        return self.client.get_json(PATH, params or [("per_page", "100")], kind="schedule_a")


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness(max_retries=2)
    yield h
    h.client.close()


@pytest.fixture
def ordered() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        yield mock


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def error_text(exc: BaseException) -> str:
    """Everything an exception could show: str and repr of it and of its whole chain."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# --- retry policy ----------------------------------------------------------------------------


def test_retry_settings(harness: Harness) -> None:
    retry = harness.client.session().get_adapter(URL).max_retries
    assert isinstance(retry, FecRetry)
    assert set(retry.status_forcelist) == {500, 502, 503, 504}
    assert set(retry.allowed_methods or ()) == {"GET"}
    assert (retry.total, retry.connect, retry.read, retry.status, retry.other) == (2, 2, 2, 2, 0)
    assert (retry.backoff_factor, retry.backoff_jitter) == (0.001, 0.001)
    assert retry.respect_retry_after_header is True
    assert retry.raise_on_status is False
    assert retry.is_retry("GET", 503) and not retry.is_retry("POST", 503)
    assert not retry.is_retry("GET", 429, has_retry_after=True)  # the budget's job


def test_retry_hook_survives_new_and_sees_connection_errors(harness: Harness) -> None:
    causes: list[str] = []

    def hook(cause: str) -> bool:
        causes.append(cause)
        return len(causes) < 2

    retry = FecRetry(total=3, connect=3, on_retry=hook, stop=harness.stop)
    again = retry.increment("GET", "/x", error=ConnectTimeoutError("slow"))
    assert again.on_retry is hook and again.stop is harness.stop and again.connect == 2
    with pytest.raises(MaxRetryError):  # the hook refused the second retry
        again.increment("GET", "/x", error=ConnectTimeoutError("slow"))
    assert causes == ["ConnectTimeoutError from /x", "ConnectTimeoutError from /x"]


def test_retry_after_is_capped_and_waits_on_the_stop_event(harness: Harness) -> None:
    retry = FecRetry(total=3, backoff_factor=0.5, stop=harness.stop)
    for _ in range(2):  # two failures so far: the backoff before the next try is 0.5 s x 2
        retry = retry.increment("GET", "/x", response=HTTPResponse(body=b"", status=503))
    for value in ("3600", "7200", "not a date", "0"):
        retry.sleep(HTTPResponse(body=b"", headers={"Retry-After": value}, status=503))
    # Capped at a minute; a malformed or zero Retry-After falls back to the backoff.
    assert harness.stop.waits == [60.0, 60.0, 1.0, 1.0]


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0),
    (" 120 ", 120.0),
    ("86400", 86400.0),  # no bound of urllib3's own (six hours): the caller bounds the wait
    ("0", 0.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past
    (None, None),
    ("", None),
    ("soon", None),
    ("-5", None),
    ("1.5", None),
    ("Mon, 01 Jan 10000 00:00:00 GMT", None),  # a date past what Python's dates can hold
])
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_a_retry_after_date_counts_from_now_and_a_cap_bounds_it() -> None:
    in_ten_minutes = email.utils.formatdate(time.time() + 600, usegmt=True)
    seconds = parse_retry_after(in_ten_minutes)
    assert seconds is not None and 540 < seconds <= 600
    assert parse_retry_after(in_ten_minutes, cap=60.0) == 60.0
    assert parse_retry_after("30", cap=60.0) == 30.0


@given(st.text())
def test_any_retry_after_is_read_or_ignored_never_an_error(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or seconds >= 0


def test_backoff_doubles_up_to_its_cap_then_adds_jitter() -> None:
    assert [backoff_delay(n, base=1.0, cap=60.0, rng=lambda: 0.0) for n in range(8)] == [
        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0
    ]
    # Jitter in seconds (retries: up to the backoff factor) ...
    assert backoff_delay(2, base=0.5, cap=60.0, jitter=0.5, rng=lambda: 1.0) == 2.5
    assert backoff_delay(9, base=0.5, cap=60.0, jitter=0.5, rng=lambda: 1.0) == 60.5
    # ... or as a share of the wait (the budget's 25 %), added after the cap.
    assert backoff_delay(0, base=2.0, cap=60.0, jitter_share=0.25, rng=lambda: 1.0) == 2.5
    assert backoff_delay(9, base=2.0, cap=60.0, jitter_share=0.25, rng=lambda: 1.0) == 75.0
    assert backoff_delay(5000, base=2.0, cap=60.0, rng=lambda: 0.0) == 60.0  # no overflow


def test_urllib3_retries_wait_per_the_backoff_first_one_at_once(harness: Harness) -> None:
    retry = FecRetry(total=5, backoff_factor=0.5, backoff_max=3.0, stop=harness.stop)
    for _ in range(4):
        retry = retry.increment("GET", "/x", response=HTTPResponse(body=b"", status=503))
        retry.sleep()
    assert harness.stop.waits == [0.0, 1.0, 2.0, 3.0]
    jittered = make_retry(4, 0.5, stop=harness.stop)
    harness.stop.waits.clear()
    for _ in range(4):
        jittered = jittered.increment("GET", "/x", error=ConnectTimeoutError("slow"))
        jittered.sleep()
    low = [0.0, 1.0, 2.0, 4.0]
    assert harness.stop.waits[0] == 0.0
    assert all(w <= got <= w + 0.5 for w, got in zip(low, harness.stop.waits, strict=True))


def test_5xx_is_retried_and_every_retry_is_counted_and_charged(
    harness: Harness, ordered: responses.RequestsMock
) -> None:
    ordered.get(URL, status=503, json={"message": "Service Unavailable", "status": 503})
    ordered.get(URL, status=503, json={"message": "Service Unavailable", "status": 503})
    ordered.get(URL, json=OK)
    assert harness.get() == OK
    assert len(ordered.calls) == 3
    assert (harness.stats.total, harness.stats.schedule_a, harness.stats.retries) == (3, 3, 2)
    assert harness.budget.requests_made == 3
    assert harness.stats.failures_in_a_row == 0


def test_5xx_after_retries_is_a_transient_error(
    harness: Harness, mock: responses.RequestsMock
) -> None:
    mock.get(URL, status=504, json={"message": "Query timed out", "status": 504})
    with pytest.raises(TransientError) as info:
        harness.get()
    assert str(info.value) == (
        "The OpenFEC API failed with HTTP 504 on /schedules/schedule_a/ after 2 retries: "
        "Query timed out"
    )
    assert len(mock.calls) == 3 and harness.stats.retries == 2


def test_a_retry_the_budget_refuses_stops_the_request(ordered: responses.RequestsMock) -> None:
    h = Harness(max_retries=4, max_requests=2)
    ordered.get(URL, status=503)
    ordered.get(URL, status=503)
    with pytest.raises(RequestLimitReached):
        h.get()
    assert len(ordered.calls) == 2 and h.budget.requests_made == 2
    h.client.close()


# --- bodies that are not JSON --------------------------------------------------------------


def test_html_body_is_retried_then_transient(
    harness: Harness, mock: responses.RequestsMock
) -> None:
    page = "<html><head><title>Down for maintenance</title></head><body>sorry</body></html>"
    mock.get(URL, body=page, content_type="text/html")
    with pytest.raises(TransientError) as info:
        harness.get()
    assert str(info.value) == (
        "The API sent an HTML page instead of JSON (text/html) for /schedules/schedule_a/ "
        "(3 times in a row)."
    )
    assert len(mock.calls) == 3
    assert (harness.stats.total, harness.stats.retries) == (3, 2)
    assert len(harness.stop.waits) == 2  # backoff between tries, through the stop event


def test_unreadable_bodies_are_retried_after_a_doubling_backoff(
    mock: responses.RequestsMock
) -> None:
    h = Harness(max_retries=3, backoff_factor=0.5)
    mock.get(URL, body='{"results": [', content_type="application/json")
    with pytest.raises(TransientError):
        h.get()
    h.client.close()
    low = [0.5, 1.0, 2.0]  # factor x 2**(n-1), plus up to the factor of jitter
    assert all(w <= got <= w + 0.5 for w, got in zip(low, h.stop.waits, strict=True))


def test_truncated_json_is_transient(harness: Harness, mock: responses.RequestsMock) -> None:
    body = '{"results": [{"sub_id": "41'
    mock.get(URL, body=body, content_type="application/json")
    with pytest.raises(TransientError) as info:
        harness.get()
    assert str(info.value) == (
        f"The API sent a body that is not valid JSON, probably cut off ({len(body)} bytes, "
        "application/json) for /schedules/schedule_a/ (3 times in a row)."
    )


def test_a_bad_body_then_a_good_one_succeeds(
    harness: Harness, ordered: responses.RequestsMock
) -> None:
    ordered.get(URL, body="", content_type="application/json")
    ordered.get(URL, json=OK)
    assert harness.get() == OK
    assert (harness.stats.total, harness.stats.retries) == (2, 1)


def test_connection_failure_is_transient(harness: Harness, mock: responses.RequestsMock) -> None:
    mock.get(URL, body=requests.ConnectionError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError) as info:
        harness.get()
    assert str(info.value) == (
        "Could not get /schedules/schedule_a/ from api.example.test: connection failed "
        "([Errno 111] Connection refused)."
    )


# --- 4xx -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (422, {"message": {"query": {"per_page": ["Not a valid integer."]}}, "status": 422},
         "query.per_page: Not a valid integer."),
        (422, {"message": {"query": {"contributor_type": {"0": ["Must be one of: individual, "
                                                                 "committee."]}}}, "status": 422},
         "query.contributor_type.0: Must be one of: individual, committee."),
        (422, {"message": "When paginating through results, both values from the previous "
                          "page's `last_indexes` object are needed.                    For "
                          "example:\n                    last_index=1", "status": 422},
         "When paginating through results, both values from the previous page's "
         "`last_indexes` object are needed. For example: last_index=1"),
        (400, {"message": "Please choose a single `two_year_transaction_period` or add one of "
                          "the following filters to your query: `committee_id`", "status": 400},
         "Please choose a single `two_year_transaction_period` or add one of the following "
         "filters to your query: `committee_id`"),
        (400, {"message": {"query": {"per_page": ["Not a valid integer.", "Too big."],
                                     "sort": ["Bad."]}}, "status": 400},
         "query.per_page: Not a valid integer. Too big.; query.sort: Bad."),
        (404, {"error": {"code": "NOT_FOUND", "message": "No route matched"}},
         "No route matched"),
    ],
)
def test_bad_requests_carry_the_servers_message_on_one_line(
    harness: Harness, mock: responses.RequestsMock, status: int, body: Any, expected: str
) -> None:
    mock.get(URL, status=status, json=body)
    with pytest.raises(BadRequest) as info:
        harness.get()
    assert (info.value.status, info.value.detail) == (status, expected)
    assert str(info.value) == (
        f"The OpenFEC API rejected the request to /schedules/schedule_a/ (HTTP {status}): "
        f"{expected}"
    )
    assert len(mock.calls) == 1 and harness.stats.failures_in_a_row == 0


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("API_KEY_MISSING", f"No API key was sent (API_KEY_MISSING). Get a free key at {SIGNUP} "
                            f"and {PASS}."),
        ("API_KEY_INVALID", "The API key was rejected as invalid (API_KEY_INVALID). Check it "
                            f"for typos or get a free key at {SIGNUP}, and {PASS}."),
        ("API_KEY_DISABLED", "The API key has been disabled by api.data.gov (API_KEY_DISABLED). "
                             f"Get a new key at {SIGNUP} (or contact api.data.gov) and {PASS}."),
        ("API_KEY_UNAUTHORIZED", "The API key is not allowed to use the OpenFEC API "
                                 f"(API_KEY_UNAUTHORIZED). Get a key at {SIGNUP} and {PASS}."),
        ("API_KEY_UNVERIFIED", "The API key has not been verified yet (API_KEY_UNVERIFIED). "
                               "Confirm it with the link in the email from api.data.gov, or "
                               f"get a new key at {SIGNUP}."),
        ("SOMETHING_NEW", "The OpenFEC API refused access (HTTP 403, SOMETHING_NEW): Go away. "
                          f"Check the API key: get one at {SIGNUP} and {PASS}."),
    ],
)
def test_403_codes(
    harness: Harness, mock: responses.RequestsMock, code: str, expected: str
) -> None:
    mock.get(URL, status=403, json={"error": {"code": code, "message": "Go away."}})
    with pytest.raises(AuthError) as info:
        harness.get()
    assert info.value.code == code
    assert str(info.value) == expected
    assert len(mock.calls) == 1 and harness.stats.total == 1  # a 403 is never retried


def test_403_without_a_gateway_body(harness: Harness, mock: responses.RequestsMock) -> None:
    mock.get(URL, status=403, json={"message": "Forbidden", "status": 403})
    with pytest.raises(AuthError) as info:
        harness.get()
    assert info.value.code == "UNKNOWN"
    assert str(info.value) == (
        f"The OpenFEC API refused access (HTTP 403): Forbidden. Check the API key: get one at "
        f"{SIGNUP} and {PASS}."
    )


def test_401_is_a_key_error_like_403(harness: Harness, mock: responses.RequestsMock) -> None:
    # Not what api.data.gov sends, but what a mirror behind other authentication may: the
    # run must stop at once rather than fail every unit with it.
    mock.get(URL, status=401, json={"message": "Unauthorized", "status": 401})
    with pytest.raises(AuthError) as info:
        harness.get()
    assert str(info.value) == (
        f"The OpenFEC API refused access (HTTP 401): Unauthorized. Check the API key: get one "
        f"at {SIGNUP} and {PASS}."
    )
    assert len(mock.calls) == 1 and harness.stats.total == 1


# --- 429 and the budget ----------------------------------------------------------------------


def test_429_with_retry_after_pauses_the_budget_then_succeeds(
    harness: Harness, ordered: responses.RequestsMock
) -> None:
    limited = {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "Retry-After": "7"}
    ordered.get(URL, status=429, headers=limited,
                json={"error": {"code": "OVER_RATE_LIMIT", "message": "slow down"}})
    ordered.get(URL, json=OK, headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "9"})
    assert harness.get() == OK
    assert harness.stop.waits == [7.0]
    assert harness.budget.paused_total == 7.0
    assert (harness.stats.rate_limited, harness.stats.total, harness.stats.retries) == (1, 2, 0)
    assert harness.budget.remaining_estimate() == 9


def test_429_without_retry_after_backs_off(
    harness: Harness, ordered: responses.RequestsMock
) -> None:
    ordered.get(URL, status=429)
    ordered.get(URL, json=OK)
    assert harness.get() == OK
    assert harness.stop.waits == [2.0]
    assert harness.stats.rate_limited == 1


def test_429_with_retry_after_zero_still_backs_off(
    harness: Harness, ordered: responses.RequestsMock
) -> None:
    # Honouring "Retry-After: 0" literally would hammer the API and burn the quota.
    ordered.get(URL, status=429, headers={"Retry-After": "0"})
    ordered.get(URL, json=OK)
    assert harness.get() == OK
    assert harness.stop.waits == [2.0]


def test_a_redirect_is_not_followed_and_the_key_goes_nowhere(
    harness: Harness, ordered: responses.RequestsMock
) -> None:
    ordered.get(URL, status=307, headers={"Location": "https://elsewhere.test/v1/x?api_key=" + KEY})
    with pytest.raises(ConfigurationError) as info:
        harness.get()
    assert len(ordered.calls) == 1  # nothing was sent to the other host
    assert str(info.value) == (
        f"The API redirected {PATH} (HTTP 307) to https://elsewhere.test/v1/x; "
        "set --api-url to the address it should be reached at"
    )
    assert KEY not in error_text(info.value)


def test_a_key_that_cannot_be_a_header_is_a_configuration_error() -> None:
    client = FecClient(KEY + "\n", BASE, budget=RateBudget(1000))
    try:
        with pytest.raises(ConfigurationError) as info:
            client.get_json(PATH, [], kind="schedule_a")
    finally:
        client.close()
    assert KEY not in error_text(info.value)
    assert client.stats.failures_in_a_row == 0  # not a transient failure


def test_429_past_max_wait_is_quota_exhausted(mock: responses.RequestsMock) -> None:
    h = Harness(max_wait=10.0)
    mock.get(URL, status=429, headers={"Retry-After": "6"})
    with pytest.raises(QuotaExhausted) as info:
        h.get()
    assert info.value.resume_after == WALL0 + 6.0 + 6.0
    assert str(info.value) == (
        f"The API rate limit is used up; stopped safely. Re-run after "
        f"{format_epoch(WALL0 + 12.0)} to resume (or raise --max-wait to wait longer)."
    )
    assert isinstance(info.value.__cause__, RateLimited)
    assert info.value.__cause__.retry_after == 6.0
    assert len(mock.calls) == 2 and h.stats.rate_limited == 2
    h.client.close()


def test_stop_event_cancels_before_sending(harness: Harness, mock: responses.RequestsMock) -> None:
    harness.stop.set()
    with pytest.raises(Cancelled):
        harness.get()
    assert len(mock.calls) == 0


# --- circuit breaker -------------------------------------------------------------------------


def test_circuit_opens_after_five_failures_and_stays_open(mock: responses.RequestsMock) -> None:
    h = Harness(max_retries=0)
    mock.get(URL, status=502, body="<html><title>502 Bad Gateway</title></html>")
    for _ in range(4):
        with pytest.raises(TransientError):
            h.get()
    with pytest.raises(CircuitOpen) as info:
        h.get()
    assert str(info.value) == (
        "Stopped safely: 5 API requests in a row failed (last: The OpenFEC API failed with "
        "HTTP 502 on /schedules/schedule_a/: an HTML page (502 Bad Gateway)). The API looks "
        "unhealthy; re-run later to resume."
    )
    with pytest.raises(CircuitOpen):
        h.get()
    assert len(mock.calls) == 5
    h.client.close()


def test_a_success_resets_the_breaker(ordered: responses.RequestsMock) -> None:
    h = Harness(max_retries=0)
    for _ in range(4):
        ordered.get(URL, status=500)
    ordered.get(URL, json=OK)
    ordered.get(URL, status=500)
    for _ in range(4):
        with pytest.raises(TransientError):
            h.get()
    h.get()
    with pytest.raises(TransientError):
        h.get()
    assert h.stats.failures_in_a_row == 1
    h.client.close()


# --- the key ---------------------------------------------------------------------------------


def test_the_key_goes_in_a_header_and_nowhere_else(
    harness: Harness, ordered: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    echo = f"api_key={KEY} is not valid; X-Api-Key: {KEY}"
    ordered.get(URL, status=503, body=echo)
    ordered.get(URL, json=OK)
    ordered.get(URL, status=403, json={"error": {"code": "ODD", "message": echo}})
    ordered.get(URL, status=422, json={"message": echo, "status": 422})
    ordered.get(URL, status=500, body=echo)
    ordered.get(URL, status=500, body=echo)
    ordered.get(URL, status=500, body=echo)
    ordered.get(URL, body=requests.ConnectionError(f"Max retries exceeded with url: {URL}"))
    harness.get()
    texts = [repr(harness.client), repr(harness.client.session().get_adapter(URL).max_retries)]
    for expected in (AuthError, BadRequest, TransientError, TransientError):
        with pytest.raises(expected) as info:
            harness.get()
        texts.append(error_text(info.value))
    assert all(KEY not in call.request.url for call in ordered.calls)
    assert all(call.request.headers["X-Api-Key"] == KEY for call in ordered.calls)
    assert "***" in texts[2]  # the 403 message was echoed, redacted
    for text in [*texts, caplog.text]:
        assert KEY not in text


# --- threads ---------------------------------------------------------------------------------


def test_threads_share_budget_and_stats_but_not_sessions(mock: responses.RequestsMock) -> None:
    h = Harness()
    for n in range(4):
        mock.get(URL, json={"results": [n]},
                 match=[matchers.query_param_matcher({"committee_id": f"C0000000{n}"},
                                                     strict_match=False)])
    sessions: dict[int, requests.Session] = {}
    answers: dict[int, list[Any]] = {}

    def work(n: int) -> None:
        sessions[n] = h.client.session()
        answers[n] = [h.get([("committee_id", f"C0000000{n}")])["results"] for _ in range(5)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {n: [[n]] * 5 for n in range(4)}
    assert len({id(session) for session in sessions.values()}) == 4
    assert (h.stats.total, h.stats.schedule_a, h.budget.requests_made) == (20, 20, 20)
    h.client.close()


def test_lookups_are_counted_apart(harness: Harness, mock: responses.RequestsMock) -> None:
    mock.get(BASE + "/committees/", json=OK)
    harness.client.get_json("/committees/", {"candidate_id": "H0XX00001"}, kind="lookup")
    assert harness.stats.snapshot() == {
        "total": 1, "schedule_a": 0, "lookups": 1, "retries": 0, "rate_limited": 0,
        "verification": 0,
    }


def test_verification_requests_are_schedule_a_requests_counted_apart(
        harness: Harness, mock: responses.RequestsMock) -> None:
    mock.get(URL, json=OK)
    harness.client.get_json("/schedules/schedule_a/", {"committee_id": "C00000001"},
                            kind="verify")
    assert harness.stats.snapshot() == {
        "total": 1, "schedule_a": 1, "lookups": 0, "retries": 0, "rate_limited": 0,
        "verification": 1,
    }


def test_stats_stay_plain_data() -> None:
    stats = RequestStats()
    stats.count_request("schedule_a", retry=True)
    assert dataclasses.asdict(stats) == {
        "total": 1, "schedule_a": 1, "lookups": 0, "retries": 1, "rate_limited": 0,
        "verification": 0, "failures_in_a_row": 0,
    }


def test_every_error_is_a_fec_error() -> None:
    for cls in (AuthError, BadRequest, TransientError, QuotaExhausted, CircuitOpen, Cancelled):
        assert issubclass(cls, FecError)


def test_a_stop_during_a_retry_backoff_ends_the_request_without_another_attempt() -> None:
    stop = threading.Event()
    retry = make_retry(3, 1.0, stop=stop)
    stop.set()
    with pytest.raises(Cancelled):
        retry.sleep()
