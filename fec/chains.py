"""Keyset chains: up to 10 units of one cycle paged together, grouped by size, split as they grow.

A unit is one (committee, cycle). OpenFEC's Schedule A takes up to 10 ``committee_id`` values
per request and pages their union exactly as it pages one committee: the cursor is a position
in one total order (receipt date ascending, NULLs last, then sub_id) shared by every
committee. So one chain can page ten small units for the price of one, and a chain that turns
out to be big can be split at its cursor into smaller chains that resume from that same
cursor, without a gap or an overlap: every row up to the cursor was already read for every
member.

Requests are what a user pays, and a union never needs more requests than its members paged
apart (ceil(a + b) <= ceil(a) + ceil(b) pages). Chains are split only to keep the longest
chain from ending the run while workers idle, which costs at most one request per split.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fec.schedule_a import MAX_COMMITTEES, Page, Window


@dataclass(frozen=True)
class UnitSpec:
    """A unit about to start a pass."""

    committee_id: str
    cycle: int
    min_load_date: str | None  # None: a full pass
    size: int | None  # rows the pass is expected to read, when an earlier pass tells


@dataclass
class Chain:
    """One keyset scan over the union of its members' rows, resumable from `cursor`.

    Only one thread touches a chain at a time: the worker fetching its next page, or the
    scheduler between pages."""

    chain_id: int
    cycle: int
    committee_ids: tuple[str, ...]
    min_load_date: str | None = None
    cursor: dict[str, Any] | None = None
    window: Window | None = None  # a repair rescan of one date window, not a pass
    starts_pass: bool = True  # the next page is the first of its members' new pass
    resumed: bool = False  # the cursor comes from an earlier run and no page confirmed it yet
    restarted: bool = False  # started over once because the API refused its stored cursor
    sizes: dict[str, int | None] = field(default_factory=dict)  # priors: rows of the pass
    member_rows: dict[str, int] = field(default_factory=dict)  # rows read in this pass
    count: int | None = None  # the server's count of the chain's whole filter
    count_exact: bool = False
    estimate: int | None = None  # a part's share of the count its parent had, until its own
    attempts: int = 0  # transient failures retried
    fetched: int = 0  # pages fetched in this run
    pages: Iterator[Page] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.committee_ids) <= MAX_COMMITTEES:
            raise ValueError(f"a chain has 1 to {MAX_COMMITTEES} committees, "
                             f"not {len(self.committee_ids)}")
        for committee_id in self.committee_ids:
            self.sizes.setdefault(committee_id, None)
            self.member_rows.setdefault(committee_id, 0)

    @property
    def units(self) -> list[tuple[str, int]]:
        return [(committee_id, self.cycle) for committee_id in self.committee_ids]

    @property
    def label(self) -> str:
        ids = self.committee_ids
        who = ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"
        return f"{who} {self.cycle}"

    @property
    def rows_read(self) -> int:
        return sum(self.member_rows.values())

    def expected_rows(self) -> int | None:
        """Rows of the chain's whole filter: the server's count once known, else the priors."""
        if self.count is not None:
            return self.count
        if any(size is None for size in self.sizes.values()):
            return self.estimate
        return sum(size or 0 for size in self.sizes.values())

    def pages_left(self, per_page: int) -> int | None:
        expected = self.expected_rows()
        if expected is None:
            return None
        return max(math.ceil((expected - self.rows_read) / per_page), 1)

    def take(self, page: Page) -> None:
        """Advance past a page that has been handed to the writer."""
        for row in page.rows:
            committee_id = row.get("committee_id")
            if isinstance(committee_id, str) and committee_id.upper() in self.member_rows:
                self.member_rows[committee_id.upper()] += 1
        if page.count is not None:
            self.count, self.count_exact = page.count, page.count_exact
        self.cursor = page.cursor
        self.starts_pass = self.resumed = False
        self.fetched += 1

    def restart(self) -> None:
        """Start the pass over from its first page (a stored cursor the API now refuses)."""
        self.cursor, self.starts_pass, self.resumed, self.restarted = None, True, False, True
        self.member_rows = dict.fromkeys(self.committee_ids, 0)
        self.count, self.count_exact, self.pages = None, False, None


def split_chain(chain: Chain, ids: Iterator[int], parts: int = 2) -> list[Chain]:
    """Split a chain at its cursor into `parts` chains of about equal remaining work."""
    if len(chain.committee_ids) < 2:
        raise ValueError("a chain of one committee cannot be split")
    bins: list[list[str]] = [[] for _ in range(min(parts, len(chain.committee_ids)))]
    loads = [0.0] * len(bins)
    for committee_id in sorted(chain.committee_ids, key=lambda c: -_weight(chain, c)):
        # Ties go to the bin with fewer members: members that weigh nothing (their priors all
        # read) would otherwise all land in the first bin and leave another one empty.
        lightest = min(range(len(bins)), key=lambda i: (loads[i], len(bins[i])))
        bins[lightest].append(committee_id)
        loads[lightest] += _weight(chain, committee_id)
    expected = chain.expected_rows()
    left = None if expected is None else max(expected - chain.rows_read, 0)
    return [
        Chain(next(ids), chain.cycle, tuple(sorted(members)), chain.min_load_date,
              chain.cursor, chain.window, chain.starts_pass, chain.resumed, chain.restarted,
              sizes={c: chain.sizes[c] for c in members},
              member_rows={c: chain.member_rows[c] for c in members},
              estimate=None if left is None else sum(chain.member_rows[c] for c in members)
              + round(left * load / max(sum(loads), 1e-9)),
              attempts=chain.attempts)
        for members, load in zip(bins, loads, strict=True)
    ]


def _weight(chain: Chain, committee_id: str) -> float:
    """Rows a member probably has left. Without a prior, the rows read so far hint at its
    size: the chain reads every member's rows in one date order."""
    size, read = chain.sizes[committee_id], chain.member_rows[committee_id]
    return float(max(size - read, 0)) if size is not None else read + 0.5


