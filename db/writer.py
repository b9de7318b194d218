"""The writer thread: the only code that touches SQLite while a sync runs.

Fetch threads put messages on a bounded queue; `SQLiteWriter` commits each one in its own
transaction and reports it through `on_commit`. A page's rows and its unit's cursor are
committed together, so a kill at any instant leaves the database at a page boundary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from db.donations import UpsertCounts, supersede_unseen, upsert_rows
from db.explore import index_new_rows
from db.schema import as_database_error, connect, transaction, utc_now

logger = logging.getLogger(__name__)

DONE: object = object()  # sentinel: producers are finished, the writer may stop


@dataclass(frozen=True)
class PassStarted:
    committee_id: str
    cycle: int
    min_load_date: str | None
    sort: str


@dataclass(frozen=True)
class PageFetched:
    committee_id: str
    cycle: int
    rows: list[dict[str, Any]]
    cursor: dict[str, Any] | None  # where the next request resumes; None once done
    done: bool
    requests: int


@dataclass(frozen=True)
class UnitFailed:
    committee_id: str
    cycle: int
    error: str


@dataclass(frozen=True)
class CommitResult:
    message: object
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_no_sub_id: int = 0
    superseded: int = 0


def start_pass(conn: sqlite3.Connection, msg: PassStarted, now: str) -> CommitResult:
    """Record a new pass: its parameters, no cursor yet, counters from zero."""
    with transaction(conn):
        _ensure_unit(conn, msg.committee_id, msg.cycle, now)
        conn.execute(
            "UPDATE sync_state SET status = 'running', cursor = NULL, pass_min_load_date = ?,"
            " pass_sort = ?, pass_started_at = ?, pass_max_load_date = NULL, rows_seen = 0,"
            " requests = 0, updated_at = ? WHERE committee_id = ? AND cycle = ?",
            (msg.min_load_date, msg.sort, now, now, msg.committee_id, msg.cycle),
        )
    return CommitResult(msg)


def save_page(conn: sqlite3.Connection, msg: PageFetched, now: str) -> CommitResult:
    """ONE transaction: upsert the rows on sub_id, advance the unit's cursor, and complete
    the unit when the page ends its pass. Either all of it commits or none of it."""
    with transaction(conn):
        counts = upsert_rows(conn, msg.rows, msg.committee_id, now)
        index_new_rows(conn)
        _ensure_unit(conn, msg.committee_id, msg.cycle, now)
        _advance_unit(conn, msg, now)
        superseded = _complete_unit(conn, msg.committee_id, msg.cycle, now) if msg.done else 0
    if counts.skipped_no_sub_id:
        logger.warning("skipped %d row(s) without sub_id from committee %s, cycle %s",
                       counts.skipped_no_sub_id, msg.committee_id, msg.cycle)
    return _result(msg, counts, superseded)


def fail_unit(conn: sqlite3.Connection, msg: UnitFailed, now: str) -> CommitResult:
    """Mark the unit failed; its cursor stays, so the next run resumes where it stopped."""
    with transaction(conn):
        _ensure_unit(conn, msg.committee_id, msg.cycle, now)
        conn.execute(
            "UPDATE sync_state SET status = 'failed', last_error = ?, updated_at = ?"
            " WHERE committee_id = ? AND cycle = ?",
            (msg.error, now, msg.committee_id, msg.cycle),
        )
    return CommitResult(msg)


def _ensure_unit(conn: sqlite3.Connection, committee_id: str, cycle: int, now: str) -> None:
    # ON CONFLICT, not OR IGNORE: only an existing row may be skipped, never a NULL key.
    conn.execute(
        "INSERT INTO sync_state (committee_id, cycle, status, updated_at)"
        " VALUES (?, ?, 'running', ?) ON CONFLICT (committee_id, cycle) DO NOTHING",
        (committee_id, cycle, now),
    )


def _advance_unit(conn: sqlite3.Connection, msg: PageFetched, now: str) -> None:
    dates = [str(row["load_date"]) for row in msg.rows if row.get("load_date")]
    page_max = max(dates) if dates else None
    cursor = json.dumps(msg.cursor, sort_keys=True) if msg.cursor is not None else None
    conn.execute(
        "UPDATE sync_state SET status = 'running', cursor = :cursor,"
        " pass_max_load_date = CASE WHEN pass_max_load_date IS NULL"
        "   OR pass_max_load_date < :page_max THEN :page_max ELSE pass_max_load_date END,"
        " rows_seen = rows_seen + :rows, requests = requests + :requests, updated_at = :now"
        " WHERE committee_id = :committee_id AND cycle = :cycle",
        {"cursor": cursor, "page_max": page_max, "rows": len(msg.rows),
         "requests": msg.requests, "now": now, "committee_id": msg.committee_id,
         "cycle": msg.cycle},
    )


def _complete_unit(conn: sqlite3.Connection, committee_id: str, cycle: int, now: str) -> int:
    """Close the pass; after a full pass, reconcile rows it did not see. Returns that count."""
    superseded = 0
    row = conn.execute(
        "SELECT pass_started_at FROM sync_state WHERE committee_id = ? AND cycle = ?"
        " AND pass_min_load_date IS NULL AND pass_started_at IS NOT NULL",
        (committee_id, cycle),
    ).fetchone()
    if row is not None:  # only a full pass sees every current row of the unit
        superseded = supersede_unseen(conn, committee_id, cycle, row[0], now)
    # The watermark moves only here, when a whole pass has been committed.
    conn.execute(
        "UPDATE sync_state SET status = 'complete', cursor = NULL, last_error = NULL,"
        " full_completed_at = CASE WHEN pass_min_load_date IS NULL THEN :now"
        "   ELSE full_completed_at END,"
        " loaded_through = CASE WHEN loaded_through IS NULL OR loaded_through < pass_max_load_date"
        "   THEN pass_max_load_date ELSE loaded_through END,"
        " completed_at = :now, updated_at = :now"
        " WHERE committee_id = :committee_id AND cycle = :cycle",
        {"now": now, "committee_id": committee_id, "cycle": cycle},
    )
    return superseded


def _result(msg: object, counts: UpsertCounts, superseded: int = 0) -> CommitResult:
    return CommitResult(msg, counts.inserted, counts.updated, counts.unchanged,
                        counts.skipped_no_sub_id, superseded)


def apply_message(conn: sqlite3.Connection, msg: object, now: str) -> CommitResult:
    """Commit one queued message in its own transaction."""
    if isinstance(msg, PageFetched):
        return save_page(conn, msg, now)
    if isinstance(msg, PassStarted):
        return start_pass(conn, msg, now)
    if isinstance(msg, UnitFailed):
        return fail_unit(conn, msg, now)
    raise TypeError(f"the writer cannot handle a {type(msg).__name__} message")


class SQLiteWriter(threading.Thread):
    """Own the single sqlite3 connection of a sync; commit one message per transaction.

    Not a daemon: it is always joined, so no transaction is cut off at exit. On failure
    it stores the exception in `error`, sets `stop`, and keeps taking messages until DONE,
    so a producer blocked on the full queue is always released.
    """

    def __init__(self, db_path: str | os.PathLike[str], messages: queue.Queue[Any], *,
                 stop: threading.Event,
                 on_commit: Callable[[CommitResult], None] | None = None) -> None:
        super().__init__(name="sqlite-writer", daemon=False)
        self.db_path = os.fspath(db_path)
        self.messages = messages
        self.stop = stop
        self.on_commit = on_commit
        self.error: BaseException | None = None
        self.drained = False  # DONE consumed: draining again would block forever

    def run(self) -> None:
        try:
            self._write_all()
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.error = exc
            self.stop.set()
            logger.debug("writer failed", exc_info=True)
            for _ in self._messages():
                pass

    def _messages(self) -> Iterator[object]:
        while not self.drained:
            msg = self.messages.get()
            if msg is DONE:
                self.drained = True
            else:
                yield msg

    def _write_all(self) -> None:
        # Opened here, in this thread, with check_same_thread=True: sqlite3 itself raises
        # ProgrammingError if any other thread touches the connection.
        with contextlib.closing(connect(self.db_path)) as conn:
            for msg in self._messages():
                try:
                    result = apply_message(conn, msg, utc_now())
                except sqlite3.Error as exc:
                    raise as_database_error(exc, self.db_path) from exc
                if self.on_commit is not None:
                    self.on_commit(result)
            self._finish(conn)

    def _finish(self, conn: sqlite3.Connection) -> None:
        """Last words on the connection, after DONE."""
        try:
            conn.execute("PRAGMA optimize")  # SQLite's advice for long-lived connections
        except sqlite3.Error as exc:
            raise as_database_error(exc, self.db_path) from exc

