"""Count checks: groups verified by one count, differences narrowed by committee and by
receipt-date window, only small windows read again, estimates narrowed until exact."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Sequence

import pytest

from fec.schedule_a import Count, Window
from fec.verify import GroupCheck, Unit, Verdict, split_window

PER_PAGE = 100
CYCLE = 2024


class World:
    """Rows upstream and rows here, by unit: (sub_id, receipt day or None)."""

    def __init__(self, exact_limit: int = 500_000) -> None:
        self.upstream: dict[Unit, dict[str, str | None]] = {}
        self.local: dict[Unit, dict[str, str | None]] = {}
        self.exact_limit = exact_limit
        self.probes: list[tuple[tuple[str, ...], Window | None]] = []
        self.rescans: list[tuple[Unit, Window]] = []
        self.rescan_requests = 0
        self.recorded: list[Verdict] = []

    def add(self, committee: str, rows: int, seed: int = 1, nulls: int = 0) -> Unit:
        rng = random.Random(seed)
        unit = (committee, CYCLE)
        start = dt.date(CYCLE - 1, 1, 1)
        days = {f"{committee}-{n}": (start + dt.timedelta(days=rng.randrange(730))).isoformat()
                for n in range(rows)}
        days.update({f"{committee}-n{n}": None for n in range(nulls)})
        self.upstream[unit] = dict(days)
        self.local[unit] = dict(days)
        return unit

    # --- CheckIO ---------------------------------------------------------------------------
    def count(self, committee_ids: Sequence[str], cycle: int,
              window: Window | None = None) -> Count:
        self.probes.append((tuple(committee_ids), window))
        n = sum(1 for c in committee_ids for day in self.upstream[(c, cycle)].values()
                if inside(day, window))
        if n > self.exact_limit:
            return Count(int(n * 1.1), False)
        return Count(n, True)

    def local_counts(self, units: Sequence[Unit]) -> dict[Unit, int]:
        return {unit: len(self.local[unit]) for unit in units}

    def local_dates(self, unit: Unit) -> dict[str | None, int]:
        found: dict[str | None, int] = {}
        for day in self.local[unit].values():
            found[day] = found.get(day, 0) + 1
        return found

    def rescan(self, unit: Unit, window: Window) -> int:
        self.rescans.append((unit, window))
        rows = {s: d for s, d in self.upstream[unit].items() if inside(d, window)}
        self.rescan_requests += len(rows) // PER_PAGE + 1
        for sub_id, day in list(self.local[unit].items()):
            if inside(day, window) and sub_id not in rows:
                del self.local[unit][sub_id]  # superseded: no longer live
        self.local[unit].update(rows)
        return len(rows)

    def record(self, verdicts: Sequence[Verdict]) -> None:
        self.recorded += verdicts

    def requests(self) -> int:
        return len(self.probes) + self.rescan_requests


def inside(day: str | None, window: Window | None) -> bool:
    if window is None:
        return True
    if window.null_dates:
        return day is None
    return day is not None and window.first <= day <= window.last


def check(world: World, units: list[Unit], upstream: Count | None = None) -> list[Verdict]:
    GroupCheck(world, units, per_page=PER_PAGE, upstream=upstream).run()
    return world.recorded


def test_a_matching_group_is_verified_by_the_count_a_pass_already_has() -> None:
    world = World()
    units = [world.add(f"C{n}", 40 + n, seed=n) for n in range(10)]
    total = sum(len(rows) for rows in world.upstream.values())
    verdicts = check(world, units, Count(total, True))
    assert world.probes == []
    assert [(v.units, v.status, v.upstream, v.local) for v in verdicts] == [
        (tuple(units), "verified", total, total)]


def test_without_a_count_one_probe_checks_the_group() -> None:
    world = World()
    units = [world.add(f"C{n}", 7, seed=n) for n in range(10)]
    verdicts = check(world, units)
    assert world.probes == [(tuple(c for c, _ in units), None)]
    assert verdicts[0].status == "verified"


def test_a_row_amended_away_is_found_by_committee_then_window_and_only_it_is_reread() -> None:
    world = World()
    units = [world.add(f"C{n}", 150 + 400 * n, seed=n) for n in range(10)]
    victim = units[6]
    gone = sorted(world.upstream[victim])[17]
    del world.upstream[victim][gone]
    verdicts = check(world, units)
    assert world.local == world.upstream  # exactly the API's rows again
    assert {v.units: v.status for v in verdicts}[(victim,)] == "verified"
    assert [v.repaired for v in verdicts if v.units == (victim,)] == [True]
    assert all(not v.repaired for v in verdicts if v.units != (victim,))
    assert {unit for unit, _ in world.rescans} == {victim}
    reread = sum(1 for d in world.upstream[victim].values()
                 if any(inside(d, w) for _, w in world.rescans))
    assert reread <= 4 * PER_PAGE  # a small window, not the unit's 2,550 rows
    assert world.requests() <= 4 * math.ceil(math.log2(10)) + 8


def test_repair_costs_grow_with_the_differences_not_the_unit() -> None:
    def cost(rows: int, differences: int) -> int:
        world = World()
        unit = world.add("C1", rows, seed=3)
        for sub_id in sorted(world.upstream[unit])[:: rows // differences][:differences]:
            del world.upstream[unit][sub_id]
        assert check(world, [unit])[0].status == "verified"
        assert world.local == world.upstream
        return world.requests()

    small, big = cost(2_000, 3), cost(64_000, 3)
    assert big < 2 * small  # 32x the rows, well under twice the requests
    pages = math.ceil(64_000 / PER_PAGE)
    assert big <= 3 * 3 * (math.log2(pages) + 3)  # a small multiple of diffs x log2(pages)


def test_rows_gone_upstream_are_repaired_in_every_unit_of_the_group() -> None:
    world = World()
    unit = world.add("C1", 900, seed=5, nulls=30)
    empty = world.add("C3", 0)  # a unit empty upstream
    world.local[empty]["stale"] = "2024-02-02"
    del world.upstream[unit]["C1-n3"]  # a NULL-date row gone
    verdicts = check(world, [unit, empty])
    assert world.local == world.upstream
    assert {v.units: (v.status, v.upstream, v.local) for v in verdicts} == {
        (unit,): ("verified", 929, 929), (empty,): ("verified", 0, 0)}
    assert (unit, Window(null_dates=True)) in world.rescans
    assert (unit, Window()) not in world.rescans  # never the big unit whole
    assert world.rescan_requests <= 3


def test_a_row_never_seen_here_is_found_and_read() -> None:
    world = World()
    missed = world.add("C2", 1500, seed=6)
    world.upstream[missed]["late"] = "2023-05-05"  # loaded where no incremental pass looked
    assert [(v.status, v.local) for v in check(world, [missed])] == [("verified", 1501)]
    assert world.local == world.upstream


def test_estimated_counts_are_narrowed_by_window_until_exact() -> None:
    world = World(exact_limit=300)
    unit = world.add("C1", 2_000, seed=9, nulls=12)
    gone = sorted(world.upstream[unit])[1234]
    del world.upstream[unit][gone]
    verdicts = check(world, [unit])
    assert world.local == world.upstream
    assert [(v.status, v.upstream, v.local) for v in verdicts] == [
        ("verified", 2_000 + 12 - 1, 2_000 + 12 - 1)]


def test_a_difference_that_survives_repair_is_reported_not_accepted() -> None:
    class Unstable(World):
        def rescan(self, unit: Unit, window: Window) -> int:
            served = super().rescan(unit, window)
            self.local[unit]["ghost"] = "2024-01-01"  # the API changed under our feet
            return served

    world = Unstable()
    unit = world.add("C1", 500, seed=2)
    del world.upstream[unit]["C1-7"]
    verdicts = check(world, [unit])
    assert [(v.status, v.repaired) for v in verdicts] == [("differs", True)]


@pytest.mark.parametrize(("dates", "expected"), [
    ({"2024-01-01": 5, "2024-03-01": 5, "2024-06-01": 5}, ("2024-03-01", "2024-03-02")),
    ({}, ("2024-01-01", "2024-01-02")),  # no rows here: the middle of the cycle
    ({None: 4}, ("2024-01-01", "2024-01-02")),
])
def test_windows_split_at_our_rows_median_or_the_cycles_middle(
        dates: dict[str | None, int], expected: tuple[str, str]) -> None:
    left, right = split_window(Window(), dates, CYCLE)
    assert (left.last, right.first) == expected
    assert (left.first, right.last) == (Window().first, Window().last)


def test_a_difference_clustered_in_time_is_narrowed_not_reread_whole() -> None:
    world = World()
    unit = world.add("C1", 6_000, seed=4)
    amended = [s for s, day in world.upstream[unit].items() if day and day[:7] == "2024-05"]
    for sub_id in amended:  # a month's report replaced: its old rows are gone upstream
        del world.upstream[unit][sub_id]
    assert check(world, [unit])[0].status == "verified"
    assert world.local == world.upstream
    whole = 6_000 // PER_PAGE + 1
    assert len(amended) > 100 and world.requests() < whole / 2


def test_a_difference_spread_all_over_costs_little_more_than_one_reading_of_the_unit() -> None:
    world = World()
    unit = world.add("C1", 6_000, seed=4)
    for sub_id in sorted(world.upstream[unit])[::50]:  # 120 rows gone, everywhere
        del world.upstream[unit][sub_id]
    assert check(world, [unit])[0].status == "verified"
    assert world.local == world.upstream
    assert world.requests() <= 1.15 * (6_000 // PER_PAGE + 1)
