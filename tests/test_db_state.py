"""db.state: politicians, committee mappings, the unit plan and runs."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from db import plan as planning
from db import schema, state
from db.plan import UnitPlan
from tests.dbtools import NOW, query

SORT = "contribution_receipt_date"


@dataclass(frozen=True)
class Person:
    bioguide_id: str
    name: str
    party: str | None = "D"
    state: str | None = "IL"
    chamber: str | None = "house"
    fec_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    candidate_id: str
    committee_id: str
    cycle: int
    name: str | None = "FRIENDS OF SOMEONE"
    designation: str = "P"


@pytest.fixture
def mapped(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Two politicians sharing committee C2; A has C1 in 2024 and 2026."""
    state.save_politicians(conn, [Person("A000001", "Ann", fec_ids=("H1",)),
                                  Person("B000002", "Bob", fec_ids=("S2", "H2"))], "src", NOW)
    state.save_mappings(conn, "A000001", [2024, 2026],
                        [Link("H1", "C1", 2024), Link("H1", "C1", 2026), Link("H1", "C2", 2024)],
                        NOW, "api")
    state.save_mappings(conn, "B000002", [2024], [Link("S2", "C2", 2024)], NOW, "api")
    return conn


def set_unit(conn: sqlite3.Connection, committee_id: str, cycle: int, **columns: Any) -> None:
    conn.execute("INSERT INTO sync_state (committee_id, cycle) VALUES (?, ?)"
                 " ON CONFLICT DO NOTHING", (committee_id, cycle))
    for name, value in columns.items():
        conn.execute(f"UPDATE sync_state SET {name} = ? WHERE committee_id = ? AND cycle = ?",
                     (value, committee_id, cycle))


def plan(conn: sqlite3.Connection, cycles: list[int] | None = None,
         ids: list[str] | None = None, **kwargs: Any) -> tuple[list[UnitPlan], int]:
    options: dict[str, Any] = {"full": False, "refresh_after_hours": 12, "overlap_days": 3,
                               "now": NOW, **kwargs}
    return planning.plan_units(conn, cycles or [2024], ids, **options)


# --- politicians and mappings -------------------------------------------------------------------


def test_politicians_are_saved_and_updated(conn: sqlite3.Connection, db_path: Path) -> None:
    assert state.save_politicians(conn, [Person("A000001", "Ann", fec_ids=("H1", "S1"))],
                                  "legislators.json", NOW) == 1
    state.save_politicians(conn, [Person("A000001", "Ann B.", party="R", fec_ids=("H1", "S1"))],
                           "other.json", "2026-11-29T00:00:00Z")
    assert query(db_path, "SELECT * FROM politicians") == [
        ("A000001", "Ann B.", "R", "IL", "house", '["H1", "S1"]', "other.json",
         "2026-11-29T00:00:00Z")]


def test_new_candidate_ids_make_a_politician_resolve_again(mapped: sqlite3.Connection) -> None:
    assert state.politicians_needing_resolution(mapped, [2024], now=NOW) == []
    state.save_politicians(mapped, [Person("A000001", "Ann", fec_ids=("H1",)),
                                    Person("B000002", "Bob", fec_ids=("S2", "H2", "H9"))],
                           "src", NOW)
    assert state.politicians_needing_resolution(mapped, [2024], now=NOW) == [
        ("B000002", ("S2", "H2", "H9"))]


def test_politicians_needing_resolution(mapped: sqlite3.Connection) -> None:
    state.save_politicians(mapped, [Person("C000003", "Cy")], "src", NOW)
    # C never resolved; B resolved for 2024 only; A for both cycles.
    assert state.politicians_needing_resolution(mapped, [2024], None, 7, NOW) == [
        ("C000003", ())]
    assert state.politicians_needing_resolution(mapped, [2024, 2026], now=NOW) == [
        ("B000002", ("S2", "H2")), ("C000003", ())]
    assert state.politicians_needing_resolution(mapped, [2024, 2026], ["A000001", "B000002"],
                                                now=NOW) == [("B000002", ("S2", "H2"))]
    eight_days_later = "2026-12-06T12:00:00Z"
    assert [p for p, _ in state.politicians_needing_resolution(
        mapped, [2024], now=eight_days_later)] == ["A000001", "B000002", "C000003"]
    assert [p for p, _ in state.politicians_needing_resolution(
        mapped, [2024], max_age_days=10, now=eight_days_later)] == ["C000003"]


