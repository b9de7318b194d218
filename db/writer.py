"""The writer thread: the only code that touches SQLite while a sync runs.

Fetch threads put messages on a bounded queue; `SQLiteWriter` commits each one in its own
transaction and reports it through `on_commit`. A page's rows and its chain's cursor and
membership are committed together, so a kill at any instant leaves the database at a page
boundary, and each chain resumes as itself.
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
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from db.donations import (
    UpsertCounts,
    live_counts,
    live_dates,
    supersede_unseen,
    supersede_window,
    upsert_rows,
)
from db.explore import index_new_rows
from db.schema import as_database_error, connect, transaction, utc_now

logger = logging.getLogger(__name__)

DONE: object = object()  # sentinel: producers are finished, the writer may stop


@dataclass(frozen=True)
class PageFetched:
    """One page of a keyset chain: its rows, and the chain's cursor and membership after it.

    `starts_pass` marks a pass's first page: the members' new pass (its parameters, counters
    from zero) is recorded in the same transaction as the page."""

    chain_id: int
    cycle: int
    committee_ids: tuple[str, ...]
    rows: list[dict[str, Any]]
    cursor: dict[str, Any] | None  # where the next request resumes; None once done
    done: bool
    starts_pass: bool = False
    min_load_date: str | None = None  # the pass's load-date filter (None: a full pass)
    sort: str | None = None  # the pass's sort, as sent (recorded with a new pass)


@dataclass(frozen=True)
class UnitFailed:
    committee_id: str
    cycle: int
    error: str


@dataclass(frozen=True)
class WindowPage:
    """A page of a rescan of one unit's receipt-date window (a repair after a count check).

    The unit's pass state is untouched. The last page (done) marks the window's live rows
    that the rescan, begun at `started_at`, did not return as superseded."""

    committee_id: str
    cycle: int
    window: tuple[str, str] | None  # (first, last) receipt days; None: rows without a date
    rows: list[dict[str, Any]]
    done: bool
    started_at: str


@dataclass(frozen=True)
class UnitCheck:
    """A unit's count check: its live rows compared with the API's, alone or in a group."""

    committee_id: str
    cycle: int
    status: str  # "verified" or "differs"
    upstream_rows: int  # the API's exact count for the compared units together
    local_rows: int  # our live rows for them together
    scope: int  # how many units were compared together
    live_rows: int  # this unit's own live rows


@dataclass(frozen=True)
class ChecksDone:
    checks: tuple[UnitCheck, ...]


@dataclass(frozen=True)
class CountQuery:
    """A read for a count check, answered through `reply` once everything queued before it
    has been committed: live rows per unit, and by receipt day for `dates_of`."""

    units: tuple[tuple[str, int], ...]
    dates_of: tuple[str, int] | None
    reply: Future[Any]


@dataclass(frozen=True)
class SeedRows:
    """A batch of rows of one cycle from the FEC's weekly dump, upserted like any page. The
    units' sync state is untouched: only SeedDone, after the last batch, records the load."""

    cycle: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class SeededUnit:
    committee_id: str
    rows: int  # its rows in the dump
    watermark: str | None  # where its first API pass starts (None: the dump had no row)


@dataclass(frozen=True)
class SeedDone:
    """Every batch of a cycle's dump load is queued before this: mark its units seeded, with
    the watermarks their first API pass starts from. `reply` is set once committed."""

    cycle: int
    units: tuple[SeededUnit, ...]
    snapshot: str  # when the dump was taken
    reply: Future[None]


@dataclass(frozen=True)
class CommitResult:
    message: object
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_no_sub_id: int = 0
    superseded: int = 0
    completed: tuple[tuple[str, int], ...] = ()  # units whose pass this commit completed


def save_page(conn: sqlite3.Connection, msg: PageFetched, now: str) -> CommitResult:
    """ONE transaction: upsert the rows on sub_id, move every member of the chain to the
    chain's new cursor, and complete them all when the page ends the pass. Either all of it
    commits or none of it."""
    only = msg.committee_ids[0] if len(msg.committee_ids) == 1 else None
    with transaction(conn):
        for committee_id in msg.committee_ids:
            _ensure_unit(conn, committee_id, msg.cycle, now)
        if msg.starts_pass:
            _start_pass(conn, msg, now)
        counts = upsert_rows(conn, msg.rows, only, now)
        index_new_rows(conn)
        _advance_chain(conn, msg, now)
        superseded = 0
        if msg.done:
            for committee_id in msg.committee_ids:
                superseded += _complete_unit(conn, committee_id, msg.cycle, now)
    if counts.skipped_no_sub_id:
        logger.warning("skipped %d row(s) without sub_id from %s, cycle %s",
                       counts.skipped_no_sub_id, ", ".join(msg.committee_ids), msg.cycle)
    completed = tuple((c, msg.cycle) for c in msg.committee_ids) if msg.done else ()
    return _result(msg, counts, superseded, completed)


