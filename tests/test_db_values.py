"""Values as stored, and what each committed message leaves behind (db.donations, db.writer)."""

from __future__ import annotations

import math
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from db.donations import as_flag, as_int, as_real, as_text, upsert_rows
from db.writer import (
    DONE,
    CommitResult,
    PageFetched,
    SQLiteWriter,
    UnitFailed,
    apply_message,
)
from tests.dbtools import LATER, NOW, query, record

UNIT = ("C00000001", 2024)
SORT = "contribution_receipt_date"


def page(rows: list[dict[str, Any]], cursor: dict[str, Any] | None, done: bool,
         new_pass: bool = False) -> PageFetched:
    return PageFetched(1, UNIT[1], (UNIT[0],), rows, cursor, done, starts_pass=new_pass,
                       sort=SORT if new_pass else None)


@pytest.mark.parametrize(("value", "text"), [
    (None, None), ("x", "x"), (True, "1"), (False, "0"), (7, "7"), (2.5, "2.5"),
    ({"b": 1, "a": [2]}, '{"a": [2], "b": 1}'),
])
def test_as_text(value: Any, text: str | None) -> None:
    assert as_text(value) == text


def test_an_object_is_stored_the_same_whatever_its_key_order() -> None:
    # otherwise an identical row read again would count as changed and be rewritten
    assert as_text({"x": 1, "y": 2}) == as_text({"y": 2, "x": 1})


@pytest.mark.parametrize(("value", "number"), [
    (None, None), (True, 1), (False, 0), (12, 12), (3.0, 3), (2.5, 2.5), (" 42 ", 42),
    ("42.0", 42), ("4.5", 4.5), ("abc", "abc"), ([1], "[1]"), (float("inf"), None),
])
def test_as_int(value: Any, number: Any) -> None:
    converted = as_int(value)
    assert converted == number and type(converted) is type(number)


@pytest.mark.parametrize(("value", "number"), [
    (None, None), (3, 3.0), (" 2.5 ", 2.5), ("x", "x"), ({"a": 1}, '{"a": 1}'),
    ("nan", None), (float("-inf"), None),
])
def test_as_real(value: Any, number: Any) -> None:
    converted = as_real(value)
    assert converted == number and type(converted) is type(number)


def test_nan_is_stored_as_null() -> None:
    assert as_real(math.nan) is None


@pytest.mark.parametrize(("value", "flag"), [
    (True, 1), (False, 0), (1, 1), (0, 0), (2, None), (-1, None), (1.0, None), (None, None),
    (" Yes ", 1), ("T", 1), ("true", 1), (" F ", 0), ("No", 0), ("false", 0), ("maybe", None),
])
def test_as_flag(value: Any, flag: int | None) -> None:
    assert as_flag(value) == flag


def test_pages_larger_than_one_lookup_chunk_are_recognised_when_seen_again(
    conn: sqlite3.Connection,
) -> None:
    rows = [record(str(4_000_000_000 + n)) for n in range(1_234)]
    first = upsert_rows(conn, rows, UNIT[0], NOW)
    again = upsert_rows(conn, rows, UNIT[0], LATER)
    assert (first.inserted, again.inserted, again.unchanged) == (1_234, 0, 1_234)


def unit_state(db_path: Path) -> dict[str, Any]:
    columns = ("status", "cursor", "last_error", "pass_started_at", "updated_at",
               "full_completed_at")
    row = query(db_path, f"SELECT {', '.join(columns)} FROM sync_state")
    assert len(row) == 1
    return dict(zip(columns, row[0], strict=True))


def test_each_message_commits_what_it_says_and_reports_itself(
    conn: sqlite3.Connection, db_path: Path
) -> None:
    first = page([record("1")], {"last_index": "1"}, False, new_pass=True)
    assert apply_message(conn, first, NOW) == CommitResult(first, inserted=1)
    assert unit_state(db_path)["pass_started_at"] == NOW
    failed = UnitFailed(*UNIT, "HTTP 422: Invalid committee_id")
    assert apply_message(conn, failed, LATER) == CommitResult(failed)
    assert unit_state(db_path) == {
        "status": "failed", "cursor": '{"last_index": "1"}', "pass_started_at": NOW,
        "last_error": "HTTP 422: Invalid committee_id", "updated_at": LATER,
        "full_completed_at": None}


def test_a_full_pass_started_through_the_writer_supersedes_what_it_did_not_see(
    conn: sqlite3.Connection, db_path: Path
) -> None:
    apply_message(conn, page([record("1"), record("2")], None, True), NOW)
    last = page([record("2")], None, True, new_pass=True)
    assert apply_message(conn, last, LATER).superseded == 1
    assert query(db_path, "SELECT sub_id FROM donations WHERE superseded_at IS NOT NULL") == [
        ("1",)]
    assert unit_state(db_path)["full_completed_at"] == LATER


def test_the_writer_is_a_named_non_daemon_thread_wherever_it_is_made(db_path: Path) -> None:
    made: list[SQLiteWriter] = []
    maker = threading.Thread(target=lambda: made.append(
        SQLiteWriter(db_path, queue.Queue(), stop=threading.Event())), daemon=True)
    maker.start()
    maker.join()
    assert made[0].name == "sqlite-writer"
    assert made[0].daemon is False  # never cut off at exit in the middle of a transaction


def test_the_writer_reports_each_commit_in_order(db_path: Path) -> None:
    inbox: queue.Queue[object] = queue.Queue()
    reported: list[CommitResult] = []
    first = page([], {"last_index": "0"}, False, new_pass=True)
    done = page([record("9")], None, True)
    writer = SQLiteWriter(db_path, inbox, stop=threading.Event(), on_commit=reported.append)
    writer.start()
    for message in (first, done, DONE):
        inbox.put(message)
    writer.join()
    assert writer.error is None and writer.drained is True
    assert [r.message for r in reported] == [first, done]
    assert reported[1] == CommitResult(done, inserted=1, completed=(UNIT,))
