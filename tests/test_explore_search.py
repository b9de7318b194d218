"""Full-text search (donations_fts) on a database synced from the fake: every word finds
exactly the rows that hold it, corrections move with the row, and the index commits with
its page."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from db import explore, schema
from db.donations import upsert_rows
from tests.dbtools import NOW, query, record
from tests.exploretools import SEARCHED, Explored, matching, stored_records, words
from tests.test_db_durability import run_until_killed

SEARCH = ("SELECT d.sub_id FROM donations_fts JOIN donations d ON d.rowid = donations_fts.rowid"
          " WHERE donations_fts MATCH ?")


def search(db: Path, word: str) -> set[str]:
    return {sub_id for (sub_id,) in query(db, SEARCH, (f'"{word}"',))}


def index_agrees_with_table(db: Path) -> bool:
    """FTS5's own check of every index entry against the content table."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            conn.execute("INSERT INTO donations_fts (donations_fts, rank)"
                         " VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError:
            return False
    return True


def test_every_word_finds_exactly_the_rows_that_hold_it(explored: Explored) -> None:
    records = stored_records(explored)
    vocabulary = set().union(*(words(r[c]) for r in records.values() for c in SEARCHED))
    assert len(vocabulary) > 150
    wrong = {w: (len(search(explored.db, w)), len(matching(records, w))) for w in vocabulary
             if search(explored.db, w) != matching(records, w)}
    assert wrong == {}
    assert index_agrees_with_table(explored.db)


def test_a_correction_is_found_by_its_new_employer_and_no_longer_by_the_old(
        explored: Explored) -> None:
    now = explored.world.expected_rows()
    checked = 0
    for sub_id, old in explored.corrected.items():
        new = now[sub_id]
        elsewhere = words(new["contributor_name"]) | words(new["contributor_occupation"])
        for word in words(old["contributor_employer"]) - words(new["contributor_employer"]):
            assert sub_id not in search(explored.db, word) or word in elsewhere
            checked += word not in elsewhere
        for word in words(new["contributor_employer"]):
            assert sub_id in search(explored.db, word)
    assert checked > 0


def test_rows_amended_away_stay_searchable_in_the_table_but_not_in_the_view(
        explored: Explored) -> None:
    sub_id, old = next((s, r) for s, r in explored.amended_away.items() if r["contributor_name"])
    word = sorted(words(old["contributor_name"]))[0]
    assert sub_id in search(explored.db, word)
    in_view = query(explored.db, "SELECT count(*) FROM donations_to_members WHERE sub_id = ?"
                                 " AND donation_rowid IN (SELECT rowid FROM donations_fts"
                                 " WHERE donations_fts MATCH ?)", (sub_id, f'"{word}"'))
    assert in_view == [(0,)]


def fresh_db(tmp_path: Path, rows: int) -> Path:
    db = tmp_path / "donations.db"
    with contextlib.closing(schema.connect(db)) as conn, schema.transaction(conn):
        upsert_rows(conn, [record(str(10**18 + i), contributor_name=f"DOE, JANE {i}")
                           for i in range(rows)], "C00000001", NOW)
        explore.index_new_rows(conn)
    return db


def test_text_updates_reindex_the_row_and_other_updates_leave_the_index_alone(
        tmp_path: Path) -> None:
    db = fresh_db(tmp_path, 3)
    index = "SELECT * FROM donations_fts_data ORDER BY id"
    before = query(db, index)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE donations SET contribution_receipt_amount = 1, last_seen_at = 'x',"
                     " contributor_employer = contributor_employer")  # what a touch does
    assert query(db, index) == before
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE donations SET contributor_occupation = 'BEEKEEPER'"
                     " WHERE sub_id = ?", (str(10**18 + 1),))
        conn.execute("DELETE FROM donations WHERE sub_id = ?", (str(10**18 + 2),))
    assert search(db, "beekeeper") == {str(10**18 + 1)}
    assert search(db, "attorney") == {str(10**18)}
    assert search(db, "doe") == {str(10**18), str(10**18 + 1)}
    assert index_agrees_with_table(db)


def test_rows_changed_before_they_are_indexed_are_indexed_as_they_are_then(
        tmp_path: Path) -> None:
    db = fresh_db(tmp_path, 2)
    with contextlib.closing(schema.connect(db)) as conn, schema.transaction(conn):
        upsert_rows(conn, [record("7" * 19, contributor_name="ROE, RICHARD"),
                           record("6" * 19, contributor_name="LOE, LOUISE")], "C00000001", NOW)
        # changed by another tool, say, before the next page indexes them
        conn.execute("UPDATE donations SET contributor_name = 'POE, EDGAR'"
                     " WHERE sub_id = ?", ("7" * 19,))
        conn.execute("DELETE FROM donations WHERE sub_id IN (?, ?)", ("6" * 19, str(10**18)))
        assert explore.index_new_rows(conn) == 1
    assert search(db, "poe") == {"7" * 19}
    assert search(db, "roe") == search(db, "loe") == set()
    assert search(db, "doe") == {str(10**18 + 1)}
    assert index_agrees_with_table(db)


def test_indexing_new_rows_does_not_read_the_rows_already_indexed(tmp_path: Path) -> None:
    """The cost of indexing a page must not grow with the table: counted in SQLite steps."""
    steps = {}
    for size in (100, 5000):
        (tmp_path / str(size)).mkdir()
        db = fresh_db(tmp_path / str(size), size)
        with contextlib.closing(schema.connect(db)) as conn, schema.transaction(conn):
            upsert_rows(conn, [record("9" * 19, contributor_name="ROE, RICHARD")],
                        "C00000001", NOW)
            count = 0

            def step() -> int:
                nonlocal count
                count += 1
                return 0

            conn.set_progress_handler(step, 10)
            assert explore.index_new_rows(conn) == 1
            conn.set_progress_handler(None, 0)
        steps[size] = count
    assert steps[5000] < 2 * steps[100]


def test_an_older_file_gets_its_existing_rows_indexed_on_migration(tmp_path: Path) -> None:
    db = tmp_path / "donations.db"
    with contextlib.closing(schema.connect(db)) as conn, schema.transaction(conn):
        upsert_rows(conn, [record(str(i), contributor_employer=f"ACME {i}") for i in range(50)],
                    "C00000001", NOW)
    with contextlib.closing(sqlite3.connect(db)) as conn:  # as a version 3 file had it
        added = conn.execute("SELECT type, name FROM sqlite_master WHERE type IN"
                             " ('view', 'trigger') OR name = 'donations_fts'").fetchall()
        for kind, name in added:
            conn.execute(f"DROP {kind.upper()} {name}")  # the index's own tables go with it
        conn.execute(f"PRAGMA user_version = {schema.MIGRATIONS.index(schema.explore.MIGRATION)}")
    assert query(db, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'donations_fts%'") \
        == [(0,)]
    schema.connect(db).close()
    assert search(db, "acme") == {str(i) for i in range(50)}
    assert search(db, "7") == {"7"}
    assert index_agrees_with_table(db)


def test_a_killed_writer_leaves_every_committed_row_indexed(tmp_path: Path) -> None:
    db = tmp_path / "donations.db"
    run_until_killed(db, 8)
    with contextlib.closing(schema.connect(db)) as conn:
        rows = conn.execute("SELECT count(*) FROM donations").fetchone()[0]
        conn.execute("BEGIN")
        unindexed = explore.index_new_rows(conn)
        conn.execute("ROLLBACK")
    assert rows >= 8 * 150 and unindexed == 0
    assert len(search(db, "donor")) == rows
    assert index_agrees_with_table(db)
