"""save_page and the writer thread: upsert semantics, one transaction per page, failures."""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from db import schema, writer
from db.donations import COLUMNS
from db.writer import (
    DONE,
    ChecksDone,
    CommitResult,
    CountQuery,
    PageFetched,
    SeedDone,
    SeededUnit,
    SeedRows,
    SQLiteWriter,
    UnitCheck,
    UnitFailed,
    WindowPage,
    save_page,
)
from tests.dbtools import LATER, NOW, query, record

UNIT = ("C00000001", 2024)
SORT = "contribution_receipt_date"


def page(rows: list[dict[str, Any]], cursor: dict[str, Any] | None = None,
         done: bool = False, *, new_pass: bool = False, min_load_date: str | None = None,
         members: tuple[str, ...] = (UNIT[0],), chain: int = 1) -> PageFetched:
    return PageFetched(chain, UNIT[1], members, rows=rows, cursor=cursor, done=done,
                       starts_pass=new_pass, min_load_date=min_load_date,
                       sort=SORT if new_pass else None)


def start_pass(conn: sqlite3.Connection, min_load_date: str | None, now: str) -> None:
    """A pass's first page, empty and not the last (the pass's parameters, no rows yet)."""
    save_page(conn, page([], None, new_pass=True, min_load_date=min_load_date), now)


def unit_row(path: Path) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(path)) as fresh:
        fresh.row_factory = sqlite3.Row
        row = fresh.execute("SELECT * FROM sync_state WHERE committee_id = ? AND cycle = ?",
                            UNIT).fetchone()
    return dict(row)


# --- mapping and upsert ---------------------------------------------------------------------


def test_new_rows_are_mapped_to_columns(conn: sqlite3.Connection, db_path: Path) -> None:
    rows = [record(4110620241234567890), record("2", is_individual=False, committee_id=None),
            record("3", is_individual=None, contribution_receipt_amount=-12.5)]
    result = save_page(conn, page(rows, {"last_index": "3"}), NOW)
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    stored = query(db_path, "SELECT sub_id, typeof(sub_id), committee_id, is_individual,"
                   " contribution_receipt_amount, first_seen_at, last_seen_at"
                   " FROM donations ORDER BY sub_id")
    assert stored == [
        ("2", "text", "C00000001", 0, 250.0, NOW, NOW),  # committee_id from the unit
        ("3", "text", "C00000001", None, -12.5, NOW, NOW),
        ("4110620241234567890", "text", "C00000001", 1, 250.0, NOW, NOW),
    ]
    columns = ", ".join(COLUMNS)
    full = query(db_path, f"SELECT {columns} FROM donations WHERE sub_id = '4110620241234567890'")
    expected = {name: value for name, value in record("1").items() if name in COLUMNS}
    assert dict(zip(COLUMNS, full[0], strict=True)) == {**expected, "is_individual": 1}


def test_a_changed_row_is_updated_in_place(conn: sqlite3.Connection, db_path: Path) -> None:
    save_page(conn, page([record("1"), record("2")]), NOW)
    rowid_before = query(db_path, "SELECT rowid FROM donations WHERE sub_id = '1'")
    fixed = record("1", contributor_employer="ACME CORP", contribution_receipt_amount=300.0)
    result = save_page(conn, page([fixed]), LATER)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 0)
    assert query(db_path, "SELECT rowid FROM donations WHERE sub_id = '1'") == rowid_before
    assert query(db_path, "SELECT contributor_employer, contribution_receipt_amount,"
                 " first_seen_at, last_seen_at FROM donations WHERE sub_id = '1'") == [
        ("ACME CORP", 300.0, NOW, LATER)]
    assert query(db_path, "SELECT count(*) FROM donations") == [(2,)]


def test_an_identical_row_only_has_last_seen_at_touched(conn: sqlite3.Connection,
                                                        db_path: Path) -> None:
    save_page(conn, page([record("1")]), NOW)
    before = query(db_path, f"SELECT {', '.join(COLUMNS)}, first_seen_at FROM donations")
    # Fires when an UPDATE so much as names a data column, even with the same value.
    conn.execute("CREATE TEMP TABLE touched (sub_id TEXT)")
    conn.execute(f"CREATE TEMP TRIGGER watch AFTER UPDATE OF {', '.join(COLUMNS)} ON donations"
                 " BEGIN INSERT INTO touched VALUES (new.sub_id); END")
    # The same values in the API's other spellings must still count as identical.
    same = record("1", contribution_receipt_amount=250, report_year="2024")
    result = save_page(conn, page([same]), LATER)
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 1)
    assert conn.execute("SELECT count(*) FROM touched").fetchone()[0] == 0
    assert query(db_path, f"SELECT {', '.join(COLUMNS)}, first_seen_at FROM donations") == before
    assert query(db_path, "SELECT last_seen_at FROM donations") == [(LATER,)]


