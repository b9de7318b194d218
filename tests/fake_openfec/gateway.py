"""What sits in front of OpenFEC: api.data.gov keys and rate limits, and a flaky network.

Faults are injected behind the gateway (they pass auth and count against the rate
limit, as real backend failures do): 5xx pages in JSON or HTML, connection resets,
bodies cut short, and HTML where JSON was expected.
"""

from __future__ import annotations

import base64
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

FaultMode = Literal["5xx", "5xx_html", "reset", "truncated", "html"]
FAULT_MODES: tuple[str, ...] = ("5xx", "5xx_html", "reset", "truncated", "html")

SIGNUP = "https://api.data.gov/signup/"
CONTACT = "https://api.data.gov/contact/"
GATEWAY_ERRORS: dict[str, tuple[int, str]] = {
    "API_KEY_MISSING": (403, f"No api_key was supplied. Get one at {SIGNUP}"),
    "API_KEY_INVALID": (403, f"An invalid api_key was supplied. Get one at {SIGNUP}"),
    "API_KEY_DISABLED": (403, "The api_key supplied has been disabled. "
                              f"Contact us at {CONTACT} for assistance"),
    "OVER_RATE_LIMIT": (429, "You have exceeded your rate limit. "
                             f"Try again later or contact us at {CONTACT} for assistance"),
}

_JSON_5XX = {
    500: "Could not process the request",
    502: "Bad Gateway",
    503: ("We apologize for the inconvenience, but we are temporarily blocking API traffic. "
          "Please contact apiinfo@fec.gov if this is an urgent issue."),
    504: "Query timed out",
}
_HTML_TITLES = {
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
    504: "504 Gateway Time-out",
}
ROUTER_502 = "502 Bad Gateway: Registered endpoint failed to handle the request."
HTML_200 = ("<!DOCTYPE html>\n<html lang=\"en\"><head><title>api.data.gov</title></head>\n"
            "<body><h1>Service Unavailable</h1><p>The service is undergoing maintenance. "
            "Please try again later.</p></body></html>\n")


class Headers(Protocol):
    def get(self, name: str, /) -> str | None: ...


