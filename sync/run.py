"""One sync, start to finish, without click: under the run lock, bootstrap (politicians,
committees), plan, seed from the dump if asked, page and check, and record the run."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import time
from dataclasses import dataclass, field

from db import plan, schema, state
from db.lock import exclusive_lock
from fec import errors
from fec.budget import RateBudget, default_hourly_limit
from fec.client import FecClient, RequestStats
from fec.dump_source import FEC_DUMP_URL
from sync.bootstrap import check_selection, ensure_politicians, list_unresolved, resolve_committees
from sync.options import Options
from sync.outcome import EXIT_FAILED, EXIT_OK, SIGNAL_EXITS, Outcome
from sync.pipeline import Pipeline
from sync.progress import Progress
from sync.seed import Seeder, SeedReport
from sync.signals import StopSignals

logger = logging.getLogger(__name__)


@dataclass
class Result:
    outcome: Outcome
    stats: RequestStats = field(default_factory=RequestStats)
    elapsed: float = 0.0
    started: bool = False  # False when the run never began: the lock held, an unusable file


def run_sync(opts: Options, signals: StopSignals, *, reraise_unexpected: bool = False) -> Result:
    """Run one sync under the database's lock; errors become the outcome's status and exit
    code. An unexpected error becomes a one-line failure, or is raised again if asked."""
    sync: SyncRun | None = None
    try:
        with exclusive_lock(opts.db):
            sync = SyncRun(opts, signals)
            outcome = sync.execute()
    except Exception as exc:
        outcome = Outcome()
        if not outcome.take(exc):
            if reraise_unexpected:
                raise
            detail = errors.redact(f"{type(exc).__name__}: {exc}", opts.api_key)
            outcome.set("failed", EXIT_FAILED,
                        f"unexpected error ({detail}); re-run with --verbose for details")
    if sync is None:
        return Result(outcome)
    return Result(outcome, sync.stats, sync.elapsed, started=True)


class SyncRun:
    """Bootstrap, plan, run the pipeline and set the outcome of one invocation."""

    def __init__(self, opts: Options, signals: StopSignals) -> None:
        self.opts, self.signals = opts, signals
        self.outcome = Outcome()
        self.stats = RequestStats()
        self.stop = signals.stop
        limit = opts.rate_limit or default_hourly_limit(opts.api_key)
        self.budget = RateBudget(
            limit, max_wait=opts.max_wait, max_requests=opts.max_requests,
            backoff_base=float(os.environ.get("SYNC_DONATIONS_RATE_BACKOFF", "2.0")),
        )
        self.client = FecClient(
            opts.api_key, opts.api_url, budget=self.budget, stats=self.stats, stop=self.stop,
            backoff_factor=float(os.environ.get("SYNC_DONATIONS_RETRY_BACKOFF", "1.0")),
        )
        self.progress: Progress | None = None
        self.started = time.monotonic()

    def execute(self) -> Outcome:
        with contextlib.closing(self.client):
            try:
                self._sync()
            except Exception as exc:
                if not self.outcome.take(exc):
                    self.outcome.set("failed", EXIT_FAILED, f"unexpected {type(exc).__name__}")
                    self._finish()  # the runs row still gets its ending
                    raise
        received = self.signals.received
        if received is not None:
            name = signal.Signals(received).name
            self.outcome.set("interrupted", SIGNAL_EXITS[signal.Signals(received)],
                             f"interrupted by {name}")
        self._finish()
        return self.outcome

    def _sync(self) -> None:
        opts = self.opts
        with contextlib.closing(schema.connect(opts.db)) as conn:
            self.outcome.run_id = state.start_run(conn, opts.public(), schema.utc_now())
            with self.signals.interruptible():
                ensure_politicians(conn, opts)
                check_selection(conn, opts.politicians)
                resolve_committees(conn, self.client, opts, self.stop)
            self.outcome.unresolved = list_unresolved(conn, opts)
            plans, skipped = self._plan(conn)
            seeds = (plan.units_to_seed(conn, [(p.committee_id, p.cycle) for p in plans])
                     if opts.seed_from_dump is not None else [])
        self.outcome.units.update(total=len(plans) + skipped, skipped=skipped)
        self.outcome.planned = True
        progress = self.progress = Progress(self.outcome, self.stats, self.budget, opts.quiet)
        if opts.seed_from_dump is not None:
            self._seed(seeds)
        with contextlib.closing(schema.connect(opts.db)) as conn:
            if self.outcome.dump is not None and self.outcome.dump.loaded():
                plans, skipped = self._plan(conn)  # seeded units now start from the dump
            first_chain_id = plan.next_chain_id(conn)
            planned = {(p.committee_id, p.cycle) for p in plans}
            unchecked = [unit for unit in plan.units_to_check(conn, opts.cycles, opts.politicians)
                         if unit not in planned] if opts.verify else []
        logger.info("%d units to sync, %d fresh ones skipped", len(plans), skipped)
        pipeline = Pipeline(opts.db, self.client, self.stop, per_page=opts.batch_size,
                            concurrency=opts.concurrency, first_chain_id=first_chain_id,
                            on_commit=progress.on_commit, verify=opts.verify)
        self.outcome.checks = pipeline.checks
        with progress.running(len(plans)):
            try:
                pipeline.run(plans, unchecked)
            finally:
                self.outcome.failures = pipeline.failures

    def _plan(self, conn: sqlite3.Connection) -> tuple[list[plan.UnitPlan], int]:
        opts = self.opts
        return plan.plan_units(
            conn, opts.cycles, opts.politicians, full=opts.full,
            refresh_after_hours=opts.refresh_after, overlap_days=opts.overlap_days,
            now=schema.utc_now(), current_run=self.outcome.run_id,
        )

    def _seed(self, units: list[tuple[str, int]]) -> None:
        """Load the never-synced units from the weekly dump (sync.seed), before paging."""
        source = self.opts.seed_from_dump or FEC_DUMP_URL
        if not units:
            self.outcome.dump = SeedReport(source)
            return
        seeder = Seeder(self.opts.db, source, self.client, stop=self.stop,
                        per_page=self.opts.batch_size, quiet=self.opts.quiet,
                        backoff_factor=self.client.backoff_factor,
                        on_commit=self.progress.count_rows if self.progress else None,
                        interruptible=self.signals.interruptible)
        self.outcome.dump = seeder.report
        seeder.run(units)

    def _finish(self) -> None:
        """Count unit states and record the run; works even when the sync failed early."""
        out = self.outcome
        out.units["failed"] = len(out.failures)
        if out.exit_code == EXIT_OK and out.failures:
            out.set("failed", EXIT_FAILED, f"{len(out.failures)} unit(s) failed")
        if out.exit_code == EXIT_OK and out.checks.unverified:
            out.set("failed", EXIT_FAILED, f"{out.checks.unverified} unit(s) still differ "
                    "from the API's count after repair")
        out.units["complete"] = self.progress.units_done if self.progress else 0
        done = out.units["complete"] + out.units["skipped"] + out.units["failed"]
        out.units["pending"] = max(out.units["total"] - done, 0)
        if out.run_id is None:
            return
        try:
            with contextlib.closing(schema.connect(self.opts.db)) as conn:
                summary = out.as_json(self.stats, self.elapsed)
                state.finish_run(conn, out.run_id, out.status, out.exit_code, summary,
                                 schema.utc_now(), self.elapsed)
        except schema.DatabaseError as exc:
            if out.exit_code == EXIT_OK:
                out.set("failed", EXIT_FAILED, str(exc))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
