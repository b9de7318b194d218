"""One request budget shared by every fetch thread (design §5).

api.data.gov counts requests per key over a rolling hour (1,000 for a normal key, 30 for
DEMO_KEY) and says how many remain in ``X-RateLimit-Remaining``. The budget keeps the key
under that limit for all threads at once:

* Before the server has told us anything, it counts our own requests over a rolling window.
* Once a response carried ``X-RateLimit-Remaining``, that number is the truth (other programs
  may share the key, and a test server may use a window of seconds): we spend what it grants
  and never guess how fast the quota comes back. When it reaches 0 we pause like a 429
  without ``Retry-After`` and then send a single probe to learn where the server stands.
* A 429 pauses every thread together until one shared ``pause_until``: ``Retry-After`` when
  the server sends it, else exponential backoff with jitter.
* Pauses are summed once for all threads (extending the shared pause adds only the
  extension). When the next pause would take the total past ``max_wait`` the answer becomes
  "stop" for everyone, with the wall-clock time when resuming is worth it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fec.errors import RequestLimitReached, format_epoch

logger = logging.getLogger(__name__)

DEMO_KEY = "DEMO_KEY"
DEMO_KEY_HOURLY_LIMIT = 30
STANDARD_HOURLY_LIMIT = 1000

# 429 backoff without Retry-After: 2 s, 4 s, 8 s ... capped at a minute, plus up to 25 %
# jitter so that several programs sharing a key do not retry in lockstep.
BACKOFF_BASE = 2.0
BACKOFF_CAP = 60.0
BACKOFF_JITTER = 0.25


@dataclass(frozen=True)
class Decision:
    action: Literal["go", "wait", "stop"]
    delay: float = 0.0
    resume_after: float | None = None
    seq: int = 0  # for "go": the grant's number, to match its response's headers to it



def default_hourly_limit(api_key: str) -> int:
    return DEMO_KEY_HOURLY_LIMIT if api_key == DEMO_KEY else STANDARD_HOURLY_LIMIT


class RateBudget:
    """Thread-safe; one per run. ``clock`` is monotonic seconds, ``wall`` epoch seconds."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = 3600.0,
        max_wait: float = 300.0,
        max_requests: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if limit < 1 or window <= 0 or max_wait < 0:
            raise ValueError("limit must be >= 1, window > 0 and max_wait >= 0")
        if max_requests is not None and max_requests < 0:
            raise ValueError("max_requests must be >= 0")
        self._limit = limit
        self._window = window
        self._max_wait = max_wait
        self._max_requests = max_requests
        self._clock, self._wall, self._rng = clock, wall, rng
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # clock times of requests inside the window
        self._made = 0
        self._server_left: int | None = None  # requests the server still grants, once known
        self._observed_seq = 0  # the newest grant whose response headers were taken in
        self._pause_until = float("-inf")
        self._paused_total = 0.0
        self._streak = 0  # consecutive backoffs, for the exponent
        self._stopped: Decision | None = None
        self._last_retry_after: float | None = None  # the server's latest word on waiting

    @property
    def requests_made(self) -> int:
        with self._lock:
            return self._made

    @property
    def limit(self) -> int:
        with self._lock:
            return self._limit

    @property
    def paused_total(self) -> float:
        """Seconds all threads have been told to pause so far, counted once."""
        with self._lock:
            return self._paused_total

    def remaining_estimate(self) -> int:
        """The server's last word on remaining requests, or our own estimate before that."""
        with self._lock:
            if self._server_left is not None:
                return max(self._server_left, 0)
            self._prune(self._clock())
            return max(self._limit - len(self._sent), 0)

    def acquire(self) -> Decision:
        """"go" reserves one request; "wait" says how long; "stop" means give up for now."""
        with self._lock:
            if self._stopped is not None:
                return self._stopped
            if self._max_requests is not None and self._made >= self._max_requests:
                raise RequestLimitReached(self._max_requests)
            now = self._clock()
            if now < self._pause_until:
                return Decision("wait", self._pause_until - now)
            blocked = self._blocked(now)
            if blocked is not None:
                return blocked
            self._grant(now)
            return Decision("go", seq=self._made)

    def observe(self, limit: int | None, remaining: int | None, seq: int | None = None) -> None:
        """Take in the X-RateLimit-Limit / X-RateLimit-Remaining headers of a response.

        With `seq` (the grant the response answers), a header older than one already taken
        in is ignored, and requests granted after it are taken as spent: otherwise a slow
        response arriving late would hand out requests the server has already counted."""
        with self._lock:
            if limit is not None and limit > 0:
                self._limit = limit
            if remaining is None:
                return
            later = 0
            if seq is not None:
                if seq < self._observed_seq:
                    return
                self._observed_seq = seq
                later = self._made - seq
            self._server_left = max(remaining - later, 0)
            if self._server_left == 0 and self._stopped is None:
                self._backoff(self._clock(), "the server reports no requests left")
                self._server_left = 1  # one probe once the (possibly earlier) pause is over

    def on_rate_limited(self, retry_after: float | None) -> None:
        """A 429 arrived: pause every thread (Retry-After, or exponential backoff + jitter)."""
        with self._lock:
            if self._stopped is not None:
                return
            now = self._clock()
            if retry_after is None or retry_after < 1.0:
                # "Retry-After: 0" (or a date in the past) would turn a 429 storm into a
                # busy loop that burns the quota; back off as if it were absent.
                self._backoff(now, "429 Too Many Requests")
            else:
                self._streak += 1
                self._last_retry_after = retry_after
                self._extend_pause(now, retry_after, "429 with Retry-After")
            if self._server_left is not None:
                self._server_left = min(self._server_left, 1)

    def on_success(self) -> None:
        """A request went through: the next 429 starts the backoff from the beginning."""
        with self._lock:
            self._streak = 0

    def _blocked(self, now: float) -> Decision | None:
        if self._server_left is not None:
            if self._server_left > 0:
                return None
            # Everything the server granted is spent and no fresher count has arrived:
            # pause, then let exactly one probe through to hear the server's new count.
            self._backoff(now, "the requests the server granted are spent")
        else:
            self._prune(now)
            if len(self._sent) < self._limit:
                return None
            self._extend_pause(now, self._sent[0] + self._window - now, "hourly limit reached")
        if self._stopped is not None:
            return self._stopped
        return Decision("wait", max(self._pause_until - now, 0.0))

    def _grant(self, now: float) -> None:
        self._prune(now)
        self._sent.append(now)
        self._made += 1
        if self._server_left is not None:
            self._server_left -= 1

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()

    def _backoff(self, now: float, reason: str) -> None:
        if now < self._pause_until:
            return  # a pause is already in force: the 429s of requests in flight add nothing
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2**self._streak)
        self._streak += 1
        if self._server_left is not None:
            self._server_left = 1
        self._extend_pause(now, delay * (1 + BACKOFF_JITTER * self._rng()), reason)

    def _worth_resuming_in(self, now: float, delay: float, reason: str) -> float:
        """Seconds until a resumed run can expect requests to go through again.

        A Retry-After is the server's own answer. A backoff is only a probe interval, so
        when the quota is spent, resuming is worth it once our oldest request in the
        window has aged out of it (the quota is a rolling window, not a refill).
        """
        if "Retry-After" in reason:
            return delay
        if self._last_retry_after is not None:  # the server's window, not our guess
            return max(delay, self._last_retry_after)
        if not self._sent:
            return delay
        return max(delay, self._sent[0] + self._window - now)

    def _extend_pause(self, now: float, delay: float, reason: str) -> None:
        target = now + delay
        added = target - max(self._pause_until, now)
        if added <= 0:
            return
        if self._paused_total + added > self._max_wait:
            resume_after = self._wall() + self._worth_resuming_in(now, delay, reason)
            self._stopped = Decision("stop", 0.0, resume_after)
            logger.warning(
                "Rate limit (%s): pausing %.0f s more would pass the %.0f s wait limit; "
                "stopping, resume after %s",
                reason, delay, self._max_wait, format_epoch(resume_after),
            )
            return
        self._paused_total += added
        self._pause_until = target
        logger.info("Rate limit (%s): all requests pause for %.1f s", reason, delay)
