"""Properties of the heart of the sync: keyset paging, killed and resumed from its cursor.

For generated committees (NULL dates, ties on the date, one to ten committees in one keyset
chain, a load-date filter or none, page sizes 1..100) and kills at arbitrary pages, paging
and then resuming from the last committed cursor yields exactly the fake's rows: none lost,
none twice, and no request beyond the keyset minimum plus one per page a kill threw away.

The fake runs in-process on loopback (real HTTP, real sockets); each example gets a world of
its own built from the generated rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fec.budget import RateBudget
from fec.client import FecClient
from fec.schedule_a import iter_pages
from tests.fake_openfec import FakeOpenFec, World
from tests.fake_openfec.people import Committee, Specials
from tests.fake_openfec.records import Row
from tests.support import KEY

CYCLE = 2026
# Few distinct values, so that ties on the receipt date (and on the load date) are common.
RECEIPT_DATES = (None, "2025-02-03", "2025-02-04", "2026-06-30")
LOAD_DATES = ("2025-03-01T02:00:00", "2025-03-02T03:04:05.123000", "2026-07-01T01:00:00")
MIN_LOAD_DATES = (None, "2025-03-02", "2026-07-01")


@dataclass(frozen=True)
class Kill:
    """A kill after the `page`-th page a run fetched: before that page committed (`lost`)
    or just after it did."""

    page: int
    lost: bool


def committee(committee_id: str) -> Committee:
    return Committee(committee_id=committee_id, name=f"FRIENDS OF {committee_id}",
                     designation="P", committee_type="H", candidate_ids=("H6IL01234",),
                     cycles=(CYCLE,), party="DEM", state="IL", city="SPRINGFIELD",
                     street_1="1 MAIN ST", zip="62701", treasurer_name="ROE, RICHARD",
                     first_file_date="2024-01-02")


# One generated row: (committee_id, sub_id, receipt date or None, load_date).
Gen = tuple[str, int, str | None, str]


@st.composite
def chains(draw: st.DrawFn) -> list[Gen]:
    """The rows of one to ten committees that are paged together in one keyset chain."""
    numbers = draw(st.lists(st.integers(1, 99_999_999), min_size=1, max_size=10, unique=True))
    ids = [f"C{n:08d}" for n in numbers]
    per_committee = draw(st.lists(st.integers(0, 12), min_size=len(ids), max_size=len(ids)))
    sub_ids = draw(st.lists(st.integers(10**18, 10**19 - 1), min_size=sum(per_committee),
                            max_size=sum(per_committee), unique=True))
    owners = [cid for cid, count in zip(ids, per_committee, strict=True) for _ in range(count)]
    return [(cid, sid, draw(st.sampled_from(RECEIPT_DATES)), draw(st.sampled_from(LOAD_DATES)))
            for cid, sid in zip(owners, sub_ids, strict=True)] + [(cid, 0, None, "") for cid in
                                                                  ids if cid not in owners]


def build_world(generated: list[Gen]) -> World:
    """A world holding exactly these rows (a sub_id of 0 marks a committee with none)."""
    rows = [Row(sub_id=str(sid), sid=sid, committee_id=cid, cycle=CYCLE, date=received,
                amount=25.0, load_date=loaded, seed=sid % 997, profile="ind")
            for cid, sid, received, loaded in generated if sid]
    ids = sorted({cid for cid, *_ in generated})
    return World(seed=0, cycles=(CYCLE,), as_of=date(2026, 10, 31), legislators=[],
                 committees={cid: committee(cid) for cid in ids}, specials=Specials(), rows=rows)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOpenFec, FecClient]]:
    """One fake and one client for every example; each example swaps in its own world."""
    empty = World(seed=0, cycles=(CYCLE,), as_of=date(2026, 10, 31), legislators=[],
                  committees={}, specials=Specials(), rows=[])
    with FakeOpenFec(empty, api_keys=(KEY,)) as fake:
        client = FecClient(KEY, fake.url, budget=RateBudget(10**9), backoff_factor=0.001)
        yield fake, client
        client.close()


def sync_with_kills(client: FecClient, committee_ids: list[str], per_page: int,
                    min_load_date: str | None, kills: list[Kill]) -> tuple[list[str], int]:
    """Page the chain as runs that are killed one after another, each resuming from the
    cursor the previous ones committed (stored as JSON, as the database stores it).
    Returns the committed sub_ids, in commit order, and the pages a kill threw away."""
    committed: list[str] = []
    stored: str | None = None
    lost = 0
    for kill in [*kills, None]:
        cursor = json.loads(stored) if stored is not None else None
        pages = iter_pages(client, committee_ids, CYCLE, per_page=per_page,
                           min_load_date=min_load_date, cursor=cursor)
        for number, page in enumerate(pages, start=1):
            if kill is not None and number == kill.page and kill.lost:
                lost += 1
                break
            committed += [row["sub_id"] for row in page.rows]
            stored = json.dumps(page.cursor)  # committed together with its rows
            if page.done:
                return committed, lost
            if kill is not None and number == kill.page:
                break
    raise AssertionError("the last run, never killed, ended without a final page")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=chains(), per_page=st.one_of(st.integers(1, 5), st.integers(1, 100)),
       min_load_date=st.sampled_from(MIN_LOAD_DATES),
       kills=st.lists(st.builds(Kill, page=st.integers(1, 8), lost=st.booleans()),
                      max_size=4))
def test_paging_resumed_after_kills_yields_exactly_the_rows(
    served: tuple[FakeOpenFec, FecClient], chain: list[Gen], per_page: int,
    min_load_date: str | None, kills: list[Kill],
) -> None:
    fake, client = served
    fake.world = world = build_world(chain)
    fake.reset_log()
    committee_ids = sorted(world.committees)
    want = [sub_id for sub_id, row in world.expected_rows(committee_ids).items()
            if min_load_date is None or row["load_date"] >= min_load_date]
    got, lost = sync_with_kills(client, committee_ids, per_page, min_load_date, kills)
    assert sorted(got) == sorted(want)  # no row lost, none twice
    # A scan costs one request per full page plus the short (or empty) page that ends it,
    # however often it was resumed; each page a kill threw away costs one more.
    assert fake.count(kind="schedule_a") == len(want) // per_page + 1 + lost


def rows_in_server_order(world: World) -> list[dict[str, Any]]:
    """The ascending order the API pages in: date (NULLs last), then sub_id."""
    rows = world.expected_rows(sorted(world.committees)).values()
    return sorted(rows, key=lambda r: (r["contribution_receipt_date"] is None,
                                       r["contribution_receipt_date"] or "", int(r["sub_id"])))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=chains(), per_page=st.integers(1, 7))
def test_every_page_is_the_next_slice_of_one_total_order(
    served: tuple[FakeOpenFec, FecClient], chain: list[Gen], per_page: int
) -> None:
    # The cursor is a position in one total order over the whole chain (date ascending,
    # NULLs last, then sub_id), which is what lets a chain resume, or be split, anywhere.
    fake, client = served
    fake.world = world = build_world(chain)
    order = [row["sub_id"] for row in rows_in_server_order(world)]
    pages = list(iter_pages(client, sorted(world.committees), CYCLE, per_page=per_page))
    # full pages, then the short one; an empty one when the last full page ends the rows
    assert [[row["sub_id"] for row in page.rows] for page in pages] == [
        order[start:start + per_page] for start in range(0, len(order) + 1, per_page)]
    assert [page.done for page in pages] == [False] * (len(pages) - 1) + [True]
