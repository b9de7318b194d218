"""The plan of a run: which (committee, cycle) units to page, how, and from where.

Read before the writer thread starts. Times are ISO-8601 UTC strings; `now` is a parameter
so that callers (and tests) decide what time it is.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from db.rows import in_filter, moment_of, parse_time, read_rows, writing


@dataclass(frozen=True)
class UnitPlan:
    committee_id: str
    cycle: int
    cursor: dict[str, Any] | None  # resume after this page; None = start of a pass
    min_load_date: str | None
    resumed: bool  # True: continue the stored pass (in its stored chain)
    chain_id: int | None = None  # the chain a resumed pass runs in (None: on its own)
    size: int | None = None  # rows the new pass is expected to read, when an earlier pass tells
    rows_read: int = 0  # rows the resumed pass has read so far


def plan_units(conn: sqlite3.Connection, cycles: Sequence[int],
               bioguide_ids: Sequence[str] | None = None, *, full: bool = False,
               refresh_after_hours: float = 12.0, overlap_days: int = 3,
               now: str | None = None,
               current_run: int | None = None) -> tuple[list[UnitPlan], int]:
    """The units to sync and how many were skipped as fresh.

    Units are the distinct (committee, cycle) of the selected politicians' mappings. A unit
    completed less than `refresh_after_hours` ago is skipped; with `full`, only a unit whose
    full pass completed since an unfinished earlier --full run began (that run is being
    resumed). A unit with a stored cursor resumes its pass; any other starts a pass,
    incremental when it has a watermark (unless `full`).
    """
    moment = moment_of(now)
    states = {(row["committee_id"], row["cycle"]): row
              for row in read_rows(conn, "SELECT * FROM sync_state")}
    resume_full = _unfinished_full_since(conn, current_run) if full else None
    plans: list[UnitPlan] = []
    skipped = 0
    for key in _select_units(conn, cycles, bioguide_ids):
        stored = states.get(key)
        if (_full_done_since(stored, resume_full) if full
                else _fresh(stored, moment, refresh_after_hours)):
            skipped += 1
        else:
            plans.append(_plan(key, stored, full, overlap_days))
    _mark_pending(conn, [key for key in ((p.committee_id, p.cycle) for p in plans)
                         if key not in states], moment)
    return plans, skipped


def _select_units(conn: sqlite3.Connection, cycles: Sequence[int],
                  bioguide_ids: Sequence[str] | None) -> list[tuple[str, int]]:
    cycle_filter, cycle_params = in_filter("cycle", list(cycles))
    where, params = in_filter("bioguide_id", bioguide_ids)
    rows = read_rows(conn, "SELECT DISTINCT committee_id, cycle FROM fec_mappings"
                 f" WHERE {cycle_filter} AND {where} ORDER BY committee_id, cycle",
                 [*cycle_params, *params])
    return [(row["committee_id"], row["cycle"]) for row in rows]


def _unfinished_full_since(conn: sqlite3.Connection, current_run: int | None) -> str | None:
    """When the chain of --full runs that did not complete began, if the last one didn't."""
    since = None
    for row in read_rows(conn, "SELECT run_id, started_at, status, options FROM runs"
                     " ORDER BY run_id DESC"):
        if row["run_id"] == current_run or not _was_full(row["options"]):
            continue
        if row["status"] == "complete":
            break
        since = row["started_at"]
    return since


def _was_full(options: str | None) -> bool:
    try:
        return bool(json.loads(options or "{}").get("full"))
    except (ValueError, AttributeError):
        return False


def _full_done_since(stored: sqlite3.Row | None, since: str | None) -> bool:
    if since is None or stored is None or stored["status"] != "complete":
        return False
    return bool(stored["full_completed_at"]) and stored["full_completed_at"] >= since


def _fresh(stored: sqlite3.Row | None, moment: dt.datetime, refresh_after_hours: float) -> bool:
    if stored is None or stored["status"] != "complete":
        return False
    completed = parse_time(stored["completed_at"])
    return completed is not None and moment - completed < dt.timedelta(hours=refresh_after_hours)


