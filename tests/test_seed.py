"""The parts of a first load from the dump: the writer's seed messages, planning after a
seed, the sample check, the spool and the progress display."""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from db import plan as planning
from db import schema
from db.donations import COLUMNS, map_record
from db.plan import UnitPlan
from db.writer import DONE, SeedDone, SeededUnit, SeedRows, SQLiteWriter, apply_message
from fec.dump import DumpProgress, DumpResult
from fec.dump_errors import DumpError, DumpMismatch, DumpStale
from sync.seed_check import SampleCheck, check_fresh
from sync.seed_progress import SeedProgress, human_bytes
from sync.spool import FIELDS, RowSpool
from tests.dbtools import LATER, NOW, query, record

WHERE = "the dump at http://x"


def unit_row(conn: sqlite3.Connection, committee_id: str, **columns: Any) -> None:
    conn.execute("INSERT INTO sync_state (committee_id, cycle, status) VALUES (?, 2024, ?)",
                 (committee_id, columns.pop("status", "pending")))
    for name, value in columns.items():
        conn.execute(f"UPDATE sync_state SET {name} = ? WHERE committee_id = ?",
                     (value, committee_id))


def seed_done(*units: SeededUnit) -> SeedDone:
    return SeedDone(2024, units, "2026-11-22 04:30:00", Future())


# --- the writer -------------------------------------------------------------------------------


def test_seeded_units_start_over_from_the_dumps_watermark(conn: sqlite3.Connection,
                                                          db_path: Path) -> None:
    unit_row(conn, "C00000001", status="running", cursor='{"last_index": "9"}', chain_id=4,
             pass_min_load_date="2024-01-01", rows_seen=300, requests=3)
    unit_row(conn, "C00000003", status="complete", completed_at=NOW, loaded_through="2024-10-01")
    rows = [record("1"), record("2", committee_id="C00000002")]
    result = apply_message(conn, SeedRows(2024, rows), NOW)
    assert (result.inserted, result.completed) == (2, ())
    done = seed_done(SeededUnit("C00000001", 1, "2024-10-15"), SeededUnit("C00000002", 1, None),
                     SeededUnit("C00000003", 0, "2024-01-01"))
    apply_message(conn, done, LATER)
    assert done.reply.done() and done.reply.result() is None
    assert query(db_path, "SELECT committee_id, status, cursor, chain_id, pass_min_load_date,"
                 " rows_seen, loaded_through, seeded_at, seed_rows, seed_snapshot"
                 " FROM sync_state ORDER BY committee_id") == [
        ("C00000001", "pending", None, None, None, 0, "2024-10-15", LATER, 1,
         "2026-11-22 04:30:00"),
        ("C00000002", "pending", None, None, None, 0, None, LATER, 1, "2026-11-22 04:30:00"),
        # a unit that completed a pass is never moved back
        ("C00000003", "complete", None, None, None, 0, "2024-10-01", None, None, None)]
    assert query(db_path, "SELECT count(*) FROM donations") == [(2,)]


def test_a_failed_writer_releases_whoever_waits_for_a_seed(db_path: Path) -> None:
    messages: queue.Queue[object] = queue.Queue()
    writer = SQLiteWriter(db_path, messages, stop=threading.Event())
    bad = SeedRows(2024, [record("1", committee_id=None)])  # NOT NULL: the writer fails
    done = seed_done(SeededUnit("C00000001", 1, None))
    for message in (bad, done, DONE):
        messages.put(message)
    writer.start()
    writer.join(timeout=30)
    assert isinstance(writer.error, schema.DatabaseError)
    with pytest.raises(schema.DatabaseError):
        done.reply.result(timeout=5)


# --- planning ---------------------------------------------------------------------------------


def test_only_units_that_never_completed_a_pass_nor_were_seeded_are_seeded(
        conn: sqlite3.Connection) -> None:
    unit_row(conn, "C00000001", status="running", cursor='{"last_index": "9"}')
    unit_row(conn, "C00000002", status="failed")
    unit_row(conn, "C00000003", status="complete", completed_at=NOW)
    unit_row(conn, "C00000004", seeded_at=NOW)
    unit_row(conn, "C00000005", status="running", completed_at=NOW)  # an incremental pass
    candidates = [(f"C0000000{i}", 2024) for i in range(1, 7)]  # 6: no state yet
    assert planning.units_to_seed(conn, candidates) == [
        ("C00000001", 2024), ("C00000002", 2024), ("C00000006", 2024)]


def test_a_seeded_unit_plans_its_api_pass_from_the_watermark_in_the_same_run(
        conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO politicians (bioguide_id, name, loaded_at) VALUES ('A', 'A', ?)",
                 (NOW,))
    conn.executemany(
        "INSERT INTO fec_mappings (bioguide_id, candidate_id, committee_id, cycle, resolved_at)"
        " VALUES ('A', 'H1', ?, 2024, ?)", [("C00000001", NOW), ("C00000002", NOW)])
    apply_message(conn, seed_done(SeededUnit("C00000001", 500, "2024-10-15"),
                                  SeededUnit("C00000002", 0, None)), NOW)
    plans, skipped = planning.plan_units(conn, [2024], refresh_after_hours=1e6, overlap_days=3,
                                      now=NOW)
    assert skipped == 0
    # the dump's watermark already holds the snapshot's margin: no overlap on top
    assert plans == [UnitPlan("C00000001", 2024, None, "2024-10-15", resumed=False),
                     UnitPlan("C00000002", 2024, None, None, resumed=False)]


# --- the sample check -------------------------------------------------------------------------


def result_of(newest: str | None, kept: int = 10,
              taken: datetime = datetime(2026, 11, 22, 4, 30)) -> DumpResult:
    found = DumpResult("x", "t", None, None, taken, "1.14", "15.10", 100, rows_kept=kept)
    if newest is not None:
        found.max_load_date = {"C00000001": newest}
    return found


