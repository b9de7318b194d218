"""The chain scheduler: union paging, longest chain first, split on growth, bisection of
failures, restart of refused stored cursors, retries and stops."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from fec import scheduler as sched
from fec.chains import Chain, UnitSpec, group_units
from fec.errors import AuthError, BadRequest, FecError, QuotaExhausted, TransientError
from fec.schedule_a import Page
from fec.scheduler import ChainScheduler

PER_PAGE = 10


class FakeUnion:
    """Stands in for iter_pages: every committee's rows sit at distinct positions of one total
    order, and a chain pages the union of its members' rows after its cursor, as OpenFEC
    pages several committee_id values. `refuse` raises for chains whose request matches."""

    def __init__(self, sizes: dict[str, int], seed: int = 1) -> None:
        rng = random.Random(seed)
        slots = rng.sample(range(10 * sum(sizes.values()) + 10), sum(sizes.values()))
        self.rows: dict[str, list[int]] = {}
        for committee, size in sizes.items():
            self.rows[committee], slots = sorted(slots[:size]), slots[size:]
        self.requests: list[tuple[tuple[str, ...], Any]] = []  # (members, cursor sent)
        self.served: list[tuple[str, int]] = []
        self.refuse: list[tuple[Any, FecError]] = []  # (predicate(members, cursor), error)
        self.lock = threading.Lock()

    def __call__(self, client: Any, committee_ids: tuple[str, ...], cycle: int, *,
                 per_page: int, min_load_date: str | None, cursor: dict[str, Any] | None,
                 window: Any, kind: str) -> Iterator[Page]:
        union = sorted((pos, c) for c in committee_ids for pos in self.rows[c])
        while True:
            with self.lock:
                self.requests.append((tuple(committee_ids), cursor))
                for test, error in self.refuse:
                    if test(committee_ids, cursor):
                        raise error
                after = cursor["pos"] if cursor else -1
                page = [(pos, c) for pos, c in union if pos > after][:per_page]
                self.served += [(c, pos) for pos, c in page]
            done = len(page) < per_page
            cursor = None if done else {"pos": page[-1][0]}
            yield Page([{"sub_id": str(pos), "committee_id": c} for pos, c in page], cursor,
                       done, len(union), True)
            if done:
                return

    def everything(self) -> list[tuple[str, int]]:
        return sorted((c, pos) for c, rows in self.rows.items() for pos in rows)


class Recorder:
    def __init__(self) -> None:
        self.pages: list[tuple[tuple[str, ...], bool]] = []
        self.done: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def on_page(self, chain: Chain, page: Page) -> None:
        with self.lock:
            self.pages.append((chain.committee_ids, page.done))
            if page.done:
                self.done += chain.committee_ids

    def on_failed(self, chain: Chain, exc: FecError) -> None:
        self.failed += [(c, str(exc)) for c in chain.committee_ids]


def scheduler_for(fake: FakeUnion, monkeypatch: pytest.MonkeyPatch, concurrency: int = 1,
                  **kwargs: Any) -> tuple[ChainScheduler, Recorder, threading.Event]:
    monkeypatch.setattr(sched, "iter_pages", fake)
    seen = Recorder()
    stop = threading.Event()
    scheduler = ChainScheduler(
        client=None, per_page=PER_PAGE, concurrency=concurrency, stop=stop,  # type: ignore[arg-type]
        on_page=seen.on_page, on_failed=seen.on_failed, ids=itertools.count(100), **kwargs)
    return scheduler, seen, stop


def chains_of(*groups: tuple[str, ...], cycle: int = 2026) -> list[Chain]:
    return [Chain(n, cycle, group) for n, group in enumerate(groups, 1)]


def per_unit_minimum(sizes: dict[str, int]) -> int:
    return sum(size // PER_PAGE + 1 for size in sizes.values())


# --- paging unions ----------------------------------------------------------------------------


def test_every_row_once_with_threads_and_fewer_requests_than_unit_by_unit(monkeypatch) -> None:
    sizes = {f"C{i:02d}": (i * 7) % 23 for i in range(30)}
    fake = FakeUnion(sizes)
    chains = group_units([UnitSpec(c, 2026, None, None) for c in sizes], per_page=PER_PAGE,
                         concurrency=8, ids=itertools.count(1))
    scheduler, seen, _ = scheduler_for(fake, monkeypatch, concurrency=8)
    scheduler.run(chains)
    assert sorted(fake.served) == fake.everything()  # no row lost, none twice
    assert sorted(seen.done) == sorted(sizes)
    assert seen.failed == []
    assert len(fake.requests) < per_unit_minimum(sizes)


def test_a_chain_far_bigger_than_a_fair_share_is_split_at_its_cursor(monkeypatch) -> None:
    sizes = {"BIG": 400, **{f"S{i}": 3 for i in range(9)}}
    fake = FakeUnion(sizes)
    scheduler, seen, _ = scheduler_for(fake, monkeypatch, concurrency=4)
    scheduler.run(chains_of(tuple(sorted(sizes))))
    assert sorted(fake.served) == fake.everything()
    assert sorted(seen.done) == sorted(sizes)
    # The split parts resumed from the union's cursor: the first request of a smaller chain
    # carried a cursor, and BIG ended up paging alone.
    split = [(members, cursor) for members, cursor in fake.requests if len(members) < 10]
    assert split and split[0][1] is not None
    assert ("BIG",) in {members for members, _ in fake.requests}
    assert len(fake.requests) <= per_unit_minimum(sizes)


def test_a_chain_far_beyond_priors_of_zero_rows_is_split_and_paged(monkeypatch) -> None:
    """After a quiet night every unit's last incremental pass read 0 rows; a busy night then
    makes their chain far bigger than a fair share, and every member weighs 0 when it splits."""
    sizes = {f"S{i}": 40 for i in range(6)}
    fake = FakeUnion(sizes)
    scheduler, seen, _ = scheduler_for(fake, monkeypatch, concurrency=4)
    scheduler.run([Chain(1, 2026, tuple(sorted(sizes)), sizes=dict.fromkeys(sizes, 0))])
    assert sorted(fake.served) == fake.everything()
    assert sorted(seen.done) == sorted(sizes) and seen.failed == []
    assert any(len(members) < len(sizes) for members, _ in fake.requests)  # it did split


def test_a_chain_within_its_fair_share_is_not_split(monkeypatch) -> None:
    sizes = {f"S{i}": 12 for i in range(10)}
    fake = FakeUnion(sizes)
    scheduler, _, _ = scheduler_for(fake, monkeypatch, concurrency=1)
    scheduler.run(chains_of(tuple(sorted(sizes))))
    assert {members for members, _ in fake.requests} == {tuple(sorted(sizes))}
    assert len(fake.requests) == 120 // PER_PAGE + 1


@pytest.mark.parametrize(("rows", "split"), [(100, False), (110, True)])
def test_only_a_chain_with_ten_pages_left_is_split(monkeypatch, rows: int, split: bool) -> None:
    """A split costs up to one request per part and saves seconds only on a long chain. Both
    chains are far beyond a fair share of 8 idle workers after their first page; 9 pages
    left run whole, 10 are split."""
    sizes = {f"S{i}": rows // 10 for i in range(10)}
    fake = FakeUnion(sizes)
    scheduler, seen, _ = scheduler_for(fake, monkeypatch, concurrency=8)
    scheduler.run(chains_of(tuple(sorted(sizes))))
    assert sorted(fake.served) == fake.everything() and sorted(seen.done) == sorted(sizes)
    whole = {members for members, _ in fake.requests} == {tuple(sorted(sizes))}
    assert whole is not split
    if not split:
        assert len(fake.requests) == rows // PER_PAGE + 1


# --- failures stay per unit -------------------------------------------------------------------


def test_a_rejected_chain_is_bisected_until_the_unit_at_fault_fails_alone(monkeypatch) -> None:
    sizes = {f"C{i}": 5 for i in range(7)} | {"BAD": 5}
    fake = FakeUnion(sizes)
    fake.refuse.append((lambda members, cursor: "BAD" in members,
                        BadRequest(422, "Invalid committee_id")))
    scheduler, seen, _ = scheduler_for(fake, monkeypatch)
    scheduler.run(chains_of(tuple(sorted(sizes))))
    assert [c for c, _ in seen.failed] == ["BAD"]
    assert "HTTP 422" in seen.failed[0][1]
    assert sorted(seen.done) == sorted(c for c in sizes if c != "BAD")
    assert sorted(fake.served) == [r for r in fake.everything() if r[0] != "BAD"]
    refused = [m for m, _ in fake.requests if "BAD" in m]
    assert len(refused) == 4  # 8 -> 4 -> 2 -> 1: log2(8) + 1 requests to find it


def test_a_rejected_chain_of_units_expected_empty_is_bisected_too(monkeypatch) -> None:
    # Incremental passes of quiet units expect 0 rows each: every member weighs nothing,
    # and a split must still give each half a member.
    sizes = {f"C{i}": 0 for i in range(3)} | {"BAD": 0}
    fake = FakeUnion(sizes)
    fake.refuse.append((lambda members, cursor: "BAD" in members,
                        BadRequest(422, "Invalid committee_id")))
    scheduler, seen, _ = scheduler_for(fake, monkeypatch)
    scheduler.run([Chain(1, 2026, tuple(sorted(sizes)), min_load_date="2026-11-01",
                         sizes=dict(sizes))])
    assert [c for c, _ in seen.failed] == ["BAD"]
    assert sorted(seen.done) == ["C0", "C1", "C2"]


def test_a_refused_stored_cursor_restarts_the_pass_once(monkeypatch) -> None:
    fake = FakeUnion({"A": 25, "B": 4})
    stale = {"pos": "2020-01-01T00:00:00"}  # a cursor format the API no longer accepts
    fake.refuse.append((lambda members, cursor: cursor == stale,
                        BadRequest(422, "Invalid date.")))
    scheduler, seen, _ = scheduler_for(fake, monkeypatch)
    chain = Chain(1, 2026, ("A", "B"), cursor=stale, starts_pass=False, resumed=True)
    scheduler.run([chain])
    assert seen.failed == []
    assert fake.requests[1] == (("A", "B"), None)  # from the start, not bisected
    assert sorted(fake.served) == fake.everything()
    assert sorted(seen.done) == ["A", "B"]


def test_a_restarted_unit_that_is_refused_again_fails(monkeypatch) -> None:
    fake = FakeUnion({"A": 25})
    fake.refuse.append((lambda members, cursor: True, BadRequest(422, "Invalid date.")))
    scheduler, seen, _ = scheduler_for(fake, monkeypatch)
    scheduler.run([Chain(1, 2026, ("A",), cursor={"pos": 3}, starts_pass=False, resumed=True)])
    assert [c for c, _ in seen.failed] == ["A"]
    assert [cursor for _, cursor in fake.requests] == [{"pos": 3}, None]


def test_a_cursor_confirmed_in_this_run_is_not_restarted(monkeypatch) -> None:
    fake = FakeUnion({"A": 25})
    fake.refuse.append((lambda members, cursor: bool(cursor) and cursor["pos"] > 0,
                        BadRequest(422, "Invalid date.")))
    scheduler, seen, _ = scheduler_for(fake, monkeypatch)
    scheduler.run([Chain(1, 2026, ("A",))])
    assert [c for c, _ in seen.failed] == ["A"]
    assert len(fake.requests) == 2  # the first page, then the refusal: no restart


def test_a_transient_failure_is_retried_once_from_the_last_cursor(monkeypatch) -> None:
    fake = FakeUnion({"A": 35})
    failures = [TransientError("503 again")]
    fake.refuse.append((lambda members, cursor: bool(cursor and failures) and failures.pop(0)
                        is not None, TransientError("503 again")))
    scheduler, seen, _ = scheduler_for(fake, monkeypatch)
    scheduler.run([Chain(1, 2026, ("A",))])
    assert seen.failed == []
    first_cursor = fake.requests[1][1]
    assert first_cursor is not None and fake.requests[2][1] == first_cursor
    assert sorted(fake.served) == fake.everything()


@pytest.mark.parametrize("exc", [QuotaExhausted("quota spent", resume_after=0.0),
                                 AuthError("API_KEY_INVALID", "invalid key")])
def test_stop_reasons_halt_everything_and_are_raised(monkeypatch, exc) -> None:
    fake = FakeUnion({"A": 15, "B": 15, "C": 15})
    fake.refuse.append((lambda members, cursor: members == ("B",), exc))
    scheduler, seen, stop = scheduler_for(fake, monkeypatch)
    with pytest.raises(type(exc)):
        scheduler.run(chains_of(("A",), ("B",), ("C",)))
    assert stop.is_set()
    assert ("C",) not in {m for m, _ in fake.requests}
    assert seen.failed == []


# --- choosing the next page -------------------------------------------------------------------


def pick(concurrency: int, known: dict[str, tuple[int, int]], unknown: list[str]) -> str:
    """`known`: (pages left, pages in all) per chain; unknown chains have no count yet."""
    scheduler = ChainScheduler(
        client=None, per_page=PER_PAGE, concurrency=concurrency,  # type: ignore[arg-type]
        stop=threading.Event(), on_page=lambda c, p: None, on_failed=lambda c, e: None,
        ids=itertools.count(50),
    )
    for n, (name, (left, size)) in enumerate(known.items()):
        chain = Chain(n, 2026, (name,), member_rows={name: (size - left) * PER_PAGE})
        chain.count = size * PER_PAGE
        scheduler._push(chain)
    for n, name in enumerate(unknown, 20):
        scheduler._push(Chain(n, 2026, (name,)))
    task = scheduler._pop()
    assert isinstance(task, Chain)
    return task.committee_ids[0]


def test_a_chain_bigger_than_a_fair_share_goes_first() -> None:
    # 20 pages left; 3 unknown chains at the mean known size (11.5): share (21 + 34.5) / 4
    assert pick(4, {"BIG": (20, 21), "X": (1, 2)}, ["U1", "U2", "U3"]) == "BIG"


def test_below_a_fair_share_an_unknown_first_page_goes_first() -> None:
    # 5 pages left; share (6 + 3 x 11.5) / 4 = 10.1
    assert pick(4, {"BIG": (5, 21), "X": (1, 2)}, ["U1", "U2", "U3"]) == "U1"


def test_with_nothing_unknown_the_longest_known_chain_goes_first() -> None:
    assert pick(4, {"A": (2, 3), "BIG": (9, 10), "B": (3, 4)}, []) == "BIG"


def test_prior_sizes_count_as_known() -> None:
    chains = group_units([UnitSpec("A", 2026, None, None), UnitSpec("B", 2026, None, 5),
                          UnitSpec("BIG", 2026, None, 80)], per_page=PER_PAGE, concurrency=2,
                         ids=itertools.count(1))
    scheduler = ChainScheduler(
        client=None, per_page=PER_PAGE, concurrency=2,  # type: ignore[arg-type]
        stop=threading.Event(), on_page=lambda c, p: None, on_failed=lambda c, e: None,
        ids=itertools.count(50),
    )
    for chain in chains:
        scheduler._push(chain)
    order = [scheduler._pop() for _ in chains]
    assert [c.committee_ids for c in order if isinstance(c, Chain)] == [
        ("BIG",), ("A",), ("B",)]


class Probe:
    def __init__(self, name: str, log: list[str], error: FecError | None = None) -> None:
        self.label, self.log, self.error = name, log, error

    def run(self) -> None:
        self.log.append(self.label)
        if self.error is not None:
            raise self.error


def test_jobs_run_ahead_of_pages_and_their_failures_are_reported(monkeypatch) -> None:
    fake = FakeUnion({"A": 5})
    log: list[str] = []
    failed: list[tuple[str, str]] = []
    scheduler, seen, _ = scheduler_for(
        fake, monkeypatch, on_chain_done=lambda chain, page: [Probe("after A", log)],
        on_job_failed=lambda job, exc: failed.append((job.label, str(exc))))
    scheduler.run(chains_of(("A",)), jobs=[Probe("first", log),
                                          Probe("broken", log, TransientError("502"))])
    assert log == ["first", "broken", "after A"]
    assert failed == [("broken", "502")]
    assert seen.done == ["A"]


def test_members_that_weigh_nothing_are_still_shared_out() -> None:
    from fec.chains import split_chain

    chain = Chain(1, 2026, ("A", "B", "C"), sizes={"A": 0, "B": 2, "C": 0},
                  member_rows={"A": 5, "B": 9, "C": 0})  # every prior read: all weigh 0
    parts = split_chain(chain, itertools.count(10))
    assert sorted(c for part in parts for c in part.committee_ids) == ["A", "B", "C"]
    assert len(parts) == 2 and all(part.committee_ids for part in parts)


def test_split_parts_share_the_count_they_had_so_the_biggest_part_stays_known() -> None:
    from fec.chains import split_chain

    chain = Chain(1, 2026, ("BIG", "S1", "S2", "S3"),
                  member_rows={"BIG": 70, "S1": 10, "S2": 10, "S3": 10})
    chain.count = 1_000  # 900 rows left; BIG has read most so far
    parts = split_chain(chain, itertools.count(10))
    big = next(part for part in parts if "BIG" in part.committee_ids)
    small = next(part for part in parts if "BIG" not in part.committee_ids)
    assert big.committee_ids == ("BIG",) and small.committee_ids == ("S1", "S2", "S3")
    assert big.pages_left(PER_PAGE) is not None and small.pages_left(PER_PAGE) is not None
    assert big.expected_rows() + small.expected_rows() == pytest.approx(1_000, abs=1)
    assert big.expected_rows() > 2 * small.expected_rows()
