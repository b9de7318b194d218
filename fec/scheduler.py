"""Page many Schedule A units concurrently, longest remaining chain first.

Keyset paging makes each (committee, cycle) unit a chain: page N+1 needs page N's
cursor. So the pool runs one request per task, and whenever a worker frees up it
takes the next page of the unit with the most pages left. Once a unit's size is known
(its first page carries a count), the biggest chains never wait behind small ones,
which is what keeps wall time near max(longest chain, total requests / workers).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from fec.client import FecClient
from fec.errors import (
    AuthError,
    Cancelled,
    ConfigurationError,
    FecError,
    PaginationError,
    StopSync,
    TransientError,
)
from fec.schedule_a import Page, iter_pages

logger = logging.getLogger(__name__)


@dataclass
class Unit:
    """One (committee, cycle) scan, resumable from `cursor`."""

    committee_id: str
    cycle: int
    cursor: dict[str, Any] | None = None
    min_load_date: str | None = None
    expected_pages: int | None = None  # a prior (e.g. the last pass's size), or None
    attempts: int = 0
    fetched: int = 0  # pages fetched in this run
    pages: Iterator[Page] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.committee_id, self.cycle)


OnPage = Callable[[Unit, Page], None]
OnFailed = Callable[[Unit, FecError], None]


class UnitScheduler:
    """Run units' pages on a thread pool; report pages and failures through callbacks.

    `on_page` runs in the worker thread that fetched the page (so a bounded queue
    behind it applies backpressure to fetching). `on_failed` runs in the calling
    thread. A StopSync, AuthError or unexpected error stops everything and is
    re-raised from `run()` once in-flight requests have settled.
    """

    def __init__(self, client: FecClient, *, per_page: int, concurrency: int,
                 stop: threading.Event, on_page: OnPage, on_failed: OnFailed,
                 transient_retries: int = 1, stop_grace: float = 15.0) -> None:
        self.client, self.per_page, self.concurrency = client, per_page, concurrency
        self.stop, self.on_page, self.on_failed = stop, on_page, on_failed
        self.transient_retries, self.stop_grace = transient_retries, stop_grace
        self._known: list[tuple[int, int, Unit]] = []  # heap: most pages left first
        self._known_left = 0  # pages left over the units in that heap
        self._unknown: deque[Unit] = deque()  # units whose size no page has told yet
        self._sizes: dict[tuple[str, int], int] = {}  # pages per unit, once known
        self._order = itertools.count()
        self._fatal: BaseException | None = None

    def run(self, units: Sequence[Unit]) -> None:
        for unit in units:
            self._push(unit, unit.expected_pages)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="fetch")
        try:
            self._loop(pool)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._fatal is not None:
            raise self._fatal

    def _push(self, unit: Unit, pages_left: int | None) -> None:
        if pages_left is None:
            self._unknown.append(unit)
            return
        if unit.expected_pages is not None:
            self._sizes.setdefault(unit.key, unit.expected_pages)
        self._known_left += pages_left
        heapq.heappush(self._known, (-pages_left, next(self._order), unit))

    def _pop(self) -> Unit:
        """The next unit to fetch a page of, chosen when a worker is free.

        A known chain goes first when it is at least one worker's fair share of the work
        left (known pages, plus unknown units at the mean known size): it would otherwise
        end the run. Below that, unknown units' first pages go first, since one of them may
        hide the longest chain; with none left, the longest known chain."""
        if self._known:
            top = -self._known[0][0]
            mean = sum(self._sizes.values()) / len(self._sizes) if self._sizes else 1.0
            share = (self._known_left + len(self._unknown) * mean) / self.concurrency
            if not self._unknown or top >= share:
                self._known_left -= top
                return heapq.heappop(self._known)[2]
        return self._unknown.popleft()

    def _has_ready(self) -> bool:
        return bool(self._known or self._unknown)

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        in_flight: dict[Future[Page | None], Unit] = {}
        deadline: float | None = None
        while self._has_ready() or in_flight:
            if self.stop.is_set():
                self._known.clear()
                self._unknown.clear()
                deadline = deadline or time.monotonic() + self.stop_grace
                if time.monotonic() > deadline:
                    logger.warning("%d request(s) still in flight; not waiting", len(in_flight))
                    return
            while self._has_ready() and len(in_flight) < self.concurrency:
                unit = self._pop()
                in_flight[pool.submit(self._fetch_next, unit)] = unit
            done, _ = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                self._settle(in_flight.pop(future), future)

    def _fetch_next(self, unit: Unit) -> Page | None:
        """Fetch one page of `unit` (runs in a worker thread)."""
        if self.stop.is_set():
            return None
        if unit.pages is None:
            unit.pages = iter_pages(
                self.client, [unit.committee_id], unit.cycle, per_page=self.per_page,
                min_load_date=unit.min_load_date, cursor=unit.cursor,
            )
        page = next(unit.pages, None)
        if page is None:
            raise PaginationError("the scan ended without a final page")
        self.on_page(unit, page)
        unit.cursor = page.cursor
        unit.fetched += 1
        return page

    def _settle(self, unit: Unit, future: Future[Page | None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            page = future.result()
            left = self._pages_left(unit, page) if page is not None else None
            if page is not None and not page.done:
                self._push(unit, left)
            elif page is not None:
                unit.pages = None  # a finished scan's cursor history is no longer needed
            return
        unit.pages = None  # a generator that raised is finished; a retry starts a new one
        if isinstance(exc, Cancelled):
            return
        if isinstance(exc, (StopSync, AuthError, ConfigurationError)) or not isinstance(
            exc, FecError
        ):
            self._halt(exc)
        elif isinstance(exc, TransientError) and unit.attempts < self.transient_retries:
            unit.attempts += 1
            logger.info("retrying %s/%s after: %s", unit.committee_id, unit.cycle, exc)
            self._push(unit, unit.expected_pages)
        else:
            self.on_failed(unit, exc)

    def _pages_left(self, unit: Unit, page: Page) -> int | None:
        if page.count is not None:
            # `count` covers the whole filter, so it fixes the size once it is known.
            unit.expected_pages = math.ceil(page.count / self.per_page)
            self._sizes[unit.key] = unit.expected_pages
        if unit.expected_pages is None:
            return None
        return max(unit.expected_pages - unit.fetched, 1)

    def _halt(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
        else:
            logger.debug("also stopping on: %s", exc)
        self.stop.set()
