"""Reads and writes made outside the writer thread, before it starts or after it is joined:
politicians, their committee mappings, the plan of (committee, cycle) units, and runs.

Times are ISO-8601 UTC strings ("2026-11-28T12:00:00Z"); `now` is a parameter so that
callers (and tests) decide what time it is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from db.schema import DatabaseError, as_database_error, database_path, transaction, utc_now

Politician = tuple[str, tuple[str, ...]]  # (bioguide_id, FEC candidate ids)


class PoliticianRow(Protocol):
    """What save_politicians needs of a politician (fec.legislators.Politician fits)."""

    @property
    def bioguide_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def party(self) -> str | None: ...
    @property
    def state(self) -> str | None: ...
    @property
    def chamber(self) -> str | None: ...
    @property
    def fec_ids(self) -> Sequence[str]: ...


class CommitteeLinkRow(Protocol):
    """What save_mappings needs of a link (fec.committees.CommitteeLink fits)."""

    @property
    def candidate_id(self) -> str: ...
    @property
    def committee_id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def designation(self) -> str: ...
    @property
    def cycle(self) -> int: ...


class CommitteeCycleRow(Protocol):
    """What save_committee_cycles needs (fec.committees.CycleDesignation fits)."""

    @property
    def committee_id(self) -> str: ...
    @property
    def cycle(self) -> int: ...
    @property
    def designation(self) -> str | None: ...
    @property
    def former_candidate_id(self) -> str | None: ...


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


# --- helpers ------------------------------------------------------------------------------


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row  # whatever the connection's own factory is
    try:
        return cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()


@contextlib.contextmanager
def _writing(conn: sqlite3.Connection) -> Iterator[None]:
    """One transaction; a raw sqlite3 error becomes a one-line DatabaseError."""
    try:
        with transaction(conn):
            yield
    except sqlite3.Error as exc:
        try:
            name = database_path(conn)
        except sqlite3.Error:
            name = "database"
        raise as_database_error(exc, name) from exc


def _in(column: str, values: Sequence[Any] | None) -> tuple[str, list[Any]]:
    """A `column IN (...)` filter, or no filter at all when values is None."""
    if values is None:
        return "1", []
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def parse_time(text: str | None) -> dt.datetime | None:
    """An aware UTC datetime from an ISO-8601 string; None if empty or unreadable."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _moment(now: str | None) -> dt.datetime:
    moment = parse_time(now or utc_now())
    if moment is None:
        raise ValueError(f"not an ISO-8601 time: {now!r}")
    return moment


def _fec_ids(text: str | None) -> tuple[str, ...]:
    try:
        ids = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(i) for i in ids) if isinstance(ids, list) else ()


# --- politicians and their committees -------------------------------------------------------


def save_politicians(conn: sqlite3.Connection, politicians: Iterable[PoliticianRow],
                     source: str, now: str) -> int:
    """Insert or update politicians; returns how many were saved.

    A politician whose candidate ids changed loses its resolutions, so its committees
    are looked up again. Politicians missing from `politicians` are kept (history).
    """
    count = 0
    with _writing(conn):
        for person in politicians:
            ids = list(person.fec_ids)
            old = _rows(conn, "SELECT fec_ids FROM politicians WHERE bioguide_id = ?",
                        (person.bioguide_id,))
            if old and set(_fec_ids(old[0]["fec_ids"])) != set(ids):
                conn.execute("DELETE FROM resolutions WHERE bioguide_id = ?", (person.bioguide_id,))
            conn.execute(
                "INSERT INTO politicians (bioguide_id, name, party, state, chamber, fec_ids,"
                " source, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (bioguide_id) DO UPDATE SET name = excluded.name,"
                " party = excluded.party, state = excluded.state, chamber = excluded.chamber,"
                " fec_ids = excluded.fec_ids, source = excluded.source,"
                " loaded_at = excluded.loaded_at",
                (person.bioguide_id, person.name, person.party, person.state, person.chamber,
                 json.dumps(ids), source, now),
            )
            count += 1
    return count


def politicians_needing_resolution(
    conn: sqlite3.Connection, cycles: Sequence[int], bioguide_ids: Sequence[str] | None = None,
    max_age_days: float = 7, now: str | None = None,
) -> list[Politician]:
    """Politicians with a requested cycle never resolved, or resolved more than
    `max_age_days` ago. `bioguide_ids` None means all politicians."""
    oldest = _moment(now) - dt.timedelta(days=max_age_days)
    where, params = _in("bioguide_id", bioguide_ids)
    people = _rows(conn, f"SELECT bioguide_id, fec_ids FROM politicians WHERE {where}"
                   " ORDER BY bioguide_id", params)
    cycle_filter, cycle_params = _in("cycle", list(cycles))
    resolved = {
        (row["bioguide_id"], row["cycle"]): parse_time(row["resolved_at"])
        for row in _rows(conn, f"SELECT * FROM resolutions WHERE {cycle_filter}", cycle_params)
    }
    stale: list[Politician] = []
    for person in people:
        times = [resolved.get((person["bioguide_id"], cycle)) for cycle in cycles]
        if any(when is None or when < oldest for when in times):
            stale.append((person["bioguide_id"], _fec_ids(person["fec_ids"])))
    return stale


