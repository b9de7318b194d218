"""What a run shows while it works: a tqdm bar on a terminal, a log line now and then
without one (CI), nothing with --quiet. It counts durable work: only the writer thread
calls `on_commit`, after each commit."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from db.writer import CommitResult
from fec.budget import RateBudget
from fec.client import RequestStats
from sync.outcome import Outcome

logger = logging.getLogger(__name__)


class Progress:
    LOG_EVERY_S = 30.0

    def __init__(self, outcome: Outcome, stats: RequestStats, budget: RateBudget,
                 quiet: bool) -> None:
        self.outcome, self.stats, self.budget = outcome, stats, budget
        self.units_done = 0
        self.total_units = 0
        self.bar: Any = None  # tqdm ships no types
        self.quiet = quiet
        self._last_log = time.monotonic()

    @contextlib.contextmanager
    def running(self, total_units: int) -> Iterator[None]:
        self.total_units = total_units
        if self.quiet or not sys.stderr.isatty():
            yield
            return
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        with tqdm(total=total_units, unit="unit", file=sys.stderr, dynamic_ncols=True) as bar:
            self.bar = bar
            with logging_redirect_tqdm():
                yield
            self.bar = None

    def on_commit(self, result: CommitResult) -> None:
        self.count_rows(result)
        if result.completed:
            self.units_done += len(result.completed)
            if self.bar is not None:
                self.bar.update(len(result.completed))
        self._report()

    def count_rows(self, result: CommitResult) -> None:
        rows = self.outcome.rows
        rows["inserted"] += result.inserted
        rows["updated"] += result.updated
        rows["unchanged"] += result.unchanged
        rows["skipped_no_sub_id"] += result.skipped_no_sub_id
        rows["superseded"] += result.superseded

    def _report(self) -> None:
        fresh = self.outcome.rows["inserted"] + self.outcome.rows["updated"]
        if self.bar is not None:
            self.bar.set_postfix_str(
                f"rows={fresh:,} requests={self.stats.total:,} "
                f"quota~{self.budget.remaining_estimate():,}",
                refresh=False,
            )
            return
        now = time.monotonic()
        if not self.quiet and now - self._last_log >= self.LOG_EVERY_S:
            self._last_log = now
            logger.info(
                "progress: %d/%d units, %d rows new or updated, %d requests",
                self.units_done, self.total_units, fresh, self.stats.total,
            )
