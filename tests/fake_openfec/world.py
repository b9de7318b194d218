"""A generated, deterministic FEC world: legislators, committees and Schedule A rows.

The world is the single source of truth for the fake server and for the tests
that judge a sync: `expected_rows()` is what a correct sync of the politicians'
principal and authorized committees must end up holding.
"""

from __future__ import annotations

import json
import random
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .people import (
    Committee,
    Legislator,
    Specials,
    build_people,
    plant_conversions,
    share_one_name,
)
from .pools import CORRECTED_EMPLOYERS
from .records import Row, cycle_bounds, generate_unit, make_row, materialize, unit_row_count

# Fixed so that a seed always yields the same world; early enough that rows added
# "now" by the mutation helpers always load later than every generated row.
DEFAULT_AS_OF = date(2026, 10, 31)
MutationTime = datetime | str | None


@dataclass(frozen=True)
class DumpSnapshot:
    """The rows a weekly database dump taken at `taken_at` holds (tests/fake_dump)."""
    rows: tuple[Row, ...]
    taken_at: datetime


class World:
    def __init__(self, *, seed: int, cycles: tuple[int, ...], as_of: date,
                 legislators: list[Legislator], committees: dict[str, Committee],
                 specials: Specials, rows: Iterable[Row]) -> None:
        self.seed = seed
        self.cycles = cycles
        self.as_of = as_of
        self.legislators = legislators
        self.committees = committees
        self.specials = specials
        self._lock = threading.Lock()
        self.version = 0  # bumped by every change, so cached query answers go stale
        self._orders: dict[Any, Any] = {}
        self._encoded: OrderedDict[int, tuple[Row, str]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._rng = random.Random(seed * 7919 + 17)
        self._used: set[str] = set()
        self._late: set[str] = set()
        self._by_committee: dict[str, dict[str, Row]] = {cid: {} for cid in committees}
        for row in rows:
            self._by_committee[row.committee_id][row.sub_id] = row
            self._used.add(row.sub_id)
        people_ids = {cand for leg in legislators for cand in leg.fec_ids}
        # The truth, cycle by cycle: a committee's rows of a cycle are campaign money when it
        # was a legislator's principal or authorized committee in that cycle.
        self._campaign_cycles: dict[str, tuple[int, ...]] = {
            cid: tuple(cycle for cycle in com.cycles if com.is_campaign_in(cycle))
            for cid, com in committees.items() if people_ids.intersection(com.candidate_ids)
        }
        self.campaign_committee_ids: tuple[str, ...] = tuple(
            cid for cid, cycles in self._campaign_cycles.items() if cycles)
        self._by_candidate: dict[str, list[Committee]] = {}
        for com in committees.values():
            for cand in com.candidate_ids:
                self._by_candidate.setdefault(cand, []).append(com)

    # ---- reading (server threads) -------------------------------------------------
    def snapshot(self, committee_ids: Sequence[str] | None = None) -> list[Row]:
        """The current rows of some committees (all when None), safe to use unlocked."""
        with self._lock:
            if committee_ids is None:
                return [row for rows in self._by_committee.values() for row in rows.values()]
            out: list[Row] = []
            for cid in dict.fromkeys(committee_ids):
                out.extend(self._by_committee.get(cid, {}).values())
            return out

    def dump_snapshot(self) -> DumpSnapshot:
        """Every row of every committee as of now, frozen, as the FEC's weekly dump holds
        them: rows loaded later exist only in the API, rows amended away later stay in the
        dump, and a later correction leaves the dump's old values (rows are immutable)."""
        taken_at = self._now(None)
        with self._lock:
            rows = tuple(row for rows in self._by_committee.values() for row in rows.values())
        return DumpSnapshot(rows, taken_at)

    def record(self, row: Row) -> dict[str, Any]:
        return materialize(row, self.committees[row.committee_id])

    # The fake must cost far less per request than the latency it simulates, or a benchmark
    # measures the fake: keep filtered+sorted row lists and encoded records around.
    def cached(self, key: Any, compute: Any) -> Any:
        """compute() for this query key, reused until the world changes."""
        full_key = (self.version, key)
        with self._cache_lock:
            if full_key in self._orders:
                return self._orders[full_key]
        value = compute()
        with self._cache_lock:
            if len(self._orders) > 4096:
                self._orders.clear()
            self._orders[full_key] = value
        return value

    def record_json(self, row: Row) -> str:
        """The record as the API serializes it (compact, slashes escaped), memoized."""
        with self._cache_lock:
            hit = self._encoded.get(id(row))
            if hit is not None and hit[0] is row:
                self._encoded.move_to_end(id(row))
                return hit[1]
        text = json.dumps(self.record(row), separators=(",", ":")).replace("/", "\\/")
        with self._cache_lock:
            self._encoded[id(row)] = (row, text)
            if len(self._encoded) > 200_000:
                self._encoded.popitem(last=False)
        return text

    def committees_of_candidate(self, candidate_id: str) -> list[Committee]:
        return list(self._by_candidate.get(candidate_id, []))

    def election_year(self, candidate_id: str, cycle: int) -> int:
        """The candidate's election that a two-year `cycle` counts toward: the cycle itself
        for a House id, every six years (from its committee's first cycle) for a Senate id."""
        if candidate_id[:1] != "S":
            return cycle
        firsts = [com.cycles[0] for com in self._by_candidate.get(candidate_id, [])
                  if com.designation == "P"]
        anchor = min(firsts, default=cycle)
        return anchor + 6 * -((anchor - cycle) // 6)

    def candidate_name(self, candidate_id: str) -> str | None:
        for leg in self.legislators:
            if candidate_id in leg.fec_ids:
                return f"{leg.last.upper()}, {leg.first.upper()}"
        return None

    def legislators_json(self) -> list[dict[str, Any]]:
        return [leg.to_json() for leg in self.legislators]

    @property
    def row_count(self) -> int:
        with self._lock:
            return sum(len(rows) for rows in self._by_committee.values())

    @property
    def max_load_date(self) -> str:
        return max((row.load_date for row in self.snapshot()), default="")

    # ---- the truth for a sync ------------------------------------------------------
    def campaign_units(self, cycles: Iterable[int] | None = None) -> set[tuple[str, int]]:
        """(committee_id, cycle) of every committee linked to a legislator's FEC ids that was
        principal or authorized (P/A) in that cycle, if only until a conversion to a PAC."""
        wanted = set(self.cycles if cycles is None else cycles)
        return {(cid, cycle) for cid, found in self._campaign_cycles.items()
                for cycle in found if cycle in wanted}

    def _expected(self, committee_ids: Iterable[str] | None,
                  cycles: Iterable[int] | None) -> list[Row]:
        wanted = set(self.cycles if cycles is None else cycles)
        if committee_ids is not None:
            return [row for row in self.snapshot(tuple(committee_ids)) if row.cycle in wanted]
        units = self.campaign_units(wanted)
        return [row for row in self.snapshot(self.campaign_committee_ids)
                if (row.committee_id, row.cycle) in units]

    def expected_rows(self, committee_ids: Iterable[str] | None = None,
                      cycles: Iterable[int] | None = None) -> dict[str, dict[str, Any]]:
        """sub_id -> full API record for the synced set (campaign committees by default)."""
        return {row.sub_id: self.record(row) for row in self._expected(committee_ids, cycles)}

    def expected_sub_ids(self, committee_ids: Iterable[str] | None = None,
                         cycles: Iterable[int] | None = None) -> set[str]:
        return {row.sub_id for row in self._expected(committee_ids, cycles)}

    def expected_count(self, committee_ids: Iterable[str] | None = None,
                       cycles: Iterable[int] | None = None) -> int:
        return len(self._expected(committee_ids, cycles))

    # ---- mutations (a test or the control endpoint changes the world mid-run) ------
    def _now(self, now: MutationTime) -> datetime:
        if isinstance(now, str):
            return datetime.fromisoformat(now).replace(tzinfo=None)
        if now is not None:
            return now.replace(tzinfo=None)
        wall = datetime.now(UTC).replace(tzinfo=None)
        latest = datetime.fromisoformat(self.max_load_date) if self.max_load_date else wall
        return max(wall, latest + timedelta(seconds=1))

    def _pick_rows(self, n: int) -> list[Row]:
        # Never a late filing: a test that adds some and corrects others counts them apart.
        pool = sorted((row for row in self._expected(None, None) if row.sub_id not in self._late),
                      key=lambda row: row.sid)
        return self._rng.sample(pool, min(n, len(pool)))

    def add_late_filings(self, n: int, now: MutationTime = None) -> list[str]:
        """New rows in campaign units with OLD receipt dates, loaded `now`."""
        loaded = self._now(now)
        units = sorted(self.campaign_units())
        added: list[str] = []
        with self._lock:
            for _ in range(n if units else 0):
                cid, cycle = self._rng.choice(units)
                bounds = cycle_bounds(cycle, self.as_of)
                old = min(bounds[1], loaded.date() - timedelta(days=60))
                row = make_row(self._rng, cid, cycle, bounds, self._used, loaded=loaded,
                               latest_receipt=old)
                self._by_committee[cid][row.sub_id] = row
                self._late.add(row.sub_id)
                self.version += 1
                added.append(row.sub_id)
        return added

    def correct_rows(self, n: int, now: MutationTime = None) -> list[str]:
        """FEC "change transactions": same sub_id, new amount and employer, new load_date."""
        loaded = self._now(now).isoformat()
        changed: list[str] = []
        for row in self._pick_rows(n):
            amount = round(row.amount + self._rng.choice((-5.0, 10.0, 25.0, 100.0)), 2) or 1.0
            employer = self._rng.choice(CORRECTED_EMPLOYERS)
            new = replace(row, amount=amount, employer=employer, load_date=loaded, amendment="C")
            with self._lock:
                if row.sub_id in self._by_committee[row.committee_id]:
                    self._by_committee[row.committee_id][row.sub_id] = new
                    changed.append(row.sub_id)
                    self.version += 1
        return changed

    def amend_away(self, n: int) -> list[str]:
        """Rows replaced by an amendment disappear from the processed data."""
        removed: list[str] = []
        for row in self._pick_rows(n):
            with self._lock:
                if self._by_committee[row.committee_id].pop(row.sub_id, None) is not None:
                    removed.append(row.sub_id)
                    self.version += 1
        return removed

    def add_new_filings(self, n: int, now: MutationTime = None) -> list[str]:
        """New rows in campaign units with RECENT receipt dates (the 30 days before the
        world's as_of date), loaded `now`: what a nightly load mostly brings."""
        loaded = self._now(now)
        units = sorted(self.campaign_units())
        added: list[str] = []
        with self._lock:
            for _ in range(n if units else 0):
                cid, cycle = self._rng.choice(units)
                start, end = cycle_bounds(cycle, self.as_of)
                recent = (max(start, end - timedelta(days=30)), end)
                row = make_row(self._rng, cid, cycle, recent, self._used, loaded=loaded)
                self._by_committee[cid][row.sub_id] = row
                self._late.add(row.sub_id)
                self.version += 1
                added.append(row.sub_id)
        return added

    def amend_reports(self, n: int, now: MutationTime = None) -> tuple[list[str], list[str]]:
        """Whole reports amended: in each of `n` campaign units, the rows of one quarter
        disappear and replacements arrive (new sub_ids, amendment indicator "A", receipt
        dates in the same quarter, loaded `now`), one more or one fewer now and then.
        Returns (sub_ids removed, sub_ids added)."""
        loaded = self._now(now)
        removed: list[str] = []
        added: list[str] = []
        units = sorted(self.campaign_units())
        for cid, cycle in self._rng.sample(units, min(n, len(units))):
            with self._lock:
                rows = self._by_committee[cid]
                dated = sorted((r for r in rows.values() if r.cycle == cycle and r.date
                                and r.sub_id not in self._late), key=lambda r: r.sid)
                if not dated:
                    continue
                quarter = _quarter(self._rng.choice(dated).date or "")
                report = [r for r in dated if _quarter(r.date or "") == quarter]
                for row in report:
                    del rows[row.sub_id]
                    removed.append(row.sub_id)
                bounds = _quarter_bounds(quarter, self.as_of)
                for _ in range(max(len(report) + self._rng.choice((-1, 0, 0, 0, 1)), 0)):
                    row = make_row(self._rng, cid, cycle, bounds, self._used, loaded=loaded)
                    rows[row.sub_id] = row
                    self._late.add(row.sub_id)
                    added.append(row.sub_id)
                self.version += 1
        return removed, added

    def nightly_load(self, *, new: int = 0, late: int = 0, corrected: int = 0,
                     amended_reports: int = 0, deleted: int = 0,
                     now: MutationTime = None) -> dict[str, list[str]]:
        """One night of FEC processing: what each kind of change touched, by sub_id."""
        out = {"corrected": self.correct_rows(corrected, now),
               "deleted": self.amend_away(deleted)}
        out["amended_away"], out["amended_in"] = self.amend_reports(amended_reports, now)
        out["new"] = self.add_new_filings(new, now)
        out["late"] = self.add_late_filings(late, now)
        return out


def _quarter(day: str) -> str:
    """'2024Q3' for a date in July-September 2024."""
    return f"{day[:4]}Q{(int(day[5:7]) - 1) // 3 + 1}"


def _quarter_bounds(quarter: str, as_of: date) -> tuple[date, date]:
    year, number = int(quarter[:4]), int(quarter[5:])
    start = date(year, 3 * number - 2, 1)
    end = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return start, max(start, min(end - timedelta(days=1), as_of))


def generate_world(seed: int, politicians: int = 20, cycles: Sequence[int] = (2024, 2026),
                   rows_scale: float = 1.0, *, as_of: date = DEFAULT_AS_OF,
                   null_heavy_rows: int = 150, max_unit_rows: int = 6000,
                   same_name: int = 0) -> World:
    """Build a world; the same arguments always give the same world.

    `null_heavy_rows` NULL-date rows (default 150, more than one 100-row page) go to
    the first politician's principal committee in every cycle it is active. `same_name`
    campaign committees share one name. Committees converted to PACs (and their rows after
    the conversion) come from a second Random, so they leave every other row as it was.
    """
    rng = random.Random(seed)
    later = random.Random(seed * 104_729 + 11)
    wanted = tuple(sorted(set(cycles)))
    people = build_people(rng, politicians, wanted)
    plant_conversions(people, later)
    if same_name:
        share_one_name(people, same_name, later)
    used: set[str] = set()
    rows: list[Row] = []
    converted: list[tuple[Committee, int]] = []
    for com in people.committees.values():
        for cycle in com.cycles:
            if cycle not in wanted:
                continue
            if com.conversion is not None and cycle >= com.conversion.cycle:
                converted.append((com, cycle))
                continue
            rows += _unit_rows(rng, com, cycle, people.specials, rows_scale, max_unit_rows,
                               null_heavy_rows, as_of, used)
    for com, cycle in converted:
        rows += _unit_rows(later, com, cycle, people.specials, rows_scale, max_unit_rows,
                           null_heavy_rows, as_of, used)
    return World(seed=seed, cycles=wanted, as_of=as_of, legislators=people.legislators,
                 committees=people.committees, specials=people.specials, rows=rows)


def _unit_rows(rng: random.Random, com: Committee, cycle: int, specials: Specials,
               rows_scale: float, max_unit_rows: int, null_heavy_rows: int, as_of: date,
               used: set[str]) -> list[Row]:
    count = unit_row_count(rng, rows_scale, max_unit_rows, com.designation_in(cycle))
    if com.committee_id == specials.null_heavy_committee:
        nulls = null_heavy_rows
    else:
        nulls = sum(1 for _ in range(count) if rng.random() < 0.01)
    return generate_unit(rng, com, cycle, cycle_bounds(cycle, as_of), count, nulls, used)