def test_rows_without_sub_id_never_reach_the_database(conn: sqlite3.Connection,
                                                       db_path: Path) -> None:
    conn.execute("CREATE TEMP TABLE attempted (sub_id)")
    conn.execute("CREATE TEMP TRIGGER watch BEFORE INSERT ON donations"
                 " BEGIN INSERT INTO attempted VALUES (new.sub_id); END")
    no_key = record("x")
    del no_key["sub_id"]
    rows = [no_key, record(None), record(""), record("   "), record(4.5), record("7")]
    result = save_page(conn, page(rows, {"last_index": "7"}), NOW)
    assert (result.inserted, result.skipped_no_sub_id) == (1, 5)
    assert [r[0] for r in conn.execute("SELECT sub_id FROM attempted")] == ["7"]
    assert unit_row(db_path)["rows_seen"] == 6


# --- unit state -------------------------------------------------------------------------------


def test_page_commits_its_cursor_and_counters(conn: sqlite3.Connection, db_path: Path) -> None:
    start_pass(conn, "2024-10-01", NOW)
    cursor = {"last_index": "2", "last_contribution_receipt_date": "2024-09-30"}
    save_page(conn, page([record("1", load_date="2024-10-03T00:00:00"),
                          record("2", load_date="2024-10-02T00:00:00")], cursor), NOW)
    save_page(conn, page([record("3", load_date=None)], {"last_index": "3",
                                                         "sort_null_only": True}), LATER)
    unit = unit_row(db_path)
    assert json.loads(unit["cursor"]) == {"last_index": "3", "sort_null_only": True}
    assert (unit["status"], unit["pass_min_load_date"], unit["pass_sort"]) == (
        "running", "2024-10-01", SORT)
    assert (unit["pass_max_load_date"], unit["rows_seen"], unit["requests"]) == (
        "2024-10-03T00:00:00", 3, 3)
    assert (unit["loaded_through"], unit["completed_at"], unit["updated_at"]) == (None, None, LATER)


@pytest.mark.parametrize(("old", "expected"), [
    (None, "2024-10-05T00:00:00"),
    ("2024-10-01T00:00:00", "2024-10-05T00:00:00"),
    ("2024-12-01T00:00:00", "2024-12-01T00:00:00"),  # the watermark never moves back
])
def test_the_last_page_completes_the_unit(conn: sqlite3.Connection, db_path: Path,
                                          old: str | None, expected: str) -> None:
    start_pass(conn, None, NOW)
    conn.execute("UPDATE sync_state SET loaded_through = ?, last_error = 'old'", (old,))
    save_page(conn, page([record("1", load_date="2024-10-05T00:00:00")], {"last_index": "1"}), NOW)
    save_page(conn, page([record("2", load_date="2024-10-04T00:00:00")], done=True), LATER)
    unit = unit_row(db_path)
    assert (unit["status"], unit["cursor"], unit["completed_at"], unit["last_error"]) == (
        "complete", None, LATER, None)
    assert unit["loaded_through"] == expected


def test_a_new_pass_clears_the_old_one(conn: sqlite3.Connection, db_path: Path) -> None:
    save_page(conn, page([record("1", load_date="2024-10-05T00:00:00")], {"last_index": "1"}), NOW)
    writer.fail_unit(conn, UnitFailed(*UNIT, error="422: bad cursor"), NOW)
    failed = unit_row(db_path)
    assert (failed["status"], failed["last_error"]) == ("failed", "422: bad cursor")
    assert json.loads(failed["cursor"]) == {"last_index": "1"}  # kept, to resume from
    start_pass(conn, "2024-10-02", LATER)
    unit = unit_row(db_path)
    assert (unit["status"], unit["cursor"], unit["pass_max_load_date"]) == ("running", None, None)
    assert (unit["pass_min_load_date"], unit["pass_started_at"], unit["rows_seen"]) == (
        "2024-10-02", LATER, 0)


