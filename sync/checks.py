"""Count checks wired to the real world: the API through the client, the database through
the writer thread (the only thread with a connection), as fec.verify.CheckIO wants them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from db.schema import utc_now
from db.writer import ChecksDone, CountQuery, SQLiteWriter, UnitCheck, WindowPage
from fec.chains import Chain
from fec.client import FecClient
from fec.errors import Cancelled
from fec.schedule_a import MAX_COMMITTEES, Count, Page, Window, fetch_count, iter_pages
from fec.verify import GroupCheck, Unit, Verdict

logger = logging.getLogger(__name__)


@dataclass
class CheckTally:
    """What the checks of a run found, for the summary and --json."""

    verified: int = 0  # units whose live rows matched the API's exact count
    repaired: int = 0  # of those, units that matched only after windows were read again
    unverified: int = 0  # units that still differ after repair
    unchecked: int = 0  # units whose check could not finish (an error; a later run retries)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, verdicts: Iterable[Verdict]) -> None:
        with self._lock:
            for verdict in verdicts:
                count = len(verdict.units)
                if verdict.status == "verified":
                    self.verified += count
                    self.repaired += count if verdict.repaired else 0
                else:
                    self.unverified += count

    def add_unchecked(self, units: int) -> None:
        with self._lock:
            self.unchecked += units

    def as_json(self, requests: int) -> dict[str, int]:
        with self._lock:
            return {"verified": self.verified, "repaired": self.repaired,
                    "unverified": self.unverified, "unchecked": self.unchecked,
                    "requests": requests}


class WriterIO:
    """fec.verify.CheckIO over the client and the writer's queue (runs in worker threads)."""

    def __init__(self, client: FecClient, writer: SQLiteWriter, *, per_page: int,
                 tally: CheckTally) -> None:
        self.client, self.writer = client, writer
        self.per_page, self.tally = per_page, tally

    def count(self, committee_ids: Sequence[str], cycle: int,
              window: Window | None = None) -> Count:
        return fetch_count(self.client, committee_ids, cycle, window=window)

    def local_counts(self, units: Sequence[Unit]) -> dict[Unit, int]:
        found: dict[Unit, int] = self._ask(tuple(units), None)["live"]
        return found

    def local_dates(self, unit: Unit) -> dict[str | None, int]:
        found: dict[str | None, int] = self._ask((unit,), unit)["dates"]
        return found

    def rescan(self, unit: Unit, window: Window) -> int:
        started_at = utc_now()  # every row the rescan returns is committed after this
        span = None if window.null_dates else (window.first, window.last)
        served = 0
        for page in iter_pages(self.client, [unit[0]], unit[1], per_page=self.per_page,
                               window=window, kind="verify"):
            served += len(page.rows)
            self.writer.put(WindowPage(unit[0], unit[1], span, page.rows, page.done, started_at))
        return served

    def record(self, verdicts: Sequence[Verdict]) -> None:
        checks = [UnitCheck(committee_id, cycle, verdict.status, verdict.upstream,
                            verdict.local, len(verdict.units), verdict.live.get(
                                (committee_id, cycle), verdict.local))
                  for verdict in verdicts for committee_id, cycle in verdict.units]
        self.writer.put(ChecksDone(tuple(checks)))
        self.tally.add(verdicts)

    def _ask(self, units: tuple[Unit, ...], dates_of: Unit | None) -> dict[str, Any]:
        reply: Future[Any] = Future()
        self.writer.put(CountQuery(units, dates_of, reply))
        while True:  # the writer answers once everything queued before is committed
            try:
                answer: dict[str, Any] = reply.result(timeout=0.5)
                return answer
            except FutureTimeout:
                if not self.writer.is_alive() or self.client.stop.is_set():
                    raise Cancelled("stopped while waiting for the database") from None


def check_after(chain: Chain, page: Page, io: WriterIO, per_page: int) -> list[GroupCheck]:
    """The check of a chain's units once its pass is complete. The last page of a full pass
    counted the chain's whole filter, so its count is the upstream side, for free."""
    if chain.window is not None:
        return []
    upstream = None
    if chain.min_load_date is None and page.count is not None:
        upstream = Count(page.count, page.count_exact)
    return [GroupCheck(io, chain.units, per_page=per_page, upstream=upstream)]


def checks_for(units: Sequence[Unit], io: WriterIO, per_page: int) -> list[GroupCheck]:
    """Checks of up to 10 units of one cycle each, for units no pass runs for this time."""
    by_cycle: dict[int, list[Unit]] = {}
    for unit in sorted(units):
        by_cycle.setdefault(unit[1], []).append(unit)
    return [GroupCheck(io, group[i:i + MAX_COMMITTEES], per_page=per_page)
            for group in by_cycle.values() for i in range(0, len(group), MAX_COMMITTEES)]
