"""Prove units complete against the API's exact counts, and repair them by bisection.

Below 500,000 rows OpenFEC's `pagination.count` is exact for any filter: several committees
at once, and receipt-date windows. So one request (a page of one row) tells how many rows
a group of up to 10 units holds upstream. When that equals the live rows we hold, the group
is verified. When it does not, the difference is narrowed down by committee (halves of the
group), then by receipt-date window inside the unit (NULL-date rows are the unit's total
less its dated rows), down to windows small enough to read again whole; only those are
rescanned, and rows a rescan no longer returns are marked superseded (never deleted). The
cost grows with the number of differences, not with the size of the unit.

This module holds only the reasoning; the requests, the database and the writer are behind
`CheckIO`, so the same logic is tested without either.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from fec.schedule_a import ALL_DATED, NULL_DATES, Count, Window

logger = logging.getLogger(__name__)

Unit = tuple[str, int]  # (committee_id, cycle)
Status = Literal["verified", "differs"]
Half = TypeVar("Half")  # what is halved: a group of units, or a date window


@dataclass(frozen=True)
class Verdict:
    """The outcome for the units compared together (one unit, or a group of them)."""

    units: tuple[Unit, ...]
    status: Status
    upstream: int  # the API's count for these units together
    local: int  # our live rows for them together
    repaired: bool = False  # a difference was found and windows were read again
    live: Mapping[Unit, int] = field(default_factory=dict)  # each unit's own live rows


class CheckIO(Protocol):
    """What a check needs from the outside world."""

    def count(self, committee_ids: Sequence[str], cycle: int,
              window: Window | None = None) -> Count: ...

    def local_counts(self, units: Sequence[Unit]) -> dict[Unit, int]: ...

    def local_dates(self, unit: Unit) -> dict[str | None, int]: ...

    def rescan(self, unit: Unit, window: Window) -> int: ...

    def record(self, verdicts: Sequence[Verdict]) -> None: ...


class GroupCheck:
    """Verify (and repair) units of one cycle; a job the scheduler runs in one worker.

    `upstream` is the API's count for the whole group when the caller already has it
    (the last page of a full pass carries it); otherwise one request asks for it."""

    def __init__(self, io: CheckIO, units: Sequence[Unit], *, per_page: int,
                 upstream: Count | None = None) -> None:
        if not units or len({cycle for _, cycle in units}) != 1:
            raise ValueError("a check covers units of one cycle")
        self.io, self.units, self.per_page = io, tuple(sorted(units)), per_page
        self.cycle = self.units[0][1]
        self.upstream = upstream
        self.verdicts: list[Verdict] = []

    @property
    def label(self) -> str:
        first = self.units[0][0]
        more = f" and {len(self.units) - 1} more" if len(self.units) > 1 else ""
        return f"count check of {first}{more} {self.cycle}"

    def run(self) -> None:
        local = self.io.local_counts(self.units)
        upstream = self.upstream if self.upstream is not None else self._count(self.units)
        self._check(self.units, upstream, local)
        self.io.record(self.verdicts)

    def _count(self, units: Sequence[Unit], window: Window | None = None) -> Count:
        return self.io.count([committee for committee, _ in units], self.cycle, window)

    def _check(self, units: tuple[Unit, ...], upstream: Count, local: dict[Unit, int]) -> None:
        ours = sum(local[unit] for unit in units)
        if upstream.exact and upstream.count == ours:
            self.verdicts.append(Verdict(units, "verified", ours, ours,
                                         live={u: local[u] for u in units}))
            return
        if len(units) == 1:
            self.verdicts.append(UnitRepair(self, units[0], upstream).run())
            return
        left, right = units[: len(units) // 2], units[len(units) // 2:]
        first, second = count_halves(upstream, self._count, left, right)
        self._check(left, first, local)
        self._check(right, second, local)


class UnitRepair:
    """Narrow one unit's difference down to small receipt-date windows and rescan them."""

    def __init__(self, check: GroupCheck, unit: Unit, upstream: Count) -> None:
        self.check, self.io, self.unit, self.upstream = check, check.io, unit, upstream
        self.small = 2 * check.per_page  # rescanning this many rows beats narrowing further
        self.dates: dict[str | None, int] = {}
        self.upstream_total = 0  # exact upstream rows, window by window
        self.rescanned = 0

    def run(self) -> Verdict:
        self.dates = self.io.local_dates(self.unit)
        dated = self.check._count([self.unit], ALL_DATED)
        nulls = self.upstream.count - dated.count if self.upstream.exact and dated.exact else None
        if nulls is not None and nulls == self.dates.get(None, 0):
            self.upstream_total += nulls
        else:
            self._rescan(NULL_DATES)
        self._narrow(ALL_DATED, dated)
        live = self.io.local_counts([self.unit])[self.unit]
        upstream = self.upstream.count if self.upstream.exact else self.upstream_total
        status: Status = "verified" if live == upstream else "differs"
        if status == "differs":
            logger.warning("%s %s still differs after repair: %d rows upstream, %d here",
                           *self.unit, upstream, live)
        return Verdict((self.unit,), status, upstream, live, repaired=self.rescanned > 0,
                       live={self.unit: live})

    def _local(self, window: Window) -> int:
        if window.null_dates:
            return self.dates.get(None, 0)
        return sum(n for day, n in self.dates.items()
                   if day is not None and window.first <= day <= window.last)

    def _narrow(self, window: Window, upstream: Count) -> None:
        ours = self._local(window)
        if upstream.exact and upstream.count == ours:
            self.upstream_total += ours
            return
        if window.first == window.last or (upstream.exact and
                                           max(upstream.count, ours) <= self.small):
            self._rescan(window)
            return
        left, right = split_window(window, self.dates, self.unit[1])
        first, second = count_halves(
            upstream, lambda half: self.check._count([self.unit], half), left, right)
        if self._spread(upstream, ours, (left, first), (right, second)):
            self._rescan(window)
            return
        self._narrow(left, first)
        self._narrow(right, second)

    def _spread(self, upstream: Count, ours: int, *halves: tuple[Window, Count]) -> bool:
        """Whether the difference is all over the window, so that reading it whole costs less
        than narrowing on: both halves differ about as densely, the window is narrow (a
        few small rescans' worth), and its pages are fewer than about log2(pages) probes,
        plus a small rescan, for each difference (at least |upstream - ours|). A difference
        mostly in one half is narrowed on: a probe has just shown where reading is needed.
        Narrowing a difference spread evenly costs about a probe per 7 pages more than
        reading the whole unit."""
        if not upstream.exact or not all(count.exact for _, count in halves):
            return False
        density = []
        for half, count in halves:
            mine = self._local(half)
            density.append(abs(count.count - mine) / max(count.count, mine, 1))
        if min(density) == 0 or min(density) * 2 < max(density):
            return False
        pages = -(-max(upstream.count, ours) // self.check.per_page) + 1
        if pages > 10 * self.small // self.check.per_page:
            return False  # a cluster cut in two can look even: a wide window goes one level on
        return pages <= abs(upstream.count - ours) * (pages.bit_length() + 2)

    def _rescan(self, window: Window) -> None:
        logger.info("%s %s: reading %s again", *self.unit, window)
        self.upstream_total += self.io.rescan(self.unit, window)
        self.rescanned += 1


def count_halves(whole: Count, count: Callable[[Half], Count], left: Half,
                 right: Half) -> tuple[Count, Count]:
    """The counts of two halves: the second is the whole less the first when both are
    exact, which saves its request."""
    first = count(left)
    if whole.exact and first.exact:
        return first, Count(whole.count - first.count, True)
    return first, count(right)


def split_window(window: Window, dates: Mapping[str | None, int],
                 cycle: int) -> tuple[Window, Window]:
    """Two halves of a dated window: at the median of our rows' dates in it when they tell
    one, else at the middle of the window's overlap with the cycle (or of the window)."""
    days = sorted((day, n) for day, n in dates.items()
                  if day is not None and window.first <= day < window.last)
    total = sum(n for _, n in days)
    cut: str | None = None
    seen = 0
    for day, n in days:
        seen += n
        if seen * 2 >= total:
            cut = day
            break
    if cut is None:
        lo = max(dt.date.fromisoformat(window.first), dt.date(cycle - 1, 1, 1))
        hi = min(dt.date.fromisoformat(window.last), dt.date(cycle, 12, 31))
        if lo >= hi:
            lo, hi = dt.date.fromisoformat(window.first), dt.date.fromisoformat(window.last)
        cut = (lo + (hi - lo) // 2).isoformat()
    after = (dt.date.fromisoformat(cut) + dt.timedelta(days=1)).isoformat()
    return Window(window.first, cut), Window(after, window.last)