def test_a_full_pass_supersedes_rows_it_did_not_see(conn: sqlite3.Connection,
                                                    db_path: Path) -> None:
    save_page(conn, page([record("1"), record("2"), record("3")], done=True, new_pass=True), NOW)
    later = "2026-11-29T12:00:00.000000Z"
    result = save_page(conn, page([record("1"), record("3")], done=True, new_pass=True), later)
    assert result.superseded == 1
    rows = query(db_path, "SELECT sub_id, superseded_at FROM donations ORDER BY sub_id")
    assert rows == [("1", None), ("2", later), ("3", None)]  # marked, never deleted
    again = "2026-11-30T12:00:00.000000Z"
    save_page(conn, page([record("2")], {"last_index": "2"}), again)
    assert query(db_path, "SELECT superseded_at FROM donations WHERE sub_id = '2'") == [(None,)]


def test_an_incremental_pass_supersedes_nothing(conn: sqlite3.Connection, db_path: Path) -> None:
    save_page(conn, page([record("1"), record("2")], done=True), NOW)
    last = page([record("1")], done=True, new_pass=True, min_load_date="2024-10-01")
    assert save_page(conn, last, LATER).superseded == 0
    assert query(db_path, "SELECT count(*) FROM donations WHERE superseded_at IS NULL") == [(2,)]


# --- chains of several committees ----------------------------------------------------------

CHAIN = ("C00000001", "C00000002", "C00000003")


def units(db_path: Path) -> dict[str, dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(db_path)) as fresh:
        fresh.row_factory = sqlite3.Row
        return {row["committee_id"]: dict(row) for row in fresh.execute(
            "SELECT * FROM sync_state WHERE cycle = ?", (UNIT[1],))}


def test_a_chain_page_moves_every_member_and_counts_each_ones_rows(
        conn: sqlite3.Connection, db_path: Path) -> None:
    rows = [record("1", committee_id="C00000001", load_date="2024-10-01T00:00:00"),
            record("2", committee_id="C00000003", load_date="2024-10-04T00:00:00"),
            record("3", committee_id="C00000001", load_date="2024-10-02T00:00:00")]
    cursor = {"last_index": "3", "last_contribution_receipt_date": "2024-09-01"}
    save_page(conn, page(rows, cursor, new_pass=True, min_load_date="2024-09-28",
                         members=CHAIN, chain=7), NOW)
    state = units(db_path)
    assert sorted(state) == list(CHAIN)
    for unit in state.values():
        assert (unit["chain_id"], json.loads(unit["cursor"]), unit["status"]) == (
            7, cursor, "running")
        assert (unit["pass_min_load_date"], unit["pass_started_at"], unit["requests"]) == (
            "2024-09-28", NOW, 1)
    assert [(state[c]["rows_seen"], state[c]["pass_max_load_date"]) for c in CHAIN] == [
        (2, "2024-10-02T00:00:00"), (0, None), (1, "2024-10-04T00:00:00")]
    assert query(db_path, "SELECT sub_id, committee_id FROM donations ORDER BY sub_id") == [
        ("1", "C00000001"), ("2", "C00000003"), ("3", "C00000001")]


def test_the_last_page_of_a_chain_completes_every_member(conn: sqlite3.Connection,
                                                         db_path: Path) -> None:
    save_page(conn, page([record(str(n), committee_id=c) for n, c in enumerate(CHAIN)],
                         {"last_index": "2"}, new_pass=True, members=CHAIN), NOW)
    conn.execute("INSERT INTO donations (sub_id, committee_id, two_year_transaction_period,"
                 " first_seen_at, last_seen_at) VALUES ('old', 'C00000002', 2024, ?, ?)",
                 (NOW, NOW))
    result = save_page(conn, page([], None, done=True, new_pass=True, members=CHAIN), LATER)
    assert result.completed == tuple((c, UNIT[1]) for c in CHAIN)
    assert result.superseded == 4  # a full pass that read nothing: every row of each member
    for unit in units(db_path).values():
        assert (unit["status"], unit["chain_id"], unit["cursor"], unit["completed_at"]) == (
            "complete", None, None, LATER)


