"""The one place that builds HTTP sessions for the OpenFEC API.

Each fetch thread gets its own ``requests.Session`` (sessions are not documented as
thread-safe), all made by ``make_session``. Retries of failed requests live in urllib3
(``FecRetry``), not in a home-made sleep loop, so a retry reuses the pooled connection
logic and honours ``Retry-After``. Two things urllib3 cannot know are added here:

* every retry is a request that spends quota, so it is reported to a hook that charges
  it to the shared budget and counts it (the hook can also refuse it);
* a 429 is never retried here: the budget pauses all threads together instead.

It also holds the helpers that read what came back (error details, Retry-After, headers).
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from fec.errors import Cancelled, flatten_message, one_line

_HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
USER_AGENT = "sync-donations/0.1 (+python-requests)"

RETRY_STATUSES = frozenset(
    {
        500,  # OpenFEC has intermittent 500s while paging (openFEC issue #5720); a retry succeeds
        502,  # the cloud.gov router gives up on slow keyset queries (openFEC issue #3924)
        503,  # maintenance or traffic restriction; usually short, sometimes with Retry-After
        504,  # gateway or DB statement timeout on deep pages; the same query often succeeds later
    }
)
# Not 429: a rate limit applies to the key, not to one request, so the shared budget pauses
# every thread at once rather than letting each thread hammer the gateway on its own.

# urllib3 would sleep up to 6 hours on a Retry-After; a thread parked that long cannot
# notice Ctrl-C or the run's --max-wait. Longer waits are the budget's business.
RETRY_AFTER_CAP = 60.0
BACKOFF_MAX = 60.0

# Only its Retry-After parser is used, without urllib3's own six-hour bound: how long to
# wait is for the caller to bound, and on a 429 the server's word is when a stopped run
# may resume.
_RETRY_AFTER_READER = Retry(total=0, retry_after_max=sys.maxsize)

# Called once per retry with a short description of its cause. Returning False refuses
# the retry (quota spent, run stopping): the request then fails with what it has.
RetryHook = Callable[[str], bool]


class FecRetry(Retry):
    """urllib3 Retry that reports each retry, never retries 429 and caps Retry-After.

    It uses urllib3's public settings where one does the job, and overrides only what none
    can: new, increment and sleep (hence urllib3 < 3 in setup.cfg)."""

    # urllib3 retries a 429 on its own whenever it carries Retry-After; the budget must see
    # every 429, so that all threads pause together.
    RETRY_AFTER_STATUS_CODES = Retry.RETRY_AFTER_STATUS_CODES - {429}

    def __init__(
        self,
        *args: Any,
        on_retry: RetryHook | None = None,
        stop: threading.Event | None = None,
        retry_after_cap: float = RETRY_AFTER_CAP,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.on_retry = on_retry
        self.stop = stop
        self.retry_after_cap = retry_after_cap

    def new(self, **kw: Any) -> Self:
        # urllib3 makes a fresh Retry for every attempt from the settings it knows; without
        # this the hook, the stop event and the cap would be lost after the first retry.
        kw.setdefault("on_retry", self.on_retry)
        kw.setdefault("stop", self.stop)
        kw.setdefault("retry_after_cap", self.retry_after_cap)
        return super().new(**kw)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        # The one call urllib3 makes before every retry, in the thread that sends it: where
        # the retry is charged to the budget, or refused.
        new_retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.on_retry is not None and not self.on_retry(_describe(url, response, error)):
            # Ending the retries the way urllib3 does lets it release the connection itself.
            reason = ResponseError("the request budget refused a retry")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        return new_retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        # Ours, not urllib3's: its wait cannot be interrupted, a malformed Retry-After
        # raises there, and the wait follows our cap and the one backoff formula.
        delay = 0.0
        if response is not None and self.respect_retry_after_header:
            # A malformed or past Retry-After (None or 0) falls back to the backoff.
            retry_after = response.headers.get("Retry-After")
            delay = parse_retry_after(retry_after, cap=self.retry_after_cap) or 0.0
        if delay <= 0 and len(self.history) > 1:
            # urllib3's rule: the first retry goes at once. The history holds only failures:
            # requests follows redirects itself, never inside urllib3.
            delay = backoff_delay(
                len(self.history) - 1,
                base=self.backoff_factor,
                cap=self.backoff_max,
                jitter=self.backoff_jitter,
            )
        # Waiting on the run's stop event keeps Ctrl-C responsive during a backoff, and a
        # stop ends the request here rather than after one more attempt.
        if self.stop is not None:
            if self.stop.wait(max(delay, 0.0)):
                raise Cancelled("stopped before a retry")
        elif delay > 0:
            time.sleep(delay)


def _describe(url: str | None, response: BaseHTTPResponse | None, error: Exception | None) -> str:
    if response is not None and response.status:
        what = f"HTTP {response.status}"
    elif error is not None:
        what = type(error).__name__
    else:
        what = "unknown error"
    # Only the path: the query string can hold a hundred candidate ids.
    return f"{what} from {urlsplit(url).path}" if url else what


def backoff_delay(
    step: int,
    *,
    base: float,
    cap: float,
    jitter: float = 0.0,
    jitter_share: float = 0.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """The wait before a retry: base * 2**step, at most cap, then a random extra of up to
    ``jitter`` seconds plus ``jitter_share`` of that wait, so that threads or programs that
    failed together do not all come back at the same instant."""
    # A float power of two ends at 2**1023 (beyond, it raises); the cap is long reached by then.
    delay = min(cap, base * 2.0 ** min(step, 1023))
    draw = rng()
    return delay * (1 + jitter_share * draw) + jitter * draw


def make_retry(
    max_retries: int,
    backoff_factor: float,
    *,
    on_retry: RetryHook | None = None,
    stop: threading.Event | None = None,
) -> FecRetry:
    """Retry policy for GETs: 5xx statuses and connect/read errors, exponential backoff.

    The wait before retry n (n >= 2) is backoff_factor * 2**(n-1), at most BACKOFF_MAX, plus
    up to backoff_factor of jitter; the first retry follows at once (urllib3's rule).
    """
    return FecRetry(
        total=max_retries,
        connect=max_retries,  # connection refused/reset before sending: always safe to redo
        read=max_retries,  # timeouts and resets after sending: fine, every request is a GET
        status=max_retries,
        other=0,  # e.g. TLS errors: retrying will not fix a certificate
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_factor,
        backoff_max=BACKOFF_MAX,
        respect_retry_after_header=True,
        raise_on_status=False,  # hand back the last 5xx so its body can explain the failure
        on_retry=on_retry,
        stop=stop,
    )


def make_session(api_key: str, retry: Retry) -> requests.Session:
    """A session that sends the key as a header (never in the URL) and retries per ``retry``."""
    session = requests.Session()
    session.headers.update(
        {"X-Api-Key": api_key, "Accept": "application/json", "User-Agent": USER_AGENT}
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# --- reading responses -----------------------------------------------------------------------


_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")


def errno_reason(exc: BaseException) -> str:
    """' ([Errno 111] Connection refused)' when the error's text names one, else ''."""
    found = _ERRNO.search(str(exc))
    return f" ({found.group(0).strip()})" if found else ""


def root_cause(exc: BaseException) -> BaseException:
    """The innermost error: requests wraps urllib3's MaxRetryError, which wraps the cause."""
    for _ in range(10):  # the chains are short; this only guards against a cycle
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException) and exc.args:
            inner = exc.args[0]
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def response_detail(content: bytes) -> str:
    """The server's explanation: Flask's {"message"}, the gateway's {"error": {...}}, or text."""
    data = json_or_none(content)
    if isinstance(data, dict):
        if "message" in data:
            return flatten_message(data["message"])
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return flatten_message(error["message"])
        return flatten_message(data)
    text = content.decode("utf-8", errors="replace").strip()
    if text.startswith("<"):
        title = _HTML_TITLE.search(text)
        return f"an HTML page ({one_line(title.group(1))})" if title else "an HTML page"
    return one_line(text)[:200] or "(empty body)"


def describe_body(response: requests.Response, content: bytes) -> str:
    content_type = response.headers.get("Content-Type", "no content type")
    if not content.strip():
        return "an empty body"
    if content.lstrip().startswith(b"<"):
        return f"an HTML page instead of JSON ({content_type})"
    return f"a body that is not valid JSON, probably cut off ({len(content)} bytes, {content_type})"


def int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_retry_after(value: str | None, cap: float | None = None) -> float | None:
    """Seconds a Retry-After asks for (delta-seconds or an HTTP date, read by urllib3): None
    when missing or malformed, 0 for a date in the past, at most ``cap`` when one is given."""
    if value is None:
        return None
    try:
        seconds = float(_RETRY_AFTER_READER.parse_retry_after(value))
    except (InvalidHeader, ValueError):  # ValueError: a date past the year 9999
        return None
    return seconds if cap is None else min(seconds, cap)