def save_mappings(conn: sqlite3.Connection, bioguide_id: str, cycles: Sequence[int],
                  links: Iterable[CommitteeLinkRow], now: str, provenance: str | None = None,
                  ) -> None:
    """Replace the politician's mappings for `cycles` with `links` (those of other cycles are
    ignored) and record each cycle as resolved, also when there are no links."""
    wanted = sorted(set(cycles))
    rows = [
        (bioguide_id, link.candidate_id, link.committee_id, link.name, link.designation,
         link.cycle, now, provenance)
        for link in links if link.cycle in wanted
    ]
    with _writing(conn):
        conn.executemany("DELETE FROM fec_mappings WHERE bioguide_id = ? AND cycle = ?",
                         [(bioguide_id, cycle) for cycle in wanted])
        conn.executemany(
            "INSERT OR REPLACE INTO fec_mappings (bioguide_id, candidate_id, committee_id,"
            " committee_name, designation, cycle, resolved_at, provenance)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany(
            "INSERT OR REPLACE INTO resolutions (bioguide_id, cycle, resolved_at) VALUES (?, ?, ?)",
            [(bioguide_id, cycle, now) for cycle in wanted])


def save_committee_cycles(conn: sqlite3.Connection, rows: Iterable[CommitteeCycleRow],
                          now: str) -> None:
    """Keep a committee's designation per cycle, as its history endpoint told it."""
    with _writing(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO committee_cycles (committee_id, cycle, designation,"
            " former_candidate_id, fetched_at) VALUES (?, ?, ?, ?, ?)",
            [(row.committee_id, row.cycle, row.designation, row.former_candidate_id, now)
             for row in rows])


def committee_cycles(conn: sqlite3.Connection) -> list[tuple[str, int, str | None, str | None]]:
    """(committee_id, cycle, designation, former_candidate_id) of every kept cycle."""
    return [(row["committee_id"], row["cycle"], row["designation"], row["former_candidate_id"])
            for row in _rows(conn, "SELECT * FROM committee_cycles ORDER BY committee_id, cycle")]


def unresolved_politicians(conn: sqlite3.Connection, cycles: Sequence[int],
                           bioguide_ids: Sequence[str] | None = None) -> list[Politician]:
    """Politicians resolved for some requested cycle but mapped to no committee in any."""
    cycle_filter, cycle_params = _in("cycle", list(cycles))
    where, params = _in("p.bioguide_id", bioguide_ids)
    rows = _rows(
        conn,
        "SELECT p.bioguide_id, p.fec_ids FROM politicians p"
        f" WHERE EXISTS (SELECT 1 FROM resolutions r WHERE r.bioguide_id = p.bioguide_id"
        f"   AND r.{cycle_filter})"
        f" AND NOT EXISTS (SELECT 1 FROM fec_mappings m WHERE m.bioguide_id = p.bioguide_id"
        f"   AND m.{cycle_filter})"
        f" AND {where} ORDER BY p.bioguide_id",
        [*cycle_params, *cycle_params, *params],
    )
    return [(row["bioguide_id"], _fec_ids(row["fec_ids"])) for row in rows]


# --- planning the units of a run ------------------------------------------------------------


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
    moment = _moment(now)
    states = {(row["committee_id"], row["cycle"]): row
              for row in _rows(conn, "SELECT * FROM sync_state")}
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
    cycle_filter, cycle_params = _in("cycle", list(cycles))
    where, params = _in("bioguide_id", bioguide_ids)
    rows = _rows(conn, "SELECT DISTINCT committee_id, cycle FROM fec_mappings"
                 f" WHERE {cycle_filter} AND {where} ORDER BY committee_id, cycle",
                 [*cycle_params, *params])
    return [(row["committee_id"], row["cycle"]) for row in rows]


def _unfinished_full_since(conn: sqlite3.Connection, current_run: int | None) -> str | None:
    """When the chain of --full runs that did not complete began, if the last one didn't."""
    since = None
    for row in _rows(conn, "SELECT run_id, started_at, status, options FROM runs"
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
    with _writing(conn):
        conn.executemany("INSERT INTO sync_state (committee_id, cycle, status, updated_at)"
                         " VALUES (?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                         [(cid, cycle, stamp) for cid, cycle in units])


def units_to_check(conn: sqlite3.Connection, cycles: Sequence[int],
                   bioguide_ids: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """Complete units of the selection whose counts were not checked since their last pass
    completed, or were found to differ."""
    states = {(row["committee_id"], row["cycle"]): row for row in _rows(
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
    states = {(row["committee_id"], row["cycle"]): row for row in _rows(
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
    return _rows(conn, "SELECT * FROM sync_state ORDER BY committee_id, cycle")


# --- runs ---------------------------------------------------------------------------------


def start_run(conn: sqlite3.Connection, options: Mapping[str, Any], now: str) -> int:
    """Record the start of a run (options must not contain the API key); returns run_id."""
    with _writing(conn):
        cursor = conn.execute(
            "INSERT INTO runs (started_at, options, status) VALUES (?, ?, 'running')",
            (now, json.dumps(options, sort_keys=True, default=str)),
        )
    if cursor.lastrowid is None:  # cannot happen for a rowid table; keeps the type honest
        raise DatabaseError(f"{database_path(conn)}: the new run got no run_id")
    return cursor.lastrowid


def finish_run(conn: sqlite3.Connection, run_id: int, status: str, exit_code: int,
               summary: Mapping[str, Any], now: str, elapsed_s: float) -> None:
    with _writing(conn):
        conn.execute(
            "UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, summary = ?,"
            " elapsed_s = ? WHERE run_id = ?",
            (now, status, exit_code, json.dumps(summary, sort_keys=True, default=str),
             elapsed_s, run_id),
        )


def resolved_cycles(conn: sqlite3.Connection) -> list[int]:
    """Every cycle some politician's committees were resolved for."""
    return [row[0] for row in conn.execute("SELECT DISTINCT cycle FROM resolutions ORDER BY 1")]