def test_a_split_moves_only_the_part_that_paged(conn: sqlite3.Connection, db_path: Path) -> None:
    at_split = {"last_index": "5", "last_contribution_receipt_date": "2024-03-01"}
    save_page(conn, page([record("5", committee_id="C00000002")], at_split, new_pass=True,
                         members=CHAIN, chain=1), NOW)
    later = {"last_index": "9", "last_contribution_receipt_date": "2024-05-01"}
    save_page(conn, page([record("9", committee_id="C00000002")], later,
                         members=("C00000002",), chain=2), LATER)
    state = units(db_path)
    assert (state["C00000002"]["chain_id"], json.loads(state["C00000002"]["cursor"])) == (
        2, later)
    for other in ("C00000001", "C00000003"):  # they resume from the split point as chain 1
        assert (state[other]["chain_id"], json.loads(state[other]["cursor"])) == (1, at_split)
        assert state[other]["status"] == "running"


def test_a_failed_unit_leaves_its_chain(conn: sqlite3.Connection, db_path: Path) -> None:
    save_page(conn, page([], {"last_index": "1"}, new_pass=True, members=CHAIN, chain=4), NOW)
    writer.fail_unit(conn, UnitFailed("C00000003", UNIT[1], "422: no such committee"), LATER)
    unit = units(db_path)["C00000003"]
    assert (unit["status"], unit["chain_id"], json.loads(unit["cursor"])) == (
        "failed", None, {"last_index": "1"})


# --- count checks: window rescans, reads, verdicts ------------------------------------------


def dated(sub_id: str, day: str | None) -> dict[str, Any]:
    return record(sub_id, contribution_receipt_date=day)


def test_a_window_rescan_supersedes_only_that_windows_rows_it_did_not_return(
        conn: sqlite3.Connection, db_path: Path) -> None:
    rows = [dated("1", "2024-01-05"), dated("2", "2024-02-10"), dated("3", "2024-02-11"),
            dated("4", "2024-03-01"), dated("5", None), dated("6", "2024-02-11T00:00:00")]
    save_page(conn, page(rows, done=True, new_pass=True), NOW)
    started = "2026-11-28T12:30:00.000000Z"
    window = ("2024-02-01", "2024-02-29")
    first = WindowPage(*UNIT, window, [dated("2", "2024-02-10")], False, started)
    last = WindowPage(*UNIT, window, [], True, started)
    assert writer.apply_message(conn, first, LATER) == CommitResult(first, unchanged=1)
    assert writer.apply_message(conn, last, LATER).superseded == 2  # 3, and 6 (old format)
    assert query(db_path, "SELECT sub_id FROM donations WHERE superseded_at IS NOT NULL"
                 " ORDER BY 1") == [("3",), ("6",)]
    nulls = WindowPage(*UNIT, None, [], True, started)
    assert writer.apply_message(conn, nulls, LATER).superseded == 1  # 5, the NULL-date row
    assert unit_row(db_path)["status"] == "complete"  # the pass is untouched


def test_a_window_rescan_files_a_row_without_committee_under_its_unit(
        conn: sqlite3.Connection, db_path: Path) -> None:
    # A rescan reads one committee: a row that does not say whose it is, is that one's, and
    # is counted live for it (or the check would find it missing again and again).
    started = "2026-11-28T12:30:00.000000Z"
    row = dated("8", "2024-02-10") | {"committee_id": None}
    rescan = WindowPage("C00000002", UNIT[1], ("2024-02-01", "2024-02-29"), [row], True, started)
    assert writer.apply_message(conn, rescan, LATER) == CommitResult(rescan, inserted=1)
    assert query(db_path, "SELECT committee_id, superseded_at FROM donations") == [
        ("C00000002", None)]
    reply: Future[Any] = Future()
    writer.apply_message(conn, CountQuery((("C00000002", 2024),), None, reply), LATER)
    assert reply.result(timeout=0) == {"live": {("C00000002", 2024): 1}}


def test_every_commit_reports_the_message_it_committed(conn: sqlite3.Connection) -> None:
    # on_commit tells progress what was written (the dump's rows, the superseded count).
    seed = SeedRows(UNIT[1], [record("1"), record("2", committee_id="C00000002")])
    seeded = SeedDone(UNIT[1], (SeededUnit(UNIT[0], 1, "2024-10-15"),), "2026-11-22", Future())
    checks = ChecksDone((UnitCheck(*UNIT, "verified", 1, 1, 1, 1),))
    count_query: CountQuery = CountQuery((UNIT,), None, Future())
    results = [writer.apply_message(conn, msg, NOW) for msg in (seed, seeded, checks, count_query)]
    assert results == [CommitResult(seed, inserted=2), CommitResult(seeded),
                       CommitResult(checks), CommitResult(count_query)]


