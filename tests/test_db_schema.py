"""Schema creation, migration through PRAGMA user_version, and how files are opened."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from db import schema
from tests.dbtools import query, raw

TABLES = {"politicians", "fec_mappings", "resolutions", "donations", "sync_state", "runs",
          "committee_cycles"}

# A version-1 file as the first release wrote it, frozen here on purpose: if someone edits
# MIGRATIONS[0] instead of adding a step, files already in the field stop migrating.
V1_DDL = """
CREATE TABLE politicians (bioguide_id TEXT PRIMARY KEY, name TEXT NOT NULL, party TEXT,
  state TEXT, chamber TEXT, fec_ids TEXT NOT NULL DEFAULT '[]', source TEXT,
  loaded_at TEXT NOT NULL);
CREATE TABLE fec_mappings (bioguide_id TEXT NOT NULL REFERENCES politicians (bioguide_id),
  candidate_id TEXT NOT NULL, committee_id TEXT NOT NULL, committee_name TEXT, designation TEXT,
  cycle INTEGER NOT NULL, resolved_at TEXT NOT NULL, provenance TEXT,
  PRIMARY KEY (bioguide_id, candidate_id, committee_id, cycle));
CREATE INDEX fec_mappings_cycle_committee ON fec_mappings (cycle, committee_id);
CREATE TABLE donations (sub_id TEXT PRIMARY KEY NOT NULL, committee_id TEXT NOT NULL,
  contributor_name TEXT, contributor_first_name TEXT, contributor_last_name TEXT,
  contributor_employer TEXT, contributor_occupation TEXT, contributor_city TEXT,
  contributor_state TEXT, contributor_zip TEXT, contributor_id TEXT, entity_type TEXT,
  is_individual INTEGER CHECK (is_individual IN (0, 1)), contribution_receipt_amount REAL,
  contribution_receipt_date TEXT, two_year_transaction_period INTEGER, report_year INTEGER,
  report_type TEXT, receipt_type TEXT, line_number TEXT, memo_code TEXT, memo_text TEXT,
  transaction_id TEXT, back_reference_transaction_id TEXT, file_number INTEGER,
  image_number TEXT, pdf_url TEXT, amendment_indicator TEXT, load_date TEXT,
  first_seen_at TEXT NOT NULL, last_seen_at TEXT NOT NULL, superseded_at TEXT);
CREATE INDEX donations_committee_date ON donations (committee_id, contribution_receipt_date);
CREATE INDEX donations_contributor_name ON donations (contributor_name);
CREATE TABLE sync_state (committee_id TEXT NOT NULL, cycle INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'complete', 'failed')),
  cursor TEXT, pass_min_load_date TEXT, pass_sort TEXT, pass_started_at TEXT,
  pass_max_load_date TEXT, rows_seen INTEGER NOT NULL DEFAULT 0,
  requests INTEGER NOT NULL DEFAULT 0, last_error TEXT, loaded_through TEXT,
  completed_at TEXT, updated_at TEXT, PRIMARY KEY (committee_id, cycle));
CREATE TABLE runs (run_id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
  options TEXT, status TEXT, exit_code INTEGER, summary TEXT, elapsed_s REAL);
INSERT INTO politicians VALUES ('P000001', 'Pat Doe', 'D', 'IL', 'house', '["H4IL01234"]',
  'legislators.json', '2026-01-01T00:00:00Z');
INSERT INTO fec_mappings VALUES
  ('P000001', 'H4IL01234', 'C00000001', 'DOE FOR CONGRESS', 'P', 2024, '2026-01-02T00:00:00Z', 'x'),
  ('P000001', 'H4IL01234', 'C00000002', 'DOE VICTORY', 'A', 2024, '2026-01-01T00:00:00Z', 'x');
INSERT INTO donations (sub_id, committee_id, contribution_receipt_amount, first_seen_at,
  last_seen_at) VALUES ('4110620241234567890', 'C00000001', 250.0, '2026-01-03T00:00:00Z',
  '2026-01-03T00:00:00Z');
