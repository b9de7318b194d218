"""One request budget shared by every fetch thread (design §5).

api.data.gov allows each key X-RateLimit-Limit requests per window: 1,000 an hour for a
normal key, 30 for DEMO_KEY, 120 a minute for some upgraded FEC keys. It says how many remain
in ``X-RateLimit-Remaining``, but not how long the window is, and its count is a sliding
estimate (the previous period's requests, weighted by how much of the window they still
cover): Remaining rises as time passes, and believing every rise would let more than Limit
requests through within one true window. So two counts gate every request:

* the server's: once a response carried Remaining, it is never exceeded (other programs may
  share the key). When it reaches 0 we pause like a 429 without Retry-After and then send a
  single probe to learn where the server stands;
* our own: never more than Limit requests within the window. The window is assumed (an
  hour) until the server shows it is shorter: when, after a pause, it counts none of the
  requests sent before the pause, all of them have left its window, so the window is at most
  the time since then. Until then a few requests of the limit are kept back, so that the
  probes which show this never take us past the limit of an unknown window. Once the window
  is known, requests go out evenly spread over it (after a burst the estimate slides low
  while the burst is still inside the true window), and while they do, the server's count
  is the number of them inside its window, which tells the window more closely.

A 429 pauses every thread together until one shared ``pause_until``: ``Retry-After`` when
the server sends it, else exponential backoff with jitter. Pauses are summed once for all
threads (extending the shared pause adds only the extension). When the next pause would take
the total past ``max_wait`` the answer becomes "stop" for everyone, with the wall-clock time
when resuming is worth it (the server's Retry-After when it gave one).
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
from fec.transport import backoff_delay

logger = logging.getLogger(__name__)

DEMO_KEY = "DEMO_KEY"
DEMO_KEY_HOURLY_LIMIT = 30
STANDARD_HOURLY_LIMIT = 1000

# 429 backoff without Retry-After: 2 s, 4 s, 8 s ... capped at a minute, plus up to 25 %
# jitter so that several programs sharing a key do not retry in lockstep.
BACKOFF_BASE = 2.0
BACKOFF_CAP = 60.0
BACKOFF_JITTER = 0.25

# Before the window is known, this many requests of the limit (at most a quarter) are kept
# for probes: enough for probes 2 s ... 4 min apart to see a one-minute window come back.
PROBE_RESERVE = 8
# Evidence of the window is measured from a request well before the pause: the sliding
# estimate weighs all requests of a period alike and rounds down, so the last few before
# the pause can look gone while still counted. With k requests from that one to the pause
# and p sent since, the window is at most (k + p) / (k - 1) times the time measured
# (openfec-api.md §9; api-umbrella's rate_limit_counters_store); k is EVIDENCE_RATIO * (p + 1)
# when there were that many.
EVIDENCE_RATIO = 10
CLOCK_MARGIN = 1.02
PACED_MARGIN = 1.05  # on a window measured while requests go out evenly spread
_GRANTS_KEPT = 20_000
MIN_PAUSE = 0.001  # a pause shorter than the clock can tell would never end


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
        backoff_base: float = BACKOFF_BASE,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if limit < 1 or window <= 0 or max_wait < 0 or backoff_base <= 0:
            raise ValueError("limit must be >= 1, window and backoff_base > 0, max_wait >= 0")
        if max_requests is not None and max_requests < 0:
            raise ValueError("max_requests must be >= 0")
        self._limit = limit
        self._window = window  # assumed until _learned
        self._learned = False
        self._max_wait = max_wait
        self._max_requests = max_requests
        self._backoff_base = backoff_base
        self._clock, self._wall, self._rng = clock, wall, rng
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # clock times of requests inside the window
        self._grants: deque[tuple[int, float]] = deque(maxlen=_GRANTS_KEPT)  # (seq, time)
        self._made = 0
        self._server_left: int | None = None  # requests the server still grants, once known
        self._observed_seq = 0  # the newest grant whose response headers were taken in
        self._pause_until = float("-inf")
        self._pause_seq: int | None = None  # the last grant before the latest pause
        self._probes = 0  # requests allowed past the soft limits once the pause is over
        self._probing = False  # only probes go out: their success is no reason to speed up
        self._last_grant = float("-inf")
        self._paced_since = float("inf")  # when requests began to go out evenly spread
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
    def learned_window(self) -> float | None:
        """The window the server's headers showed (seconds, an upper bound), if they did."""
        with self._lock:
            return self._window if self._learned else None

    @property
    def paused_total(self) -> float:
        """Seconds all threads have been told to pause so far, counted once."""
        with self._lock:
            return self._paused_total

    def remaining_estimate(self) -> int:
        """Requests we may still send in the window: the server's last word, and our own."""
        with self._lock:
            self._prune(self._clock())
            own = max(self._limit - len(self._sent), 0)
            return own if self._server_left is None else min(max(self._server_left, 0), own)

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
                self._learn_window(self._limit - remaining, seq)
                self._refine_window(self._limit - remaining, seq)
            self._server_left = max(remaining - later, 0)
            if self._server_left == 0 and self._stopped is None:
                self._backoff(self._clock(), "the server reports no requests left")

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
                self._probes = 1
            if self._server_left is not None:
                self._server_left = 0

    def on_success(self) -> None:
        """A request went through: the next 429 starts the backoff from the beginning (not
        when it was a probe: the pauses between probes keep growing until requests flow)."""
        with self._lock:
            if not self._probing:
                self._streak = 0

    # --- inside the lock ------------------------------------------------------------------

    def _blocked(self, now: float) -> Decision | None:
        self._prune(now)
        if self._learned:
            return self._paced(now)
        if self._room() > 0:
            self._probing = False
            return None
        if self._probe():
            return None
        if len(self._sent) >= self._limit:
            # Our own count is full within the window: nothing goes until the oldest leaves.
            delay = max(self._sent[0] + self._window - now, MIN_PAUSE)
            self._extend_pause(now, delay, "the window is full")
        else:
            # The server grants nothing more, or the window is not known yet: probe.
            self._backoff(now, "the requests the server granted are spent")
        return self._waiting(now)

    def _paced(self, now: float) -> Decision | None:
        """A known window: requests go out evenly spread over it. A burst would leave the
        gateway's estimate low once it slides past, and believing that is what overruns."""
        if self._server_left is not None and self._server_left <= 0:
            if self._probe():
                return None
            self._backoff(now, "the requests the server granted are spent")
            return self._waiting(now)
        due = self._last_grant + self._window / self._limit
        if len(self._sent) >= self._limit:
            due = max(due, self._sent[0] + self._window)
        if now < due:
            self._extend_pause(now, max(due - now, MIN_PAUSE), "pacing", quiet=True)
            return self._waiting(now)
        self._probing = False
        return None

    def _probe(self) -> bool:
        if self._probes > 0 and len(self._sent) < self._limit:
            self._probes -= 1  # the one request that tells where the server stands now
            self._probing = True
            return True
        return False

    def _waiting(self, now: float) -> Decision:
        if self._stopped is not None:
            return self._stopped
        return Decision("wait", max(self._pause_until - now, 0.0))

    def _room(self) -> int:
        """Requests that may go without a probe: within the server's count and our own."""
        if self._server_left is not None and self._server_left <= 0:
            return 0
        own = self._limit - len(self._sent)
        if self._server_left is None:
            return own  # a server without headers: our own count is all there is
        own -= min(PROBE_RESERVE, self._limit // 4)  # for probes that may show a shorter window
        return min(own, self._server_left)

    def _grant(self, now: float) -> None:
        self._last_grant = now
        self._sent.append(now)
        self._made += 1
        self._grants.append((self._made, now))
        if self._server_left is not None and self._server_left > 0:
            self._server_left -= 1

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()

    def _learn_window(self, used: int, seq: int) -> None:
        """The server counts `used` requests as it answers grant `seq`. If that is no more
        than we sent since the pause began, every request before the pause has left its
        window: the window is at most the time since then."""
        before = self._pause_seq
        if before is None or seq <= before or used > seq - before:
            return
        since = seq - before
        first = max(before - EVIDENCE_RATIO * (since + 1) + 1, 1)
        sent_at = self._grant_time(first)
        span = before - first + 1
        if sent_at is None or span < 2 * (since + 1):
            return  # too few requests before the pause to tell
        self._pause_seq = None
        margin = (span + since) / (span - 1) * CLOCK_MARGIN
        window = (self._clock() - sent_at) * margin
        if window < self._window:
            self._window, self._learned = window, True
            self._paced_since = self._clock()
            logger.info("Rate limit: the API gives back its %d requests within about %.0f s "
                        "(learned from X-RateLimit-Remaining)", self._limit, window)

    def _refine_window(self, used: int, seq: int) -> None:
        """Once requests have gone out evenly for two windows, the server's count is the
        number of them within its window: the window reaches back to the request before the
        oldest it counts (a request's spacing and a margin cover the estimate's rounding)."""
        now = self._clock()
        if not self._learned or now - self._paced_since < 2 * self._window:
            return
        before = self._grant_time(seq - used)
        if before is None:
            return
        window = (now - before) * PACED_MARGIN + self._window / self._limit
        if window < self._window:
            self._window, self._paced_since = window, now
            logger.debug("Rate limit window now about %.1f s", window)

    def _grant_time(self, seq: int) -> float | None:
        if not self._grants or seq < self._grants[0][0] or seq < 1:
            return None
        return self._grants[seq - self._grants[0][0]][1]

    def _backoff(self, now: float, reason: str) -> None:
        if now < self._pause_until:
            return  # a pause is already in force: the 429s of requests in flight add nothing
        base, cap = self._backoff_base, BACKOFF_CAP * self._backoff_base / BACKOFF_BASE
        if self._learned:  # probe within the known window, where it may come back sooner
            base, cap = self._window / 16, self._window / 2
        delay = backoff_delay(
            self._streak, base=base, cap=cap, jitter_share=BACKOFF_JITTER, rng=self._rng
        )
        self._streak += 1
        self._probes = 1
        self._extend_pause(now, delay, reason)

    def _worth_resuming_in(self, now: float, delay: float) -> float:
        """Seconds until a resumed run can expect requests to go through again.

        A Retry-After is the server's own answer (a pause on one has just made it the
        latest). A backoff is only a probe interval, so when the quota is spent, resuming
        is worth it once our oldest request in the window has aged out of it (the quota is
        a rolling window, not a refill).
        """
        if self._last_retry_after is not None:  # the server's window, not our guess
            return max(delay, self._last_retry_after)
        if not self._sent:
            return delay
        return max(delay, self._sent[0] + self._window - now)

    def _extend_pause(self, now: float, delay: float, reason: str, quiet: bool = False) -> None:
        target = now + delay
        added = target - max(self._pause_until, now)
        if added <= 0:
            return
        if self._paused_total + added > self._max_wait:
            resume_after = self._wall() + self._worth_resuming_in(now, delay)
            self._stopped = Decision("stop", 0.0, resume_after)
            logger.warning(
                "Rate limit (%s): pausing %.0f s more would pass the %.0f s wait limit; "
                "stopping, resume after %s",
                reason, delay, self._max_wait, format_epoch(resume_after),
            )
            return
        if now >= self._pause_until and self._made and (
                self._pause_seq is None or self._made - self._pause_seq > PROBE_RESERVE):
            # A new pause after real traffic (not after a probe): what follows it may show
            # that everything before it has left the server's window.
            self._pause_seq = self._made
        self._paused_total += added
        self._pause_until = target
        if not quiet:
            logger.info("Rate limit (%s): all requests pause for %.1f s", reason, delay)