def test_save_mappings_replaces_only_the_given_cycles(mapped: sqlite3.Connection,
                                                      db_path: Path) -> None:
    later = "2026-11-30T00:00:00Z"
    state.save_mappings(mapped, "A000001", [2024],
                        [Link("H1", "C3", 2024), Link("H1", "C9", 2022)], later, "api2")
    assert query(db_path, "SELECT committee_id, cycle, resolved_at, provenance FROM fec_mappings"
                 " WHERE bioguide_id = 'A000001' ORDER BY cycle, committee_id") == [
        ("C3", 2024, later, "api2"), ("C1", 2026, NOW, "api")]  # 2022 was not asked for
    assert query(db_path, "SELECT cycle, resolved_at FROM resolutions"
                 " WHERE bioguide_id = 'A000001' ORDER BY cycle") == [(2024, later), (2026, NOW)]


def test_a_politician_resolved_to_nothing_is_recorded_and_reported(
        mapped: sqlite3.Connection) -> None:
    state.save_politicians(mapped, [Person("C000003", "Cy", fec_ids=("H3",)),
                                    Person("D000004", "Di")], "src", NOW)
    state.save_mappings(mapped, "C000003", [2024, 2026], [], NOW, "api")
    state.save_mappings(mapped, "B000002", [2026], [], NOW, "api")
    assert state.politicians_needing_resolution(mapped, [2024, 2026], ["C000003"], now=NOW) == []
    # B has a 2024 mapping; D was never resolved, so it is not known to be unresolvable yet.
    assert state.unresolved_politicians(mapped, [2024, 2026]) == [("C000003", ("H3",))]
    assert state.unresolved_politicians(mapped, [2026]) == [("B000002", ("S2", "H2")),
                                                            ("C000003", ("H3",))]
    assert state.unresolved_politicians(mapped, [2026], ["B000002"]) == [
        ("B000002", ("S2", "H2"))]


# --- plan_units ---------------------------------------------------------------------------------


def test_units_are_distinct_committee_cycles_of_the_selection(mapped: sqlite3.Connection,
                                                              db_path: Path) -> None:
    plans, skipped = plan(mapped, [2024, 2026])
    assert skipped == 0
    assert plans == [UnitPlan("C1", 2024, None, None, False),
                     UnitPlan("C1", 2026, None, None, False),
                     UnitPlan("C2", 2024, None, None, False)]  # shared by A and B: once
    assert [(p.committee_id, p.cycle) for p in plan(mapped, [2024], ["B000002"])[0]] == [
        ("C2", 2024)]
    assert query(db_path, "SELECT committee_id, cycle, status FROM sync_state ORDER BY 1, 2") == [
        ("C1", 2024, "pending"), ("C1", 2026, "pending"), ("C2", 2024, "pending")]


@pytest.mark.parametrize(("completed_at", "refresh", "skipped"), [
    ("2026-11-28T10:00:00Z", 12, True),    # 2 h ago
    ("2026-11-27T23:00:00Z", 12, False),   # 13 h ago
    ("2026-11-28T11:59:00Z", 0, False),    # --refresh-after 0 re-checks every unit
])
def test_recently_completed_units_are_skipped(mapped: sqlite3.Connection, completed_at: str,
                                              refresh: float, skipped: bool) -> None:
    set_unit(mapped, "C1", 2024, status="complete", completed_at=completed_at,
             loaded_through="2024-10-17T03:12:45.123000")
    plans, count = plan(mapped, refresh_after_hours=refresh)
    assert count == int(skipped)
    assert ("C1" in [p.committee_id for p in plans]) is not skipped


def test_an_incremental_pass_starts_overlap_days_before_the_watermark(
        mapped: sqlite3.Connection) -> None:
    set_unit(mapped, "C1", 2024, status="complete", completed_at="2026-11-27T00:00:00Z",
             loaded_through="2024-10-17T03:12:45.123000")
    plans, _ = plan(mapped, overlap_days=3)
    assert plans[0] == UnitPlan("C1", 2024, None, "2024-10-14", False)
    assert plans[1] == UnitPlan("C2", 2024, None, None, False)  # no watermark yet