def test_a_count_query_is_answered_with_what_is_committed(conn: sqlite3.Connection) -> None:
    save_page(conn, page([dated("1", "2024-01-05"), dated("2", None), dated("3", "2024-01-05")],
                         done=True, new_pass=True), NOW)
    conn.execute("UPDATE donations SET superseded_at = ? WHERE sub_id = '3'", (NOW,))
    reply: Future[Any] = Future()
    writer.apply_message(conn, CountQuery((UNIT, ("C00000009", 2024)), UNIT, reply), LATER)
    assert reply.result(timeout=0) == {"live": {UNIT: 2, ("C00000009", 2024): 0},
                                       "dates": {"2024-01-05": 1, None: 1}}


def test_checks_are_recorded_per_unit(conn: sqlite3.Connection, db_path: Path) -> None:
    save_page(conn, page([], done=True, new_pass=True, members=CHAIN), NOW)
    checks = tuple(UnitCheck(c, UNIT[1], "verified", 40, 40, 3, n) for n, c in enumerate(CHAIN))
    writer.apply_message(conn, ChecksDone(checks), LATER)
    state = units(db_path)
    assert [(state[c]["verify_status"], state[c]["verified_at"], state[c]["upstream_rows"],
             state[c]["local_rows"], state[c]["verify_scope"], state[c]["live_rows"])
            for c in CHAIN] == [("verified", LATER, 40, 40, 3, n) for n in range(3)]


def test_a_failed_writer_answers_a_waiting_count_query(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "donations.db"
    reply: Future[Any] = Future()
    thread, stop, producer = run_writer(path, [CountQuery((UNIT,), None, reply)])
    finish(producer, thread)
    with pytest.raises(schema.DatabaseError, match="does not exist"):
        reply.result(timeout=1)


# --- atomicity: a page commits whole or not at all --------------------------------------------


def assert_only_first_page(db_path: Path) -> None:
    assert query(db_path, "SELECT sub_id FROM donations ORDER BY sub_id") == [("1",), ("2",)]
    unit = unit_row(db_path)
    assert (json.loads(unit["cursor"]), unit["status"], unit["rows_seen"]) == (
        {"last_index": "2"}, "running", 2)


@pytest.fixture
def first_page(conn: sqlite3.Connection) -> sqlite3.Connection:
    save_page(conn, page([record("1"), record("2")], {"last_index": "2"}), NOW)
    return conn


def test_a_row_failing_mid_page_leaves_neither_rows_nor_cursor(first_page: sqlite3.Connection,
                                                               db_path: Path) -> None:
    first_page.execute("CREATE TEMP TRIGGER reject BEFORE INSERT ON donations"
                       " WHEN new.sub_id = '5' BEGIN SELECT RAISE(ABORT, 'rejected'); END")
    second = page([record(str(i)) for i in range(3, 8)], {"last_index": "7"})
    with pytest.raises(sqlite3.IntegrityError, match="rejected"):
        save_page(first_page, second, LATER)
    assert not first_page.in_transaction
    assert_only_first_page(db_path)


@pytest.mark.parametrize("step", ["_advance_chain", "_complete_unit"])
def test_a_failure_after_the_rows_rolls_them_back(first_page: sqlite3.Connection, db_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  step: str) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writer, step, boom)
    last = page([record("3"), record("4")], None, done=True)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_page(first_page, last, LATER)
    assert_only_first_page(db_path)


# --- the writer thread ------------------------------------------------------------------------


def run_writer(db_path: Path, messages: list[object], on_commit: Any = None,
               maxsize: int = 2) -> tuple[SQLiteWriter, threading.Event, threading.Thread]:
    """Start a writer, and a producer thread that puts `messages` and then DONE."""
    inbox: queue.Queue[object] = queue.Queue(maxsize=maxsize)
    stop = threading.Event()
    thread = SQLiteWriter(db_path, inbox, stop=stop, on_commit=on_commit)
    thread.start()

    def produce() -> None:
        for msg in messages:
            inbox.put(msg)
        inbox.put(DONE)

    producer = threading.Thread(target=produce)
    producer.start()
    return thread, stop, producer