def _plan(key: tuple[str, int], stored: sqlite3.Row | None, full: bool,
          overlap_days: int) -> UnitPlan:
    cursor = _stored_cursor(stored)
    # A --full run resumes only a full pass: an incremental one would not honour it. Nor
    # does it resume a failed unit: starting over is the way out of a cursor gone bad.
    restart = full and (stored is None or stored["pass_min_load_date"] is not None
                        or stored["status"] == "failed")
    if stored is not None and cursor is not None and not restart:
        return UnitPlan(key[0], key[1], cursor, stored["pass_min_load_date"], resumed=True,
                        chain_id=stored["chain_id"], rows_read=int(stored["rows_seen"] or 0))
    watermark = None if full or stored is None else _watermark(stored)
    # A unit just seeded from a dump starts from the dump's own watermark: it already holds
    # the margin a dump's snapshot needs (two days), so no overlap comes on top.
    seeded = stored is not None and stored["seeded_at"] and stored["completed_at"] is None
    min_load_date = _minus_days(watermark, 0 if seeded else overlap_days)
    return UnitPlan(key[0], key[1], None, min_load_date, resumed=False,
                    size=_last_pass_rows(stored, min_load_date))


def _watermark(stored: sqlite3.Row) -> str | None:
    """Where an incremental pass may start (before the overlap): the newest load_date seen,
    or, if later, the day before the last complete pass began. Every row loaded before that
    pass began was visible to it, so a unit with nothing new moves on too, and units synced
    the same night share a watermark and can share a chain. The day's margin covers the
    API's server-local load_date and its caches."""
    loaded = stored["loaded_through"]
    started = parse_time(stored["pass_started_at"]) if stored["status"] == "complete" else None
    if started is None:
        return str(loaded) if loaded else None
    checked = (started - dt.timedelta(days=1)).date().isoformat()
    return max(str(loaded)[:10], checked) if loaded else checked


def _last_pass_rows(stored: sqlite3.Row | None, min_load_date: str | None) -> int | None:
    """Rows the pass about to start will probably read: for a full pass the unit's live rows
    at its last count check; else what the last completed pass of the same kind (full or
    incremental) read. A full pass says nothing about an incremental one."""
    if stored is None:
        return None
    if min_load_date is None and stored["live_rows"] is not None:
        return int(stored["live_rows"])
    if stored["status"] != "complete":
        return None
    if (stored["pass_min_load_date"] is None) != (min_load_date is None):
        return None
    return int(stored["rows_seen"] or 0)


def _stored_cursor(stored: sqlite3.Row | None) -> dict[str, Any] | None:
    if stored is None or stored["status"] not in ("running", "failed") or not stored["cursor"]:
        return None
    try:
        cursor = json.loads(stored["cursor"])
    except ValueError:
        return None  # unreadable: a new pass is safe, only slower
    return cursor if isinstance(cursor, dict) else None


def _minus_days(watermark: str | None, days: int) -> str | None:
    """min_load_date for an incremental pass: the watermark's date minus the overlap."""
    if not watermark:
        return None
    try:
        day = dt.date.fromisoformat(watermark[:10])
    except ValueError:
        return None
    return (day - dt.timedelta(days=days)).isoformat()


def _mark_pending(conn: sqlite3.Connection, units: list[tuple[str, int]],
                  moment: dt.datetime) -> None:
    """New units appear in the status view as pending before their first page."""
    if not units:
        return
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with writing(conn):
        conn.executemany("INSERT INTO sync_state (committee_id, cycle, status, updated_at)"
                         " VALUES (?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                         [(cid, cycle, stamp) for cid, cycle in units])


def units_to_check(conn: sqlite3.Connection, cycles: Sequence[int],
                   bioguide_ids: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """Complete units of the selection whose counts were not checked since their last pass
    completed, or were found to differ."""
    states = {(row["committee_id"], row["cycle"]): row for row in read_rows(
        conn, "SELECT committee_id, cycle, status, completed_at, verify_status, verified_at"
              " FROM sync_state WHERE status = 'complete'")}
    due = []
    for key in _select_units(conn, cycles, bioguide_ids):
        row = states.get(key)
        if row is not None and (row["verify_status"] != "verified" or row["verified_at"] is None
                                or row["verified_at"] < (row["completed_at"] or "")):
            due.append(key)
    return due


def units_to_seed(conn: sqlite3.Connection,
                  units: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Of `units`, those a dump may load: never through a complete pass, never seeded."""
    states = {(row["committee_id"], row["cycle"]): row for row in read_rows(
        conn, "SELECT committee_id, cycle, completed_at, seeded_at FROM sync_state")}
    due = []
    for key in sorted(set(units)):
        row = states.get(key)
        if row is None or (row["completed_at"] is None and row["seeded_at"] is None):
            due.append(key)
    return due


def next_chain_id(conn: sqlite3.Connection) -> int:
    """A chain id no stored chain uses."""
    row = conn.execute("SELECT MAX(chain_id) FROM sync_state").fetchone()
    return int(row[0] or 0) + 1


def unit_states(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every unit's sync_state row, ordered by committee and cycle."""
    return read_rows(conn, "SELECT * FROM sync_state ORDER BY committee_id, cycle")


