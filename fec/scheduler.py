"""Page many keyset chains concurrently, longest remaining chain first; split, bisect, retry.

Keyset paging makes each chain sequential: page N+1 needs page N's cursor. So the pool runs
one request per task, and whenever a worker frees up it takes the next page of the chain
that most needs it. Once a chain's size is known (every page carries a count), the biggest
chains never wait behind small ones, which keeps wall time near max(longest chain, total
requests / workers). A chain of several units that turns out to be more than a worker's
fair share is split at its cursor, so its parts run side by side.

Failures stay per unit: a chain the API rejects is bisected until the unit at fault fails
alone; a chain resumed from a stored cursor the API now refuses starts its pass over once.
Jobs (count verification) run one task each, ahead of pages.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from fec.chains import Chain, split_chain
from fec.client import FecClient
from fec.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    ConfigurationError,
    FecError,
    PaginationError,
    StopSync,
    TransientError,
)
from fec.schedule_a import Page, iter_pages

logger = logging.getLogger(__name__)

FETCH_THREAD_PREFIX = "fetch"
# Splitting costs up to one request (each part ends on its own partial page), about 3.6 s
# of a 1,000-an-hour key's quota. Against the API's latency of a second or more per page it
# pays only on a chain of about ten pages or more; a shorter one runs whole.
SPLIT_MIN_PAGES = 10


class Job(Protocol):
    """A self-contained piece of work run in one worker thread (e.g. a count verification)."""

    @property
    def label(self) -> str: ...

    def run(self) -> None: ...


OnPage = Callable[[Chain, Page], None]
OnFailed = Callable[[Chain, FecError], None]
OnChainDone = Callable[[Chain, Page], Iterable[Job]]
OnJobFailed = Callable[[Job, FecError], None]
Task = Chain | Job


class ChainScheduler:
    """Run chains' pages and jobs on a thread pool; report through callbacks.

    `on_page` runs in the worker thread that fetched the page, before the chain moves past
    it (so a bounded queue behind it applies backpressure to fetching). `on_failed`,
    `on_chain_done` and `on_job_failed` run in the calling thread. A StopSync, AuthError or
    unexpected error stops everything and is re-raised from `run()` once in-flight
    requests have settled.
    """

    def __init__(self, client: FecClient, *, per_page: int, concurrency: int,
                 stop: threading.Event, on_page: OnPage, on_failed: OnFailed,
                 ids: Iterator[int], on_chain_done: OnChainDone | None = None,
                 on_job_failed: OnJobFailed | None = None, transient_retries: int = 1,
                 stop_grace: float = 15.0) -> None:
        self.client, self.per_page, self.concurrency = client, per_page, concurrency
        self.stop, self.on_page, self.on_failed = stop, on_page, on_failed
        self.on_chain_done, self.on_job_failed = on_chain_done, on_job_failed
        self.ids = ids
        self.transient_retries, self.stop_grace = transient_retries, stop_grace
        self._known: list[tuple[int, int, Chain]] = []  # heap: most pages left first
        self._known_left = 0  # pages left over the chains in that heap
        self._unknown: deque[Chain] = deque()  # chains whose size nothing has told yet
        self._jobs: deque[Job] = deque()
        self._sizes: dict[int, int] = {}  # pages per chain, once known
        self._order = itertools.count()
        self._fatal: BaseException | None = None

    def run(self, chains: Sequence[Chain], jobs: Sequence[Job] = ()) -> None:
        for chain in chains:
            self._push(chain)
        self._jobs.extend(jobs)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=FETCH_THREAD_PREFIX)
        try:
            self._loop(pool)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._fatal is not None:
            raise self._fatal

    # --- choosing what runs next ---------------------------------------------------------

    def _push(self, chain: Chain) -> None:
        left = chain.pages_left(self.per_page)
        if left is None:
            self._unknown.append(chain)
            return
        total = chain.expected_rows()
        if total is not None:
            self._sizes[chain.chain_id] = max(-(-total // self.per_page), 1)
        self._known_left += left
        heapq.heappush(self._known, (-left, next(self._order), chain))

    def _mean_size(self) -> float:
        return sum(self._sizes.values()) / len(self._sizes) if self._sizes else 1.0

    def _share(self, extra: int = 0) -> float:
        """A worker's fair share of the pages left (unknown chains at the mean known size)."""
        left = self._known_left + extra + len(self._unknown) * self._mean_size()
        return left / self.concurrency

    def _pop(self) -> Task:
        """The next task, chosen when a worker is free: jobs first; then a known chain if it
        is at least a worker's fair share of the work left (it would otherwise end the run);
        below that, unknown chains' first pages, since one may hide the longest chain; with
        none left, the longest known chain."""
        if self._jobs:
            return self._jobs.popleft()
        if self._known:
            top = -self._known[0][0]
            if not self._unknown or top >= self._share():
                self._known_left -= top
                return heapq.heappop(self._known)[2]
        return self._unknown.popleft()

    def _has_ready(self) -> bool:
        return bool(self._jobs or self._known or self._unknown)

    # --- the loop ----------------------------------------------------------------------------

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        in_flight: dict[Future[Page | None], Task] = {}
        deadline: float | None = None
        while self._has_ready() or in_flight:
            if self.stop.is_set():
                self._known.clear()
                self._unknown.clear()
                self._jobs.clear()
                deadline = deadline or time.monotonic() + self.stop_grace
                if time.monotonic() > deadline:
                    logger.warning("%d request(s) still in flight; not waiting", len(in_flight))
                    return
            while self._has_ready() and len(in_flight) < self.concurrency:
                task = self._pop()
                in_flight[pool.submit(self._work, task)] = task
            done, _ = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                task = in_flight.pop(future)
                if isinstance(task, Chain):
                    self._settle_chain(task, future)
                else:
                    self._settle_job(task, future)

    def _work(self, task: Task) -> Page | None:
        """Runs in a worker thread: one page of a chain, or one whole job."""
        if self.stop.is_set():
            return None
        if not isinstance(task, Chain):
            task.run()
            return None
        chain = task
        if chain.pages is None:
            chain.pages = iter_pages(
                self.client, chain.committee_ids, chain.cycle, per_page=self.per_page,
                min_load_date=chain.min_load_date, cursor=chain.cursor, window=chain.window,
                kind="verify" if chain.window is not None else "schedule_a",
            )
        page = next(chain.pages, None)
        if page is None:
            raise PaginationError("the scan ended without a final page")
        self.on_page(chain, page)
        chain.take(page)
        return page

    # --- settling results ------------------------------------------------------------------

    def _settle_chain(self, chain: Chain, future: Future[Page | None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            page = future.result()
            if page is None:
                return  # stopped before the request
            if page.done:
                chain.pages = None  # a finished scan's cursor history is no longer needed
                if self.on_chain_done is not None:
                    self._jobs.extend(self.on_chain_done(chain, page))
            else:
                self._continue(chain)
            return
        chain.pages = None  # a scan that raised is finished; a retry starts a new one
        if isinstance(exc, Cancelled):
            return
        if isinstance(exc, FecError) and not _is_fatal(exc):
            self._recover(chain, exc)
        else:
            self._halt(exc)

    def _continue(self, chain: Chain) -> None:
        left = chain.pages_left(self.per_page)
        if (left is not None and len(chain.committee_ids) > 1 and left >= SPLIT_MIN_PAGES
                and left > self._share(extra=left)):
            parts = split_chain(chain, self.ids)
            logger.debug("%s: %d pages left, more than a fair share; split into %d chains",
                        chain.label, left, len(parts))
            for part in parts:
                self._push(part)
            return
        self._push(chain)

    def _recover(self, chain: Chain, exc: FecError) -> None:
        """A chain failed: retry, restart, bisect, or fail its one unit."""
        if isinstance(exc, TransientError) and chain.attempts < self.transient_retries:
            chain.attempts += 1
            logger.info("retrying %s after: %s", chain.label, exc)
            self._push(chain)
        elif isinstance(exc, BadRequest) and chain.resumed and not chain.restarted:
            logger.warning("%s: the API refused the stored cursor (%s); starting this pass "
                           "over from its first page", chain.label, exc)
            chain.restart()
            self._push(chain)
        elif len(chain.committee_ids) > 1:
            parts = split_chain(chain, self.ids)
            logger.info("%s failed (%s); trying its %d halves apart to find the unit at fault",
                        chain.label, exc, len(parts))
            for part in parts:
                self._push(part)
        else:
            self.on_failed(chain, exc)

    def _settle_job(self, job: Job, future: Future[Page | None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None or isinstance(exc, Cancelled):
            return
        if _is_fatal(exc) or not isinstance(exc, FecError):
            self._halt(exc)
        elif self.on_job_failed is not None:
            self.on_job_failed(job, exc)

    def _halt(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
        else:
            logger.debug("also stopping on: %s", exc)
        self.stop.set()


def _is_fatal(exc: BaseException) -> bool:
    """Errors that end the whole run rather than one unit."""
    return isinstance(exc, (StopSync, AuthError, ConfigurationError)) or not isinstance(
        exc, FecError)