def finish(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), f"{thread.name} hangs"


def test_the_writer_commits_each_message_and_reports_it(db_path: Path) -> None:
    seen: list[tuple[CommitResult, int]] = []
    messages: list[object] = [
        page([record("1"), record(None)], {"last_index": "1"}, new_pass=True),
        page([record("1"), record("2")], None, done=True),
    ]
    thread, stop, producer = run_writer(
        db_path, messages, lambda r: seen.append((r, threading.get_ident())))
    finish(producer, thread)
    assert thread.error is None and not stop.is_set() and not thread.daemon
    assert [r.message for r, _ in seen] == messages
    assert [(r.inserted, r.unchanged, r.skipped_no_sub_id) for r, _ in seen] == [
        (1, 0, 1), (1, 1, 0)]
    assert [r.completed for r, _ in seen] == [(), (UNIT,)]
    assert {ident for _, ident in seen} == {thread.ident}  # called in the writer thread only
    assert unit_row(db_path)["status"] == "complete"


def test_producers_never_hang_when_the_writer_cannot_open(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "donations.db"
    messages: list[object] = [page([record(str(i))]) for i in range(200)]
    thread, stop, producer = run_writer(path, messages)
    finish(producer, thread)
    assert isinstance(thread.error, schema.DatabaseError)
    assert str(thread.error) == f"cannot open {path}: directory {path.parent} does not exist"
    assert stop.is_set()


def test_producers_never_hang_when_the_writer_fails_mid_stream(db_path: Path) -> None:
    bad = PageFetched(1, 2024, (None,), [], None, False)  # type: ignore[arg-type]
    messages: list[object] = [page([record("1")], {"last_index": "1"}), bad]
    messages += [page([record(str(i))], {"last_index": str(i)}) for i in range(10, 300)]
    thread, stop, producer = run_writer(db_path, messages)
    finish(producer, thread)
    assert isinstance(thread.error, schema.DatabaseError)
    assert str(thread.error) == f"{db_path}: NOT NULL constraint failed: sync_state.committee_id"
    assert stop.is_set()
    assert query(db_path, "SELECT sub_id FROM donations") == [("1",)]  # nothing after the failure


def test_an_error_in_on_commit_stops_the_writer(db_path: Path) -> None:
    def explode(result: CommitResult) -> None:
        raise RuntimeError("progress bar broke")

    messages: list[object] = [page([record(str(i))]) for i in range(100)]
    thread, stop, producer = run_writer(db_path, messages, explode)
    finish(producer, thread)
    assert isinstance(thread.error, RuntimeError) and stop.is_set()
    assert query(db_path, "SELECT count(*) FROM donations") == [(1,)]


def test_a_failure_after_done_does_not_wait_for_a_second_done(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: SQLiteWriter, conn: sqlite3.Connection) -> None:
        raise schema.DatabaseError("disk full")

    monkeypatch.setattr(SQLiteWriter, "_finish", fail)
    thread, stop, producer = run_writer(db_path, [page([record("1")])])
    finish(producer, thread)
    assert str(thread.error) == "disk full" and thread.drained


def test_a_failure_of_the_last_words_names_the_database(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # After the last commit the writer asks SQLite to optimize; if that fails (a full disk,
    # say), the run must end on one line naming the file, with the pages kept.
    def refuse_optimize(action: int, name: str | None, *rest: Any) -> int:
        refused = action == sqlite3.SQLITE_PRAGMA and (name or "").lower() == "optimize"
        return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK

    def connect(path: str) -> sqlite3.Connection:
        conn = schema.connect(path)
        conn.set_authorizer(refuse_optimize)
        return conn

    monkeypatch.setattr(writer, "connect", connect)
    thread, stop, producer = run_writer(db_path, [page([record("1")], done=True)])
    finish(producer, thread)
    assert isinstance(thread.error, schema.DatabaseError) and stop.is_set()
    assert str(thread.error) == f"{db_path}: not authorized"
    assert query(db_path, "SELECT sub_id FROM donations") == [("1",)]


def test_an_unknown_message_is_an_error(db_path: Path) -> None:
    thread, stop, producer = run_writer(db_path, ["not a message", page([record("1")])])
    finish(producer, thread)
    assert isinstance(thread.error, TypeError)
    assert str(thread.error) == "the writer cannot handle a str message"
