"""The dump of the fake world against the fake API: the same rows, stored identically.

A dump is a snapshot: rows loaded after it exist only in the API, rows amended away after
it remain in the dump, and a later correction leaves the dump with the old values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from db import schema
from db.donations import COLUMNS, upsert_rows
from fec.dump import iter_dump_rows, open_dump
from fec.dump_source import HttpSource
from tests.fake_dump import FakeDumpServer, world_archive
from tests.fake_dump.schema import JOINED_FIELDS
from tests.fake_openfec import FakeOpenFec, World, generate_world
from tests.support import KEY


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(seed=15, politicians=12, cycles=(2024, 2026), rows_scale=0.5)


def api_view(record: dict[str, Any]) -> dict[str, Any]:
    """An API record without the objects the API joins in from other tables."""
    return {k: v for k, v in record.items() if k not in JOINED_FIELDS}


@contextlib.contextmanager
def dump_of(world: World) -> Iterator[tuple[FakeDumpServer, Any]]:
    snapshot = world.dump_snapshot()
    with FakeDumpServer(world_archive(world, snapshot)) as server:
        yield server, snapshot


def test_the_dump_holds_the_snapshot_whatever_happens_later() -> None:
    world = generate_world(seed=16, politicians=10, cycles=(2026,), rows_scale=0.5)
    campaign = world.campaign_committee_ids
    with dump_of(world) as (server, snapshot):
        assert sorted(snapshot.rows, key=lambda r: r.sub_id) == \
            sorted(world.snapshot(), key=lambda r: r.sub_id)
        late = set(world.add_late_filings(6))
        gone = set(world.amend_away(4))
        corrected = set(world.correct_rows(3))
        rows = iter_dump_rows(HttpSource(server.url), 2026, campaign)
        records = {r["sub_id"]: r for r in rows}
    expected = {row.sub_id: api_view(world.record(row)) for row in snapshot.rows
                if row.committee_id in campaign and row.cycle == 2026}
    assert records == expected
    assert late and not late & set(records)  # loaded after the snapshot: API only
    assert gone and gone <= set(records)  # amended away after it: still in the dump
    assert corrected <= set(records)
    now = world.expected_rows(cycles=(2026,))
    assert all(records[s]["contributor_employer"] != now[s]["contributor_employer"] or
               records[s]["contribution_receipt_amount"] != now[s]["contribution_receipt_amount"]
               for s in corrected)
    others = {row.committee_id for row in snapshot.rows} - set(campaign)
    assert others  # joint fundraisers and PACs are in the dump and are left out
    result = rows.result
    assert result is not None and result.complete
    assert result.snapshot_time == snapshot.taken_at.replace(microsecond=0)
    assert result.rows_by_committee == {
        c: sum(1 for r in expected.values() if r["committee_id"] == c)
        for c in {r["committee_id"] for r in expected.values()}}
    for committee, latest in result.max_load_date.items():
        assert latest == max(r["load_date"] for r in expected.values()
                             if r["committee_id"] == committee)
        two_days_before = date.fromisoformat(latest[:10]) - timedelta(days=2)
        assert result.watermark(committee) == two_days_before.isoformat()
    assert result.watermark("C99999999") is None


def api_page(fake: FakeOpenFec, committee: str, cycle: int) -> list[dict[str, Any]]:
    """One page of Schedule A as the API serves it, over HTTP."""
    answer = requests.get(f"{fake.url}/schedules/schedule_a/", headers={"X-Api-Key": KEY},
                          params={"committee_id": committee, "per_page": 100,
                                  "two_year_transaction_period": cycle,
                                  "sort": "contribution_receipt_date"}, timeout=30)
    answer.raise_for_status()
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def stored(db: Path, records: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    with contextlib.closing(schema.connect(db)) as conn:
        schema.ensure_schema(conn)
        with conn:
            upsert_rows(conn, records, "", "2026-11-29T00:00:00Z")
        return conn.execute(f"SELECT sub_id, {', '.join(COLUMNS)} FROM donations "
                            "ORDER BY sub_id").fetchall()


@pytest.mark.parametrize("cycle", [2024, 2026])
def test_a_dump_row_is_stored_as_the_same_api_row(world: World, tmp_path: Path,
                                                  cycle: int) -> None:
    committee = max(world.campaign_committee_ids,
                    key=lambda c: world.expected_count([c], [cycle]))
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        page = api_page(fake, committee, cycle)
    assert len(page) == 100
    with dump_of(world) as (server, _):
        dumped = {r["sub_id"]: r for r in iter_dump_rows(HttpSource(server.url), cycle,
                                                         [committee])}
    assert [api_view(r) for r in page] == [dumped[r["sub_id"]] for r in page]
    assert stored(tmp_path / "api.db", page) == \
        stored(tmp_path / "dump.db", [dumped[r["sub_id"]] for r in page])


def test_several_cycles_from_one_table_of_contents(world: World) -> None:
    campaign = {cycle: sorted(c for c, _ in world.campaign_units([cycle]))
                for cycle in (2024, 2026)}  # a committee can be campaign in one cycle only
    with dump_of(world) as (server, _):
        source = HttpSource(server.url)
        opened = open_dump(source)
        counts = {cycle: sum(1 for _ in iter_dump_rows(source, cycle, campaign[cycle],
                                                       opened=opened))
                  for cycle in (2024, 2026)}
        ranges = [r.range for r in server.s3_requests()]
    assert counts == {c: world.expected_count(cycles=[c]) for c in (2024, 2026)}
    assert len(ranges) == 3 and ranges[0] == "bytes=0-1048575"  # the head once, two tables