def api_key_of(headers: Headers,
               params: Mapping[str, list[str]]) -> tuple[str | None, str | None]:
    """(key, how it came): the X-Api-Key header, the api_key parameter, or basic-auth user."""
    header = headers.get("X-Api-Key")
    if header:
        return header, "header"
    if params.get("api_key") and params["api_key"][0]:
        return params["api_key"][0], "query"
    auth = headers.get("Authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            user = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            user = ""
        if user:
            return user, "basic"
    return None, None


def check_key(key: str | None, valid: frozenset[str], disabled: frozenset[str]) -> str | None:
    """The gateway error code for this key, or None when it may pass."""
    if not key:
        return "API_KEY_MISSING"
    if key in disabled:
        return "API_KEY_DISABLED"
    if key not in valid:
        return "API_KEY_INVALID"
    return None


class _Accepted:
    """Every accepted request's time per key, to tell afterwards how busy a key really was."""

    window: float

    def __init__(self) -> None:
        self._accepted: dict[str, list[float]] = {}

    def _note(self, key: str, now: float) -> None:
        self._accepted.setdefault(key, []).append(now)

    def busiest(self, key: str) -> int:
        """The most requests of `key` this gateway accepted within any `window` seconds."""
        times = sorted(self._accepted.get(key, []))
        most, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= self.window:
                start += 1
            most = max(most, end - start + 1)
        return most

    @staticmethod
    def retry_after(wait: float) -> int:
        return max(1, math.ceil(wait))


class RollingWindow(_Accepted):
    """At most `limit` accepted requests per key in any `window` seconds."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> tuple[bool, int, float]:
        """(accepted, remaining after this request, seconds until a slot frees if refused)."""
        with self._lock:
            now = self._clock()
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False, 0, hits[0] + self.window - now  # refused requests are not counted
            hits.append(now)
            self._note(key, now)
            return True, self.limit - len(hits), 0.0


class SlidingEstimate(_Accepted):
    """API Umbrella's limiter (api.data.gov): a counter per fixed period of `window` seconds,
    and the count of the previous period weighted by how much of it the sliding window still
    covers. Remaining therefore rises between two requests as that weight shrinks, and the
    estimate can let through more than `limit` requests within one true window. Once over,
    a key is refused until the estimate allows it again, with Retry-After on every refusal
    (computed as the gateway does: from the start of the period, not from now)."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self._clock = clock
        self._counts: dict[tuple[str, float], int] = {}
        self._exceeded: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> tuple[bool, int, float]:
        with self._lock:
            now = self._clock()
            until = self._exceeded.get(key)
            if until is not None and until >= now:
                return False, 0, math.ceil(until - now)
            start = math.floor(now / self.window) * self.window
            current = self._counts.get((key, start), 0) + 1
            left = self.window - (now - start)
            previous = self._counts.get((key, start - self.window), 0)
            estimate = current + math.floor(previous * left / self.window)
            if current > self.limit:
                wait = math.floor(left) + 1
            elif estimate > self.limit:
                target = self.limit - current
                wait = math.floor(self.window - target / previous * self.window) + 1
            else:
                self._counts[(key, start)] = current
                self._note(key, now)
                return True, self.limit - estimate, 0.0
            self._exceeded[key] = now + wait  # refused requests are not counted
            return False, 0, wait


@dataclass(frozen=True)
class Faults:
    """Seeded random fault rates per API request (of `only_kind`, or of every kind)."""

    p_5xx: float = 0.0
    p_reset: float = 0.0
    p_truncated: float = 0.0
    p_html: float = 0.0
    statuses: tuple[int, ...] = (500, 502, 503, 504)
    only_kind: str | None = None


@dataclass(frozen=True)
class Fault:
    mode: FaultMode
    status: int = 200

    @property
    def html_body(self) -> bool:
        return self.mode == "5xx_html" or (self.mode == "5xx" and self.status == 502)

    def body(self) -> tuple[bytes, str]:
        """(body, content type) for a 5xx or an HTML fault."""
        if self.mode == "html":
            return HTML_200.encode(), "text/html; charset=utf-8"
        if self.html_body:
            text = _HTML_TITLES.get(self.status, f"{self.status} Error")
            if self.status == 502:
                text = ROUTER_502
            page = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>\n"
            return page.encode(), "text/html; charset=utf-8"
        message = _JSON_5XX.get(self.status, "Internal Server Error")
        body = json.dumps({"message": message, "status": self.status}, sort_keys=True,
                          separators=(",", ":"))
        return (body + "\n").encode(), "application/json"


class FaultInjector:
    def __init__(self, faults: Faults | None, seed: int) -> None:
        self._faults = faults or Faults()
        self._rng = random.Random(seed)
        self._queue: deque[tuple[str | None, Fault]] = deque()
        self._lock = threading.Lock()

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    def fail_next(self, n: int, kind: str | None = None, mode: FaultMode = "5xx",
                  status: int | None = None) -> None:
        """The next n requests (of `kind`, or any) fail this way, before any random fault."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; choose one of {', '.join(FAULT_MODES)}")
        default = {"5xx": 503, "5xx_html": 502}.get(mode, 200)
        with self._lock:
            self._queue.extend((kind, Fault(mode, status or default)) for _ in range(n))

    def draw(self, kind: str) -> Fault | None:
        with self._lock:
            for index, (wanted, fault) in enumerate(self._queue):
                if wanted is None or wanted == kind:
                    del self._queue[index]
                    return fault
            f = self._faults
            if f.only_kind is not None and f.only_kind != kind:
                return None
            roll = self._rng.random()
            for mode, p in (("5xx", f.p_5xx), ("reset", f.p_reset), ("truncated", f.p_truncated),
                            ("html", f.p_html)):
                if roll < p:
                    if mode != "5xx":
                        return Fault(mode)  # type: ignore[arg-type]
                    status = self._rng.choice(f.statuses)
                    html = status == 502 or (status == 504 and self._rng.random() < 0.5)
                    return Fault("5xx_html" if html else "5xx", status)
                roll -= p
            return None