@pytest.mark.parametrize(("last_min_load_date", "full", "expected"), [
    ("2024-10-01", False, 340),   # incremental after incremental: a fair guess
    (None, True, 340),            # full after full
    (None, False, None),          # the first incremental pass after a full one: no idea
    ("2024-10-01", True, None),
])
def test_the_last_pass_size_is_the_size_prior(mapped: sqlite3.Connection,
                                              last_min_load_date: str | None, full: bool,
                                              expected: int | None) -> None:
    set_unit(mapped, "C1", 2024, status="complete", completed_at="2026-11-27T00:00:00Z",
             loaded_through="2024-10-17T03:12:45", pass_min_load_date=last_min_load_date,
             requests=4, rows_seen=340)
    plans, _ = plan(mapped, full=full)
    assert (plans[0].committee_id, plans[0].size) == ("C1", expected)
    assert plans[1].size is None  # never synced


@pytest.mark.parametrize(("loaded_through", "expected"), [
    ("2024-10-17T03:12:45", "2026-11-23"),  # nothing new for a while: the last pass's start
    ("2026-11-27T01:00:00", "2026-11-24"),  # rows loaded since: the newest load_date
])
def test_an_incremental_pass_starts_from_the_later_of_load_date_and_last_check(
        mapped: sqlite3.Connection, loaded_through: str, expected: str) -> None:
    set_unit(mapped, "C1", 2024, status="complete", completed_at="2026-11-27T00:30:00Z",
             pass_started_at="2026-11-27T00:00:00.000000Z", loaded_through=loaded_through)
    plans, _ = plan(mapped, overlap_days=3)
    # the day before the last pass began, less the overlap: its start was seen whole
    assert plans[0] == UnitPlan("C1", 2024, None, expected, False)


def test_full_ignores_freshness_and_the_watermark(mapped: sqlite3.Connection) -> None:
    set_unit(mapped, "C1", 2024, status="complete", completed_at="2026-11-28T11:00:00Z",
             loaded_through="2024-10-17T03:12:45")
    plans, skipped = plan(mapped, full=True)
    assert skipped == 0
    assert plans[0] == UnitPlan("C1", 2024, None, None, False, size=0)  # its full pass read 0


@pytest.mark.parametrize("status", ["running", "failed"])
def test_a_stored_cursor_resumes_its_pass_with_its_parameters(mapped: sqlite3.Connection,
                                                              status: str) -> None:
    cursor = {"last_index": "4110620241234567890", "sort_null_only": True,
              "last_contribution_receipt_date": None}
    set_unit(mapped, "C1", 2024, status=status, cursor=json.dumps(cursor),
             pass_min_load_date="2024-09-01", pass_sort="contribution_receipt_date",
             loaded_through="2024-10-17T03:12:45")
    plans, _ = plan(mapped)
    assert plans[0] == UnitPlan("C1", 2024, cursor, "2024-09-01", True)


def test_a_resumed_pass_keeps_its_chain_and_the_rows_it_read(mapped: sqlite3.Connection) -> None:
    for committee_id, rows in (("C1", 120), ("C2", 7)):
        set_unit(mapped, committee_id, 2024, status="running", cursor='{"last_index": "9"}',
                 chain_id=12, rows_seen=rows, pass_started_at=NOW)
    plans, _ = plan(mapped)
    assert [(p.committee_id, p.chain_id, p.rows_read, p.resumed) for p in plans] == [
        ("C1", 12, 120, True), ("C2", 12, 7, True)]
    assert planning.next_chain_id(mapped) == 13


