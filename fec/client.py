"""OpenFEC client shared by all fetch threads: budget, retries, errors, circuit breaker.

Every HTTP request, first attempt or retry, first asks the shared ``RateBudget``. Failures
are turned into the domain errors of ``fec.errors`` with messages a user can act on, and
the API key (sent only in the ``X-Api-Key`` header) never appears in any of them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, get_args
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from fec.budget import RateBudget
from fec.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    CircuitOpen,
    ConfigurationError,
    FecError,
    QuotaExhausted,
    RateLimited,
    TransientError,
    flatten_message,
    redact,
)
from fec.transport import (
    BACKOFF_MAX,
    backoff_delay,
    describe_body,
    errno_reason,
    int_header,
    json_or_none,
    make_retry,
    make_session,
    parse_retry_after,
    response_detail,
    root_cause,
)

__all__ = ["FecClient", "Kind", "Params", "RequestStats", "make_session"]

logger = logging.getLogger(__name__)

# "verify" is a Schedule A request made to check or repair counts (count probes, window
# rescans): it counts as a Schedule A request and, in its own tally, as verification.
Kind = Literal["schedule_a", "verify", "lookup"]
_KINDS = frozenset(get_args(Kind))
Params = list[tuple[str, str]] | dict[str, Any]

# Request errors no retry can fix: the URL or a header (the key) cannot be sent at all.
_UNUSABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)


@dataclass
class RequestStats:
    """Thread-safe counters. ``total`` counts every HTTP request sent (retries included) and
    equals ``schedule_a + lookups``; ``retries``, ``rate_limited`` and ``verification`` (the
    Schedule A requests spent checking and repairing counts) are parts of it."""

    total: int = 0
    schedule_a: int = 0
    lookups: int = 0
    retries: int = 0
    rate_limited: int = 0
    verification: int = 0
    failures_in_a_row: int = 0

    def __post_init__(self) -> None:
        # Not a dataclass field, so dataclasses.asdict() and repr() still work on the stats.
        self._lock = threading.Lock()

    def count_request(self, kind: Kind, *, retry: bool = False) -> None:
        with self._lock:
            self.total += 1
            if kind == "lookup":
                self.lookups += 1
            else:
                self.schedule_a += 1
            if kind == "verify":
                self.verification += 1
            if retry:
                self.retries += 1

    def count_rate_limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def record_failure(self) -> int:
        with self._lock:
            self.failures_in_a_row += 1
            return self.failures_in_a_row

    def record_success(self) -> None:
        with self._lock:
            self.failures_in_a_row = 0

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "total": self.total,
                "schedule_a": self.schedule_a,
                "lookups": self.lookups,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "verification": self.verification,
            }


class _RateLimitedResponse(Exception):
    """Internal: a 429 was handed to the budget; send the request again."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class _UnreadableBody(Exception):
    """Internal: a 2xx whose body is cut off or not a JSON object; worth another try."""


