"""The unit scheduler: longest chain first, retries, failures and stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from fec import scheduler as sched
from fec.errors import AuthError, BadRequest, QuotaExhausted, TransientError
from fec.schedule_a import Page
from fec.scheduler import Unit, UnitScheduler


class FakePaging:
    """Stands in for iter_pages: `sizes` pages per committee, with a count on each page."""

    def __init__(self, sizes: dict[str, int], per_page: int = 10,
                 fail: dict[str, list[BaseException]] | None = None):
        self.sizes, self.per_page = sizes, per_page
        self.fail = fail or {}
        self.fetched: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, client: Any, committee_ids: list[str], cycle: int, *, per_page: int,
                 min_load_date: str | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        committee = committee_ids[0]
        start = cursor["n"] if cursor else 0
        total = self.sizes[committee]
        for n in range(start, total):
            errors = self.fail.get(committee)
            if errors:
                raise errors.pop(0)
            with self.lock:
                self.fetched.append((committee, n))
            done = n == total - 1
            yield Page(rows=[{"sub_id": f"{committee}-{n}"}], cursor=None if done else {"n": n + 1},
                       done=done, count=total * self.per_page)


def run(paging: FakePaging, units: list[Unit], monkeypatch, concurrency: int = 1):
    monkeypatch.setattr(sched, "iter_pages", paging)
    pages: list[tuple[str, bool]] = []
    failed: list[tuple[str, str]] = []
    stop = threading.Event()
    scheduler = UnitScheduler(
        client=None, per_page=10, concurrency=concurrency, stop=stop,  # type: ignore[arg-type]
        on_page=lambda unit, page: pages.append((unit.committee_id, page.done)),
        on_failed=lambda unit, exc: failed.append((unit.committee_id, str(exc))),
    )
    return scheduler, stop, pages, failed


def test_first_pages_come_before_a_chain_shorter_than_a_fair_share(monkeypatch) -> None:
    # One worker: no chain is ever a bigger share than the rest, so every unit's size is
    # learned first (one of them might hide the longest chain), then the chain runs.
    paging = FakePaging({"A": 1, "B": 1, "BIG": 5, "C": 1, "D": 1})
    units = [Unit(c, 2026) for c in ("A", "BIG", "B", "C", "D")]
    scheduler, _, _, _ = run(paging, units, monkeypatch)
    scheduler.run(units)
    order = [committee for committee, _ in paging.fetched]
    assert order == ["A", "BIG", "B", "C", "D", "BIG", "BIG", "BIG", "BIG"]


def pick(concurrency: int, known: dict[str, int], sizes: dict[str, int],
         unknown: list[str]) -> str:
    scheduler = UnitScheduler(
        client=None, per_page=10, concurrency=concurrency,  # type: ignore[arg-type]
        stop=threading.Event(), on_page=lambda u, p: None, on_failed=lambda u, e: None,
    )
    for committee, left in known.items():
        scheduler._sizes[(committee, 2026)] = sizes[committee]
        scheduler._push(Unit(committee, 2026), left)
    for committee in unknown:
        scheduler._push(Unit(committee, 2026), None)
    return scheduler._pop().committee_id


def test_a_chain_bigger_than_a_fair_share_goes_first() -> None:
    # 20 pages left; 3 unknown units at the mean known size (11.5): share (20 + 34.5) / 4
    assert pick(4, {"BIG": 20, "X": 1}, {"BIG": 21, "X": 2}, ["U1", "U2", "U3"]) == "BIG"


def test_below_a_fair_share_an_unknown_first_page_goes_first() -> None:
    assert pick(4, {"BIG": 5, "X": 1}, {"BIG": 21, "X": 2}, ["U1", "U2", "U3"]) == "U1"


def test_with_nothing_unknown_the_longest_known_chain_goes_first() -> None:
    assert pick(4, {"A": 2, "BIG": 9, "B": 3}, {"A": 3, "BIG": 10, "B": 4}, []) == "BIG"


def test_prior_sizes_from_the_last_pass_count_as_known() -> None:
    # Units planned with the size of their last pass enter as known chains.
    scheduler = UnitScheduler(
        client=None, per_page=10, concurrency=2,  # type: ignore[arg-type]
        stop=threading.Event(), on_page=lambda u, p: None, on_failed=lambda u, e: None,
    )
    for unit in (Unit("A", 2026), Unit("B", 2026, expected_pages=1),
                 Unit("BIG", 2026, expected_pages=8)):
        scheduler._push(unit, unit.expected_pages)
    assert [scheduler._pop().committee_id for _ in range(3)] == ["BIG", "A", "B"]


def test_every_page_of_every_unit_once_with_threads(monkeypatch) -> None:
    sizes = {f"C{i}": (i % 7) + 1 for i in range(30)}
    paging = FakePaging(sizes)
    units = [Unit(c, 2026) for c in sizes]
    scheduler, _, pages, failed = run(paging, units, monkeypatch, concurrency=8)
    scheduler.run(units)
    want = [(c, n) for c, size in sizes.items() for n in range(size)]
    assert sorted(paging.fetched) == sorted(want)
    assert sorted(c for c, done in pages if done) == sorted(sizes)
    assert failed == []


def test_transient_failure_is_retried_once_from_the_last_cursor(monkeypatch) -> None:
    paging = FakePaging({"A": 3}, fail={"A": [TransientError("503 again")]})
    units = [Unit("A", 2026)]
    scheduler, _, pages, failed = run(paging, units, monkeypatch)
    scheduler.run(units)
    assert [n for _, n in paging.fetched] == [0, 1, 2]
    assert failed == []


def test_unit_that_keeps_failing_is_reported_and_others_go_on(monkeypatch) -> None:
    paging = FakePaging({"A": 2, "B": 2}, fail={"A": [BadRequest(422, "Invalid committee_id")]})
    units = [Unit("A", 2026), Unit("B", 2026)]
    scheduler, _, _, failed = run(paging, units, monkeypatch)
    scheduler.run(units)
    assert [c for c, _ in failed] == ["A"]
    assert [c for c, _ in paging.fetched] == ["B", "B"]


@pytest.mark.parametrize("exc", [QuotaExhausted("quota spent", resume_after=0.0),
                                 AuthError("API_KEY_INVALID", "invalid key")])
def test_stop_reasons_halt_everything_and_are_raised(monkeypatch, exc) -> None:
    paging = FakePaging({"A": 2, "B": 2, "C": 2}, fail={"B": [exc]})
    units = [Unit(c, 2026) for c in ("A", "B", "C")]
    scheduler, stop, _, failed = run(paging, units, monkeypatch)
    with pytest.raises(type(exc)):
        scheduler.run(units)
    assert stop.is_set()
    assert ("C", 0) not in paging.fetched
    assert failed == []
