"""The fetch/write pipeline: fetch threads -> bounded queue -> the one writer thread.

Plans read from the database become keyset chains (fec.chains); the chain scheduler pages
them on a thread pool, and every page goes through the queue to the writer thread, which
owns the only connection and commits each page with its chain's cursor and membership.
When a chain's pass is complete, its units' counts are checked against the API
(sync.checks), as jobs on the same pool.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from db.plan import UnitPlan
from db.writer import DONE, CommitResult, PageFetched, SQLiteWriter, UnitFailed
from fec.chains import Chain, UnitSpec, group_units
from fec.client import FecClient
from fec.errors import FecError
from fec.schedule_a import SORT, Page
from fec.scheduler import ChainScheduler, Job
from fec.verify import GroupCheck, Unit
from sync.checks import CheckTally, WriterIO, check_after, checks_for

logger = logging.getLogger(__name__)

STOP_GRACE_S = 15.0  # how long in-flight requests may take to finish after a stop


def build_chains(plans: Sequence[UnitPlan], *, per_page: int, concurrency: int,
                 ids: Iterator[int]) -> list[Chain]:
    """Resumed passes continue in their stored chains (under new ids, so that members left
    out of this run keep theirs); new passes are grouped by size."""
    stored: dict[tuple[int, int | str], list[UnitPlan]] = {}
    for plan in plans:
        if plan.resumed:
            key = plan.chain_id if plan.chain_id is not None else plan.committee_id
            stored.setdefault((plan.cycle, key), []).append(plan)
    chains = [_resumed_chain(members, next(ids)) for _, members in sorted(
        stored.items(), key=lambda item: str(item[0]))]
    fresh = [UnitSpec(p.committee_id, p.cycle, p.min_load_date, p.size)
             for p in plans if not p.resumed]
    return chains + group_units(fresh, per_page=per_page, concurrency=concurrency, ids=ids)


def _resumed_chain(members: list[UnitPlan], chain_id: int) -> Chain:
    first = members[0]
    return Chain(chain_id, first.cycle, tuple(sorted(p.committee_id for p in members)),
                 first.min_load_date, first.cursor, starts_pass=False, resumed=True,
                 member_rows={p.committee_id: p.rows_read for p in members})


class Pipeline:
    """Fetch threads -> bounded queue -> the one writer thread that owns the connection."""

    def __init__(self, db_path: str, client: FecClient, stop: threading.Event, *,
                 per_page: int, concurrency: int, first_chain_id: int,
                 on_commit: Callable[[CommitResult], None], verify: bool = True) -> None:
        self.client, self.stop = client, stop
        self.per_page, self.concurrency, self.verify = per_page, concurrency, verify
        self.ids = itertools.count(first_chain_id)
        self.messages: queue.Queue[Any] = queue.Queue(maxsize=concurrency * 2)
        self.writer = SQLiteWriter(db_path, self.messages, stop=stop, on_commit=on_commit)
        self.failures: list[dict[str, Any]] = []
        self.checks = CheckTally()
        self.io = WriterIO(client, self.writer, per_page=per_page, tally=self.checks)

    def run(self, plans: Sequence[UnitPlan], unchecked: Sequence[Unit] = ()) -> None:
        """Sync every planned unit and check the counts of those completed (and of
        `unchecked`, units no pass runs for); re-raises a stop reason or the writer's error."""
        chains = build_chains(plans, per_page=self.per_page, concurrency=self.concurrency,
                              ids=self.ids)
        scheduler = ChainScheduler(
            self.client, per_page=self.per_page, concurrency=self.concurrency, stop=self.stop,
            on_page=self.queue_page, on_failed=self.queue_failure, ids=self.ids,
            on_chain_done=self.check_chain, on_job_failed=self.check_failed,
            stop_grace=STOP_GRACE_S,
        )
        jobs = checks_for(unchecked, self.io, self.per_page) if self.verify else []
        self.writer.start()
        try:
            scheduler.run(chains, jobs)
        finally:
            self.messages.put(DONE)  # the writer drains everything up to here, then exits
            self.writer.join()
        if self.writer.error is not None:
            raise self.writer.error

    def queue_page(self, chain: Chain, page: Page) -> None:
        """Hand a fetched page to the writer (runs in a fetch thread; blocks when it lags)."""
        self.writer.put(PageFetched(
            chain.chain_id, chain.cycle, chain.committee_ids, page.rows, page.cursor, page.done,
            starts_pass=chain.starts_pass, min_load_date=chain.min_load_date,
            sort=SORT if chain.starts_pass else None,
        ))

    def check_chain(self, chain: Chain, page: Page) -> list[Job]:
        return list(check_after(chain, page, self.io, self.per_page)) if self.verify else []

    def check_failed(self, job: Job, exc: FecError) -> None:
        logger.warning("%s could not finish: %s", job.label, exc)
        if isinstance(job, GroupCheck):
            self.checks.add_unchecked(len(job.units))

    def queue_failure(self, chain: Chain, exc: FecError) -> None:
        for committee_id, cycle in chain.units:
            logger.warning("unit %s/%s failed: %s", committee_id, cycle, exc)
            self.failures.append({"committee_id": committee_id, "cycle": cycle,
                                  "error": str(exc)})
            self.writer.put(UnitFailed(committee_id, cycle, str(exc)))