PRAGMA user_version = 1;
"""


def schema_objects(path: Path) -> list[tuple[object, ...]]:
    return sorted(query(path, "SELECT type, name, sql FROM sqlite_master"), key=repr)


def user_version(path: Path) -> int:
    return int(query(path, "PRAGMA user_version")[0][0])


def test_schema_is_created_on_an_empty_file(db_path: Path) -> None:
    db_path.touch()  # an empty file is a valid, empty database
    with contextlib.closing(schema.connect(db_path)) as conn:
        names = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'donations_fts%'")}  # the search index: test_explore_search
        pragmas = {name: conn.execute(f"PRAGMA {name}").fetchone()[0]
                   for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
        assert isinstance(conn.execute("SELECT 1 AS one").fetchone(), sqlite3.Row)
    assert names == TABLES
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1,
                       "busy_timeout": schema.BUSY_TIMEOUT_MS}
    assert user_version(db_path) == schema.SCHEMA_VERSION == len(schema.MIGRATIONS)
    indexes = {row[0] for row in
               query(db_path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"donations_committee_date", "donations_contributor_name",
            "fec_mappings_cycle_committee"} <= indexes


def test_reopening_a_current_file_changes_nothing_and_takes_no_write_lock(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schema.connect(db_path).close()
    before = schema_objects(db_path)
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 100)
    with raw(db_path) as other:
        other.execute("BEGIN IMMEDIATE")  # a sync holding the write lock
        with contextlib.closing(schema.connect(db_path)) as conn:  # e.g. the status view
            assert conn.execute("SELECT count(*) FROM sync_state").fetchone()[0] == 0
        other.execute("ROLLBACK")
    assert schema_objects(db_path) == before
    assert user_version(db_path) == schema.SCHEMA_VERSION


def test_a_version_1_file_is_migrated_and_keeps_its_data(db_path: Path) -> None:
    with raw(db_path) as conn:
        conn.executescript(V1_DDL)
    with contextlib.closing(schema.connect(db_path)) as conn:
        resolutions = conn.execute(
            "SELECT bioguide_id, cycle, resolved_at FROM resolutions").fetchall()
    assert user_version(db_path) == schema.SCHEMA_VERSION
    # An existing mapping means the politician-cycle was resolved; it was resolved by latest
    # designations only, so it is due to be resolved again.
    assert [tuple(r) for r in resolutions] == [("P000001", 2024, "1970-01-01T00:00:00.000000Z")]
    assert query(db_path, "SELECT sub_id, contribution_receipt_amount FROM donations") == [
        ("4110620241234567890", 250.0)]
    assert len(query(db_path, "SELECT * FROM fec_mappings")) == 2


def test_migration_steps_are_idempotent(db_path: Path) -> None:
    with raw(db_path) as conn:
        conn.executescript(V1_DDL)
    schema.connect(db_path).close()
    with raw(db_path) as conn:
        conn.execute("PRAGMA user_version = 0")  # as if the migration had been interrupted
    schema.connect(db_path).close()
    assert user_version(db_path) == schema.SCHEMA_VERSION
    assert query(db_path, "SELECT count(*) FROM resolutions") == [(1,)]
    assert query(db_path, "SELECT count(*) FROM donations") == [(1,)]


def test_a_file_from_a_newer_version_is_refused(db_path: Path) -> None:
    schema.connect(db_path).close()
    with raw(db_path) as conn:
        conn.execute("PRAGMA user_version = 9")
    with pytest.raises(schema.SchemaTooNew) as caught:
        schema.connect(db_path)
    assert str(caught.value) == (
        f"{db_path} has schema version 9, newer than this sync_donations supports "
        f"({schema.SCHEMA_VERSION}); "
        "upgrade sync_donations"
    )
    assert isinstance(caught.value, schema.DatabaseError)
    assert user_version(db_path) == 9


@pytest.mark.parametrize("version", [0, 3])
def test_another_applications_database_is_refused_and_left_as_it_was(db_path: Path,
                                                                     version: int) -> None:
    with raw(db_path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("CREATE TABLE tags (name TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
        conn.execute(f"PRAGMA user_version = {version}")
    with pytest.raises(schema.DatabaseError) as caught:
        schema.connect(db_path)
    assert str(caught.value) == (
        f"cannot open {db_path}: not a sync_donations database (it holds other tables: "
        "notes, tags); choose a new file or one sync_donations wrote")
    assert query(db_path, "SELECT name FROM sqlite_master ORDER BY name") == [("notes",),
                                                                             ("tags",)]
    assert query(db_path, "PRAGMA journal_mode") == [("delete",)]
    assert user_version(db_path) == version


def test_tables_of_ones_own_beside_the_schema_are_fine(db_path: Path) -> None:
    schema.connect(db_path).close()
    with raw(db_path) as conn:
        conn.execute("CREATE TABLE my_notes (body TEXT)")
    schema.connect(db_path).close()


def test_a_file_that_is_not_a_database_gives_one_line(db_path: Path) -> None:
    db_path.write_text("sub_id,amount\n" * 500)
    with pytest.raises(schema.DatabaseError) as caught:
        schema.connect(db_path)
    assert str(caught.value) == f"cannot open {db_path}: file is not a database"


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "donations.db"
    with pytest.raises(schema.DatabaseError) as caught:
        schema.connect(path)
    missing = tmp_path / "nowhere"
    assert str(caught.value) == f"cannot open {path}: directory {missing} does not exist"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any directory")
def test_an_unwritable_directory_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    path = locked / "donations.db"
    try:
        with pytest.raises(schema.DatabaseError) as caught:
            schema.connect(path)
    finally:
        locked.chmod(0o700)
    assert str(caught.value) == f"cannot open {path}: directory {locked} is not writable"


def test_transaction_commits_or_rolls_back_as_a_whole(db_path: Path) -> None:
    with contextlib.closing(schema.connect(db_path)) as conn:
        with pytest.raises(RuntimeError), schema.transaction(conn):
            conn.execute("INSERT INTO runs (started_at) VALUES ('a')")
            raise RuntimeError("boom")
        with schema.transaction(conn):
            conn.execute("INSERT INTO runs (started_at) VALUES ('b')")
            with pytest.raises(schema.DatabaseError, match="already open"), \
                    schema.transaction(conn):
                pass
        assert not conn.in_transaction
    assert query(db_path, "SELECT started_at FROM runs") == [("b",)]


def test_a_connection_refuses_other_threads(db_path: Path) -> None:
    errors: list[BaseException] = []
    with contextlib.closing(schema.connect(db_path)) as conn:

        def touch() -> None:
            try:
                conn.execute("SELECT 1")
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=touch)
        thread.start()
        thread.join(timeout=5)
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError)


def test_v3_remembers_earlier_full_passes(db_path: Path) -> None:
    schema.connect(db_path).close()
    with raw(db_path) as conn:
        conn.execute("INSERT INTO sync_state (committee_id, cycle, status, completed_at,"
                     " pass_min_load_date) VALUES ('C1', 2024, 'complete', 'T1', NULL),"
                     " ('C2', 2024, 'complete', 'T2', '2024-01-01')")
        conn.execute("ALTER TABLE sync_state DROP COLUMN full_completed_at")
        conn.execute("PRAGMA user_version = 2")
    schema.connect(db_path).close()
    assert user_version(db_path) == schema.SCHEMA_VERSION
    assert query(db_path, "SELECT committee_id, full_completed_at FROM sync_state"
                          " ORDER BY 1") == [("C1", "T1"), ("C2", None)]


def test_v4_keeps_a_v3_unit_under_way_resumable_on_its_own(db_path: Path) -> None:
    schema.connect(db_path).close()
    with raw(db_path) as conn:
        conn.execute("ALTER TABLE sync_state DROP COLUMN chain_id")
        conn.execute("INSERT INTO sync_state (committee_id, cycle, status, cursor)"
                     " VALUES ('C1', 2024, 'running', '{\"last_index\": \"7\"}')")
        conn.execute("PRAGMA user_version = 3")
    schema.connect(db_path).close()
    assert user_version(db_path) == schema.SCHEMA_VERSION
    assert query(db_path, "SELECT committee_id, status, cursor, chain_id FROM sync_state") == [
        ("C1", "running", '{"last_index": "7"}', None)]


def test_mappings_made_before_per_cycle_designations_are_resolved_again(db_path: Path) -> None:
    from db import state

    schema.connect(db_path).close()
    before = schema.MIGRATIONS.index(schema._V6_COMMITTEE_CYCLES)  # the version it upgrades
    with raw(db_path) as conn:
        conn.execute("INSERT INTO politicians VALUES ('P000001', 'Pat Doe', 'D', 'IL', 'house',"
                     " '[\"H4IL01234\"]', 'legislators.json', '2026-01-01T00:00:00Z')")
        conn.execute("INSERT INTO fec_mappings VALUES ('P000001', 'H4IL01234', 'C00000001',"
                     " 'DOE FOR CONGRESS', 'P', 2024, '2026-11-20T00:00:00Z', 'x')")
        conn.execute("INSERT INTO resolutions VALUES ('P000001', 2024, '2026-11-20T00:00:00Z')")
        conn.execute("DROP TABLE committee_cycles")
        conn.execute(f"PRAGMA user_version = {before}")
    with contextlib.closing(schema.connect(db_path)) as conn:
        due = state.politicians_needing_resolution(conn, [2024], now="2026-11-21T00:00:00Z")
    assert due == [("P000001", ("H4IL01234",))]
    assert user_version(db_path) == schema.SCHEMA_VERSION
    assert query(db_path, "SELECT count(*) FROM committee_cycles") == [(0,)]
    assert len(query(db_path, "SELECT * FROM fec_mappings")) == 1  # kept until replaced