def save_window_page(conn: sqlite3.Connection, msg: WindowPage, now: str) -> CommitResult:
    """ONE transaction: the rows, and on the last page the window's rows not seen again."""
    with transaction(conn):
        counts = upsert_rows(conn, msg.rows, msg.committee_id, now)
        index_new_rows(conn)
        superseded = 0
        if msg.done:
            superseded = supersede_window(conn, msg.committee_id, msg.cycle, msg.window,
                                          msg.started_at, now)
    return _result(msg, counts, superseded)


def save_checks(conn: sqlite3.Connection, msg: ChecksDone, now: str) -> CommitResult:
    with transaction(conn):
        conn.executemany(
            "UPDATE sync_state SET verify_status = ?, verified_at = ?, upstream_rows = ?,"
            " local_rows = ?, verify_scope = ?, live_rows = ?, updated_at = ?"
            " WHERE committee_id = ? AND cycle = ?",
            [(c.status, now, c.upstream_rows, c.local_rows, c.scope, c.live_rows, now,
              c.committee_id, c.cycle) for c in msg.checks],
        )
    return CommitResult(msg)


def answer(conn: sqlite3.Connection, msg: CountQuery) -> CommitResult:
    """Reads only: no transaction of its own, the committed state as it stands."""
    found: dict[str, Any] = {"live": live_counts(conn, msg.units)}
    if msg.dates_of is not None:
        found["dates"] = live_dates(conn, msg.dates_of)
    msg.reply.set_result(found)
    return CommitResult(msg)


def save_seed_rows(conn: sqlite3.Connection, msg: SeedRows, now: str) -> CommitResult:
    with transaction(conn):
        counts = upsert_rows(conn, msg.rows, None, now)
        index_new_rows(conn)
    return _result(msg, counts)


def save_seeded(conn: sqlite3.Connection, msg: SeedDone, now: str) -> CommitResult:
    """ONE transaction: each unit starts over as pending (a cursor of an earlier API pass is
    dropped: the incremental pass from the dump's watermark covers what it had left), with
    the dump's watermark. A unit that has completed a pass meanwhile is left alone."""
    with transaction(conn):
        for unit in msg.units:
            _ensure_unit(conn, unit.committee_id, msg.cycle, now)
        conn.executemany(
            "UPDATE sync_state SET status = 'pending', cursor = NULL, chain_id = NULL,"
            " pass_min_load_date = NULL, pass_sort = NULL, pass_started_at = NULL,"
            " pass_max_load_date = NULL, rows_seen = 0, requests = 0, last_error = NULL,"
            " loaded_through = :watermark, seeded_at = :now, seed_rows = :rows,"
            " seed_snapshot = :snapshot, updated_at = :now"
            " WHERE committee_id = :committee_id AND cycle = :cycle AND completed_at IS NULL",
            [{"watermark": u.watermark, "now": now, "rows": u.rows, "snapshot": msg.snapshot,
              "committee_id": u.committee_id, "cycle": msg.cycle} for u in msg.units],
        )
    msg.reply.set_result(None)
    return CommitResult(msg)