def test_equal_rows_pass_and_a_difference_is_named() -> None:
    page = [record("1"), record("2", contributor_employer="ACME INC")]
    check = SampleCheck(2024, page, WHERE)
    check.see(record("1", committee={"other": "joined objects are not stored"}))
    check.see(record("3"))  # not in the sample
    with pytest.raises(DumpMismatch) as caught:
        check.see(record("2", contributor_employer="ACME INC."))
    assert str(caught.value) == (
        "the dump at http://x: row 2 (C00000001 2024) differs from the API's in "
        "contributor_employer: 'ACME INC.' in the dump, 'ACME INC' from the API")


@pytest.mark.parametrize(("api_loaded", "in_dump", "refused"), [
    ("2024-10-17T03:12:45.123000", None, "lacks row 1"),  # loaded well before the snapshot
    ("2026-11-21T02:00:00", None, None),  # loaded the day before: maybe after it was taken
    ("2026-11-21T02:00:00", "2024-10-17T03:12:45.123000", None),  # corrected since
    ("2024-10-17T03:12:45.123000+00:00", "2024-10-17T03:12:45.123000",
     "has another load_date in the dump"),  # a format drift is never taken for a reload
])
def test_rows_loaded_close_to_or_after_the_snapshot_may_be_missing_or_older(
        api_loaded: str, in_dump: str | None, refused: str | None) -> None:
    check = SampleCheck(2024, [record("1", load_date=api_loaded), record("2")], WHERE)
    check.see(record("2"))
    if in_dump is not None:
        check.see(record("1", load_date=in_dump))
    found = result_of("2026-11-21T23:00:00")
    assert SampleCheck.horizon(found) == "2026-11-19"
    if refused is None:
        check.finish(found)
    else:
        with pytest.raises(DumpMismatch, match=refused):
            check.finish(found)


def test_a_sample_that_compares_nothing_is_refused() -> None:
    check = SampleCheck(2024, [record("1", load_date="2026-11-21T02:00:00")], WHERE)
    with pytest.raises(DumpMismatch, match="every one was loaded after it was taken"):
        check.finish(result_of("2024-10-17T03:12:45"))
    with pytest.raises(DumpMismatch, match="the page is empty, yet the dump holds 10 of"):
        SampleCheck(2024, [], WHERE).finish(result_of("2024-10-17T03:12:45"))
    SampleCheck(2024, [], WHERE).finish(result_of(None, kept=0))  # nothing on either side


def test_a_snapshot_older_than_two_weeks_is_stale() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    check_fresh(datetime(2026, 11, 15, 13), now - timedelta(days=3), now, WHERE)
    with pytest.raises(DumpStale) as caught:
        check_fresh(datetime(2026, 11, 15, 11), None, now, WHERE)
    assert str(caught.value) == (
        "the dump at http://x was taken on 2026-11-15 11:00, 14 days ago: a weekly dump older "
        "than 14 days means the FEC's job is lagging")
    with pytest.raises(DumpStale, match="published 2026-10-01 00:00 UTC, 59 days ago"):
        check_fresh(datetime(2026, 11, 28), datetime(2026, 10, 1, tzinfo=UTC), now, WHERE)


# --- the spool --------------------------------------------------------------------------------


def test_the_spool_gives_back_what_the_database_stores_in_order(tmp_path: Path) -> None:
    records = [record(str(i), contribution_receipt_amount=i / 4, is_individual=i % 2 == 0,
                      memo_code=None if i % 3 else "X", contributor_name=f"ROE\t{i}\n")
               for i in range(25)]
    with RowSpool(tmp_path, batch_rows=10) as spool:
        for item in records:
            spool.add(item)
        batches = list(spool.batches())
        assert os.listdir(tmp_path) == []  # the file has no name
    assert [len(b) for b in batches] == [10, 10, 5] and spool.rows == 25
    back = [item for batch in batches for item in batch]
    assert [set(item) for item in back] == [set(FIELDS)] * 25
    assert [map_record(item, None) for item in back] == [map_record(r, None) for r in records]
    assert [item["sub_id"] for item in back] == [str(i) for i in range(25)]
    assert FIELDS[1:] == COLUMNS


def test_a_spool_that_cannot_be_made_is_a_dump_error(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match=r"cannot keep the dump's rows in a temporary file in "):
        RowSpool(tmp_path / "missing")


# --- progress ---------------------------------------------------------------------------------


def test_without_a_terminal_progress_is_logged_in_bytes_and_rows(
        caplog: pytest.LogCaptureFixture) -> None:
    progress = SeedProgress(quiet=False)
    progress.LOG_EVERY_S = 0.0
    with caplog.at_level(logging.INFO, logger="sync.seed_progress"):
        with progress.reading(2026):
            progress.read(DumpProgress(1_500_000, 15_300_000_000, 12_345, 678))
        with progress.writing(2026, 678):
            progress.wrote(500)
    assert caplog.messages == [
        "dump 2026: 1.5 MB of 15.3 GB read, 12,345 rows read, 678 kept",
        "dump 2026: 500 of 678 rows written"]


def test_quiet_shows_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    progress = SeedProgress(quiet=True)
    progress.LOG_EVERY_S = 0.0
    with caplog.at_level(logging.INFO), progress.reading(2026):
        progress.read(DumpProgress(1, 2, 3, 4))
    assert caplog.messages == []


def test_sizes_read_like_tqdm() -> None:
    assert [human_bytes(n) for n in (999, 1000, 549_691, 15_300_000_000, 2 * 10**15)] == [
        "999 B", "1.0 kB", "549.7 kB", "15.3 GB", "2000.0 TB"]
