"""Reads and writes made outside the writer thread, before it starts or after it is joined:
politicians, their committee mappings, and runs (the plan of a run is db.plan's).

Times are ISO-8601 UTC strings ("2026-11-28T12:00:00Z"); `now` is a parameter so that
callers (and tests) decide what time it is.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

from db.rows import in_filter, moment_of, parse_time, read_rows, writing
from db.schema import DatabaseError, database_path

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


# --- helpers ------------------------------------------------------------------------------


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
    with writing(conn):
        for person in politicians:
            ids = list(person.fec_ids)
            old = read_rows(conn, "SELECT fec_ids FROM politicians WHERE bioguide_id = ?",
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


def politicians_loaded_at(conn: sqlite3.Connection) -> str | None:
    """When the legislators list was last loaded (None: never)."""
    return cast(str | None, conn.execute("SELECT MAX(loaded_at) FROM politicians").fetchone()[0])


def unknown_politicians(conn: sqlite3.Connection, bioguide_ids: Sequence[str]) -> list[str]:
    """Those of `bioguide_ids` no politician has, in the order given."""
    where, params = in_filter("bioguide_id", list(bioguide_ids))
    known = {row[0] for row in conn.execute(f"SELECT bioguide_id FROM politicians WHERE {where}",
                                            params)}
    return [bioguide_id for bioguide_id in bioguide_ids if bioguide_id not in known]


def politicians_needing_resolution(
    conn: sqlite3.Connection, cycles: Sequence[int], bioguide_ids: Sequence[str] | None = None,
    max_age_days: float = 7, now: str | None = None,
) -> list[Politician]:
    """Politicians with a requested cycle never resolved, or resolved more than
    `max_age_days` ago. `bioguide_ids` None means all politicians."""
    oldest = moment_of(now) - dt.timedelta(days=max_age_days)
    where, params = in_filter("bioguide_id", bioguide_ids)
    people = read_rows(conn, f"SELECT bioguide_id, fec_ids FROM politicians WHERE {where}"
                   " ORDER BY bioguide_id", params)
    cycle_filter, cycle_params = in_filter("cycle", list(cycles))
    resolved = {
        (row["bioguide_id"], row["cycle"]): parse_time(row["resolved_at"])
        for row in read_rows(conn, f"SELECT * FROM resolutions WHERE {cycle_filter}",
                             cycle_params)
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
    with writing(conn):
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
    with writing(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO committee_cycles (committee_id, cycle, designation,"
            " former_candidate_id, fetched_at) VALUES (?, ?, ?, ?, ?)",
            [(row.committee_id, row.cycle, row.designation, row.former_candidate_id, now)
             for row in rows])


def committee_cycles(conn: sqlite3.Connection) -> list[tuple[str, int, str | None, str | None]]:
    """(committee_id, cycle, designation, former_candidate_id) of every kept cycle."""
    return [(row["committee_id"], row["cycle"], row["designation"], row["former_candidate_id"])
            for row in read_rows(conn, "SELECT * FROM committee_cycles"
                                       " ORDER BY committee_id, cycle")]


def unresolved_politicians(conn: sqlite3.Connection, cycles: Sequence[int],
                           bioguide_ids: Sequence[str] | None = None) -> list[Politician]:
    """Politicians resolved for some requested cycle but mapped to no committee in any."""
    cycle_filter, cycle_params = in_filter("cycle", list(cycles))
    where, params = in_filter("p.bioguide_id", bioguide_ids)
    rows = read_rows(
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


# --- runs ---------------------------------------------------------------------------------


def start_run(conn: sqlite3.Connection, options: Mapping[str, Any], now: str) -> int:
    """Record the start of a run (options must not contain the API key); returns run_id."""
    with writing(conn):
        cursor = conn.execute(
            "INSERT INTO runs (started_at, options, status) VALUES (?, ?, 'running')",
            (now, json.dumps(options, sort_keys=True, default=str)),
        )
    if cursor.lastrowid is None:  # cannot happen for a rowid table; keeps the type honest
        raise DatabaseError(f"{database_path(conn)}: the new run got no run_id")
    return cursor.lastrowid


def finish_run(conn: sqlite3.Connection, run_id: int, status: str, exit_code: int,
               summary: Mapping[str, Any], now: str, elapsed_s: float) -> None:
    with writing(conn):
        conn.execute(
            "UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, summary = ?,"
            " elapsed_s = ? WHERE run_id = ?",
            (now, status, exit_code, json.dumps(summary, sort_keys=True, default=str),
             elapsed_s, run_id),
        )


def resolved_cycles(conn: sqlite3.Connection) -> list[int]:
    """Every cycle some politician's committees were resolved for."""
    return [row[0] for row in conn.execute("SELECT DISTINCT cycle FROM resolutions ORDER BY 1")]