def group_units(units: Sequence[UnitSpec], *, per_page: int, concurrency: int,
                ids: Iterator[int]) -> list[Chain]:
    """Chains for units starting a pass: small units share chains, big units get their own.

    Units of a chain share a cycle and a kind of pass (full, or incremental from the
    earliest of their min_load_dates: neighbours in load-date order go together). Known sizes
    are packed largest first into chains of at most 10 units and about a worker's fair share
    of rows; units of unknown size go ten to a chain and are split if they turn out big."""
    cap = _chain_row_cap(units, per_page, concurrency)
    chains: list[Chain] = []
    for (cycle, full), bucket in _buckets(units).items():
        if full:
            known = [u for u in bucket if u.size is not None]
            unknown = [u for u in bucket if u.size is None]
            groups = _pack(known, cap) + _chunks(unknown)
        else:
            bucket.sort(key=lambda u: (u.min_load_date or "", u.committee_id))
            groups = _consecutive(bucket, cap)
        chains += [_chain_of(group, cycle, next(ids)) for group in groups]
    return chains


def _chain_row_cap(units: Sequence[UnitSpec], per_page: int, concurrency: int) -> int:
    known = sorted(u.size for u in units if u.size is not None)
    typical = known[len(known) // 2] if known else per_page // 2
    total = sum(known) + typical * (len(units) - len(known))
    return max(per_page, math.ceil(total / max(concurrency, 1)))


def _buckets(units: Iterable[UnitSpec]) -> dict[tuple[int, bool], list[UnitSpec]]:
    buckets: dict[tuple[int, bool], list[UnitSpec]] = {}
    for unit in units:
        buckets.setdefault((unit.cycle, unit.min_load_date is None), []).append(unit)
    return dict(sorted(buckets.items()))


def _pack(units: list[UnitSpec], cap: int) -> list[list[UnitSpec]]:
    """First fit, largest first, into bins of at most 10 units and `cap` rows."""
    bins: list[list[UnitSpec]] = []
    loads: list[int] = []
    for unit in sorted(units, key=lambda u: (-(u.size or 0), u.committee_id)):
        size = unit.size or 0
        for index, load in enumerate(loads):
            if len(bins[index]) < MAX_COMMITTEES and load + size <= cap:
                bins[index].append(unit)
                loads[index] += size
                break
        else:
            bins.append([unit])
            loads.append(size)
    return bins


def _chunks(units: list[UnitSpec]) -> list[list[UnitSpec]]:
    ordered = sorted(units, key=lambda u: u.committee_id)
    return [ordered[i:i + MAX_COMMITTEES] for i in range(0, len(ordered), MAX_COMMITTEES)]


def _consecutive(units: list[UnitSpec], cap: int) -> list[list[UnitSpec]]:
    """Runs of neighbours (in the given order) of at most 10 units and about `cap` rows."""
    groups: list[list[UnitSpec]] = []
    load = 0
    for unit in units:
        size = unit.size or 0
        if not groups or len(groups[-1]) >= MAX_COMMITTEES or (groups[-1] and load + size > cap):
            groups.append([])
            load = 0
        groups[-1].append(unit)
        load += size
    return groups


def _chain_of(group: list[UnitSpec], cycle: int, chain_id: int) -> Chain:
    loads = [u.min_load_date for u in group]
    earliest = None if any(d is None for d in loads) else min(d for d in loads if d is not None)
    return Chain(chain_id, cycle, tuple(sorted(u.committee_id for u in group)), earliest,
                 sizes={u.committee_id: u.size for u in group})