class FecClient:
    """Thread-safe: each thread lazily gets its own session; counters and budget are shared."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        budget: RateBudget,
        stats: RequestStats | None = None,
        stop: threading.Event | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_retries: int = 4,
        backoff_factor: float = 1.0,
        breaker_threshold: int = 5,
    ) -> None:
        if not api_key:
            raise ValueError("an API key is required")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.stats = stats if stats is not None else RequestStats()
        self.stop = stop if stop is not None else threading.Event()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.breaker_threshold = breaker_threshold
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FecClient(base_url={self.base_url!r}, api_key='***')"

    def session(self) -> requests.Session:
        """This thread's session, made on first use."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            retry = make_retry(
                self.max_retries, self.backoff_factor, on_retry=self._on_retry, stop=self.stop
            )
            session = make_session(self._api_key, retry)
            with self._sessions_lock:
                self._sessions.append(session)
            self._local.session = session
        return session

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def get_json(self, path: str, params: Params, *, kind: Kind) -> dict[str, Any]:
        """GET base_url/path and return the JSON object, or raise a ``FecError``."""
        if kind not in _KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        self._check_breaker()
        self._local.kind = kind
        url = f"{self.base_url}/{path.lstrip('/')}"
        unreadable = 0
        last_429: RateLimited | None = None
        while True:
            try:
                self._wait_for_slot()
            except QuotaExhausted as exc:
                raise exc from last_429
            self.stats.count_request(kind, retry=unreadable > 0)
            try:
                body = self._send(url, path, params)
            except _RateLimitedResponse as exc:
                last_429 = RateLimited(exc.retry_after)
                continue
            except _UnreadableBody as exc:
                unreadable += 1
                if unreadable > self.max_retries:
                    self._fail(TransientError(f"{exc} ({unreadable} times in a row)."))
                self._pause_before_retry(unreadable, str(exc))
                continue
            except TransientError as exc:
                self._fail(exc)
            self.stats.record_success()
            return body

    # --- one attempt -----------------------------------------------------------------------

    def _send(self, url: str, path: str, params: Params) -> dict[str, Any]:
        self._local.refusal = None
        self._local.retries = 0
        logger.debug("GET %s %s", path, params)
        unusable = None
        try:
            # No redirects: each hop would be an uncounted request, and requests would
            # forward the X-Api-Key header to whatever host the redirect names.
            response = self.session().get(
                url, params=params, timeout=self.timeout, stream=True, allow_redirects=False
            )
        except _UNUSABLE as exc:
            unusable = type(exc).__name__
        except requests.RequestException as exc:
            self._raise_refusal()
            raise TransientError(self._network_message(exc, path)) from exc
        if unusable is not None:
            # Raised outside the except block, so that no chained exception (which may
            # quote the key) travels with it.
            raise ConfigurationError(
                f"Cannot send a request to {path}: the API URL or key contains characters "
                f"HTTP does not allow ({unusable})"
            )
        with response:
            self._raise_refusal()
            self._observe(response)
            if response.status_code == 429:
                raise self._rate_limited(response)
            if response.is_redirect:
                raise self._redirected(response, path)
            self.budget.on_success()
            return self._decode(response, path)

    def _decode(self, response: requests.Response, path: str) -> dict[str, Any]:
        try:
            content = response.content
        except requests.RequestException as exc:
            raise _UnreadableBody(
                f"The response to {path} was cut off ({type(exc).__name__})"
            ) from exc
        status = response.status_code
        if status in (401, 403):
            raise self._auth_error(content, status)
        if 400 <= status < 500:
            raise BadRequest(status, self._redact(response_detail(content)), path)
        if not 200 <= status < 300:
            raise TransientError(
                f"The OpenFEC API failed with HTTP {status} on {path}{self._retried()}: "
                f"{self._redact(response_detail(content))}"
            )
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise _UnreadableBody(
                f"The API sent {describe_body(response, content)} for {path}"
            ) from exc
        if not isinstance(data, dict):
            raise _UnreadableBody(f"The API sent a JSON {type(data).__name__} for {path}")
        return data

    def _redirected(self, response: requests.Response, path: str) -> ConfigurationError:
        where = urlsplit(response.headers.get("Location", ""))
        target = f"{where.scheme}://{where.netloc}{where.path}" if where.netloc else where.path
        return ConfigurationError(self._redact(
            f"The API redirected {path} (HTTP {response.status_code}) to {target or '?'}; "
            "set --api-url to the address it should be reached at"
        ))

    def _auth_error(self, content: bytes, status: int) -> AuthError:
        error = json_or_none(content)
        details = error.get("error") if isinstance(error, dict) else None
        if isinstance(details, dict):
            code = str(details.get("code") or "UNKNOWN")
            message = details.get("message")
        else:
            code, message = "UNKNOWN", response_detail(content)
        said = self._redact(flatten_message(message)) if message else None
        return AuthError(code, said, status)

    def _rate_limited(self, response: requests.Response) -> _RateLimitedResponse:
        self.stats.count_rate_limited()
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        logger.warning(
            "The API answered 429 Too Many Requests (Retry-After: %s); all requests pause",
            "none" if retry_after is None else f"{retry_after:.0f} s",
        )
        self.budget.on_rate_limited(retry_after)
        return _RateLimitedResponse(retry_after)

    def _observe(self, response: requests.Response) -> None:
        limit = int_header(response, "X-RateLimit-Limit")
        remaining = int_header(response, "X-RateLimit-Remaining")
        if limit is not None or remaining is not None:
            self.budget.observe(limit, remaining, getattr(self._local, "seq", None))

    # --- budget, retries and the circuit breaker ------------------------------------------------

    def _wait_for_slot(self) -> None:
        """Block until the budget says go; raise if it says stop or the run is stopping."""
        while True:
            if self.stop.is_set():
                raise Cancelled()
            decision = self.budget.acquire()
            if decision.action == "go":
                self._local.seq = decision.seq
                return
            if decision.action == "stop":
                resume_after = decision.resume_after
                raise QuotaExhausted(resume_after=resume_after or time.time())
            logger.debug("Waiting %.1f s for the rate limit", decision.delay)
            if self.stop.wait(decision.delay):
                raise Cancelled()

    def _on_retry(self, cause: str) -> bool:
        """Called by urllib3 (in this thread) before each retry: charge it, or refuse it."""
        try:
            self._wait_for_slot()
        except FecError as exc:
            self._local.refusal = exc
            return False
        self.stats.count_request(getattr(self._local, "kind", "schedule_a"), retry=True)
        self._local.retries = getattr(self._local, "retries", 0) + 1
        logger.warning(
            "API request failed (%s); retry %d of %d", cause, self._local.retries, self.max_retries
        )
        return True

    def _raise_refusal(self) -> None:
        refusal: FecError | None = getattr(self._local, "refusal", None)
        if refusal is not None:
            self._local.refusal = None
            raise refusal

    def _pause_before_retry(self, attempt: int, reason: str) -> None:
        factor = self.backoff_factor
        delay = backoff_delay(attempt - 1, base=factor, cap=BACKOFF_MAX, jitter=factor)
        logger.warning("%s; retrying in %.1f s", reason, delay)
        if self.stop.wait(delay):
            raise Cancelled()

    def _check_breaker(self) -> None:
        failures = self.stats.failures_in_a_row
        if failures >= self.breaker_threshold:
            raise CircuitOpen(failures)

    def _fail(self, exc: TransientError) -> NoReturn:
        failures = self.stats.record_failure()
        if failures >= self.breaker_threshold:
            raise CircuitOpen(failures, exc.message) from exc
        raise exc

    def _network_message(self, exc: requests.RequestException, path: str) -> str:
        root = root_cause(exc)
        connect, read = self.timeout
        if isinstance(root, ReadTimeoutError) or isinstance(exc, requests.ReadTimeout):
            what = f"no answer within {read:g} s"
        elif isinstance(root, ConnectTimeoutError) and not isinstance(root, NewConnectionError):
            what = f"could not connect within {connect:g} s"
        elif isinstance(exc, requests.exceptions.SSLError):
            what = "TLS/SSL error"
        elif isinstance(exc, requests.ConnectionError):
            what = "connection failed"
        else:
            what = type(exc).__name__
        reason = errno_reason(exc)
        host = urlsplit(self.base_url).netloc
        return self._redact(f"Could not get {path} from {host}: {what}{reason}{self._retried()}.")

    def _retried(self) -> str:
        retries: int = getattr(self._local, "retries", 0)
        if not retries:
            return ""
        return f" after {retries} {'retry' if retries == 1 else 'retries'}"

    def _redact(self, text: str) -> str:
        return redact(text, self._api_key)