def test_full_resumes_only_a_full_pass(mapped: sqlite3.Connection) -> None:
    set_unit(mapped, "C1", 2024, status="running", cursor='{"last_index": "1"}',
             pass_min_load_date="2024-09-01", pass_sort=SORT)
    set_unit(mapped, "C2", 2024, status="running", cursor='{"last_index": "2"}',
             pass_min_load_date=None, pass_sort=SORT)
    state.save_mappings(mapped, "B000002", [2024], [Link("S2", "C2", 2024),
                                                    Link("S2", "C3", 2024)], NOW, "api")
    set_unit(mapped, "C3", 2024, status="failed", cursor='{"last_index": "3"}',
             pass_min_load_date=None, pass_sort=SORT)
    plans, _ = plan(mapped, full=True)
    assert plans == [UnitPlan("C1", 2024, None, None, False),
                     UnitPlan("C2", 2024, {"last_index": "2"}, None, True),
                     # --full is the way out of a failed unit's cursor: start over
                     UnitPlan("C3", 2024, None, None, False)]


def test_a_running_unit_without_cursor_starts_a_new_pass(mapped: sqlite3.Connection) -> None:
    set_unit(mapped, "C1", 2024, status="running", cursor=None, pass_min_load_date="2024-01-01",
             loaded_through="2024-10-17T03:12:45")
    assert plan(mapped)[0][0] == UnitPlan("C1", 2024, None, "2024-10-14", False)


def test_units_are_checked_when_their_last_pass_is_newer_than_their_last_check(
        mapped: sqlite3.Connection) -> None:
    done = {"status": "complete", "completed_at": "2026-11-28T10:00:00.000000Z"}
    set_unit(mapped, "C1", 2024, **done)  # never checked
    set_unit(mapped, "C1", 2026, **done, verify_status="verified",
             verified_at="2026-11-28T10:00:01.000000Z")  # checked after its pass: done
    set_unit(mapped, "C2", 2024, **done, verify_status="differs",
             verified_at="2026-11-28T10:00:01.000000Z")  # still differed: again
    assert planning.units_to_check(mapped, [2024, 2026]) == [("C1", 2024), ("C2", 2024)]
    set_unit(mapped, "C1", 2026, completed_at="2026-11-28T11:00:00.000000Z")  # a newer pass
    assert ("C1", 2026) in planning.units_to_check(mapped, [2024, 2026])
    assert planning.units_to_check(mapped, [2026], ["B000002"]) == []


def test_a_full_pass_expects_the_live_rows_of_the_last_check(mapped: sqlite3.Connection) -> None:
    set_unit(mapped, "C1", 2024, status="complete", completed_at="2026-11-27T00:00:00Z",
             pass_min_load_date="2024-10-01", rows_seen=3, live_rows=5_120)
    plans, _ = plan(mapped, full=True)
    assert (plans[0].committee_id, plans[0].size) == ("C1", 5_120)


# --- status and runs ----------------------------------------------------------------------------


def test_unit_states_lists_every_unit(mapped: sqlite3.Connection) -> None:
    set_unit(mapped, "C2", 2024, status="failed", last_error="boom")
    set_unit(mapped, "C1", 2026, status="complete")
    rows = planning.unit_states(mapped)
    assert [(r["committee_id"], r["cycle"], r["status"], r["last_error"]) for r in rows] == [
        ("C1", 2026, "complete", None), ("C2", 2024, "failed", "boom")]


def test_a_run_is_recorded_from_start_to_finish(conn: sqlite3.Connection, db_path: Path) -> None:
    first = state.start_run(conn, {"cycles": [2024], "full": False}, NOW)
    second = state.start_run(conn, {"cycles": [2026]}, NOW)
    state.finish_run(conn, first, "stopped", 75, {"rows": {"inserted": 3}},
                     "2026-11-28T12:05:00Z", 300.5)
    assert second == first + 1
    assert query(db_path, "SELECT * FROM runs ORDER BY run_id") == [
        (first, NOW, "2026-11-28T12:05:00Z", '{"cycles": [2024], "full": false}', "stopped", 75,
         '{"rows": {"inserted": 3}}', 300.5),
        (second, NOW, None, '{"cycles": [2026]}', "running", None, None, None)]


def test_a_write_error_is_a_one_line_database_error(conn: sqlite3.Connection,
                                                    db_path: Path) -> None:
    with pytest.raises(schema.DatabaseError) as caught:
        state.save_mappings(conn, "Z999999", [2024], [Link("H1", "C1", 2024)], NOW, "api")
    assert str(caught.value) == f"{db_path}: FOREIGN KEY constraint failed"
    assert query(db_path, "SELECT count(*) FROM fec_mappings") == [(0,)]