def fail_unit(conn: sqlite3.Connection, msg: UnitFailed, now: str) -> CommitResult:
    """Mark the unit failed; its cursor stays, so the next run resumes where it stopped."""
    with transaction(conn):
        _ensure_unit(conn, msg.committee_id, msg.cycle, now)
        conn.execute(
            "UPDATE sync_state SET status = 'failed', last_error = ?, chain_id = NULL,"
            " updated_at = ? WHERE committee_id = ? AND cycle = ?",
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


def _start_pass(conn: sqlite3.Connection, msg: PageFetched, now: str) -> None:
    """A new pass for every member: its parameters, no cursor yet, counters from zero."""
    conn.executemany(
        "UPDATE sync_state SET status = 'running', cursor = NULL, pass_min_load_date = ?,"
        " pass_sort = ?, pass_started_at = ?, pass_max_load_date = NULL, rows_seen = 0,"
        " requests = 0, updated_at = ? WHERE committee_id = ? AND cycle = ?",
        [(msg.min_load_date, msg.sort, now, now, committee_id, msg.cycle)
         for committee_id in msg.committee_ids],
    )


def _advance_chain(conn: sqlite3.Connection, msg: PageFetched, now: str) -> None:
    """Each member takes the chain's cursor and id, its own rows and newest load_date of the
    page, and one request (the chain's request read every member's rows)."""
    cursor = json.dumps(msg.cursor, sort_keys=True) if msg.cursor is not None else None
    rows: dict[str, int] = dict.fromkeys(msg.committee_ids, 0)
    newest: dict[str, str | None] = dict.fromkeys(msg.committee_ids)
    for row in msg.rows:
        committee_id = str(row.get("committee_id") or msg.committee_ids[0]).upper()
        if committee_id in rows:
            rows[committee_id] += 1
            loaded = row.get("load_date")
            if loaded and (newest[committee_id] is None or str(loaded) > str(newest[committee_id])):
                newest[committee_id] = str(loaded)
    conn.executemany(
        "UPDATE sync_state SET status = 'running', chain_id = :chain, cursor = :cursor,"
        " pass_max_load_date = CASE WHEN pass_max_load_date IS NULL"
        "   OR pass_max_load_date < :page_max THEN :page_max ELSE pass_max_load_date END,"
        " rows_seen = rows_seen + :rows, requests = requests + 1, updated_at = :now"
        " WHERE committee_id = :committee_id AND cycle = :cycle",
        [{"chain": msg.chain_id, "cursor": cursor, "page_max": newest[c], "rows": rows[c],
          "now": now, "committee_id": c, "cycle": msg.cycle} for c in msg.committee_ids],
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
        "UPDATE sync_state SET status = 'complete', cursor = NULL, chain_id = NULL,"
        " last_error = NULL,"
        " full_completed_at = CASE WHEN pass_min_load_date IS NULL THEN :now"
        "   ELSE full_completed_at END,"
        " loaded_through = CASE WHEN loaded_through IS NULL OR loaded_through < pass_max_load_date"
        "   THEN pass_max_load_date ELSE loaded_through END,"
        " completed_at = :now, updated_at = :now"
        " WHERE committee_id = :committee_id AND cycle = :cycle",
        {"now": now, "committee_id": committee_id, "cycle": cycle},
    )
    return superseded


def _result(msg: object, counts: UpsertCounts, superseded: int = 0,
            completed: tuple[tuple[str, int], ...] = ()) -> CommitResult:
    return CommitResult(msg, counts.inserted, counts.updated, counts.unchanged,
                        counts.skipped_no_sub_id, superseded, completed)


def apply_message(conn: sqlite3.Connection, msg: object, now: str) -> CommitResult:
    """Commit one queued message in its own transaction."""
    if isinstance(msg, PageFetched):
        return save_page(conn, msg, now)
    if isinstance(msg, WindowPage):
        return save_window_page(conn, msg, now)
    if isinstance(msg, CountQuery):
        return answer(conn, msg)
    if isinstance(msg, ChecksDone):
        return save_checks(conn, msg, now)
    if isinstance(msg, UnitFailed):
        return fail_unit(conn, msg, now)
    if isinstance(msg, SeedRows):
        return save_seed_rows(conn, msg, now)
    if isinstance(msg, SeedDone):
        return save_seeded(conn, msg, now)
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

    def put(self, message: object) -> bool:
        """Queue `message`, blocking while the queue is full; False if this writer has
        already exited, so that a producer is never stuck on a queue nobody drains."""
        while True:
            try:
                self.messages.put(message, timeout=0.2)
                return True
            except queue.Full:
                if not self.is_alive():
                    return False

    def run(self) -> None:
        try:
            self._write_all()
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.error = exc
            self.stop.set()
            logger.debug("writer failed", exc_info=True)
            for msg in self._messages():
                if isinstance(msg, (CountQuery, SeedDone)):  # its sender waits for an answer
                    msg.reply.set_exception(exc)

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

