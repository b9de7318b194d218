"""The views (db/explore.py) on a database synced from the fake, checked row by row against
what the fake's world says, after the FEC amended rows away and corrected others."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from db import schema
from tests.dbtools import query
from tests.exploretools import (
    Explored,
    contributor_key,
    cycle_totals,
    member_committees,
    member_rows,
    members,
    sharing,
    top_contributors,
    top_employers,
)
from tests.support import ROOT


def copy_of(db: Path, directory: Path) -> Path:
    copy = directory / "copy.db"
    with contextlib.closing(sqlite3.connect(db)) as source, \
            contextlib.closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return copy


def rows(explored: Explored, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return query(explored.db, sql, params)


def test_the_fake_world_plants_what_the_views_must_handle(explored: Explored) -> None:
    memo = rows(explored, "SELECT count(*) FROM donations WHERE memo_code = 'X'")[0][0]
    superseded = rows(explored, "SELECT sub_id FROM donations WHERE superseded_at IS NOT NULL")
    shared = [key for key, n in sharing(explored.world).items() if n == 2]
    cycles = {cycle for _, cycle in member_committees(explored.world)}
    assert memo > 20 and len(shared) == 2 and cycles == {2024, 2026}
    assert {s for (s,) in superseded} == set(explored.amended_away)


def test_member_committees_are_the_p_and_a_committees_of_each_cycle(explored: Explored) -> None:
    got = Counter(rows(explored, "SELECT bioguide_id, cycle, committee_id,"
                                 " members_sharing_committee FROM member_committees"))
    shared = sharing(explored.world)
    want = Counter((bioguide, cycle, committee_id, shared[(committee_id, cycle)])
                   for (bioguide, cycle), committees in member_committees(explored.world).items()
                   for committee_id in committees)
    assert got == want


def test_donations_to_members_reach_each_member_once_without_memos_or_superseded_rows(
        explored: Explored) -> None:
    got = Counter(rows(explored, "SELECT bioguide_id, cycle, sub_id, contribution_receipt_amount,"
                                 " contributor_employer FROM donations_to_members"))
    want = Counter((bioguide, cycle, r["sub_id"], r["contribution_receipt_amount"],
                    r["contributor_employer"])
                   for (bioguide, cycle), records in member_rows(explored.world).items()
                   for r in records)
    assert got == want
    assert max(got.values()) == 1
    seen = {sub_id for _, _, sub_id, _, _ in got}
    assert not seen & set(explored.amended_away)
    # corrections are shown as corrected (amount and employer come from the world as it is)
    assert {s for s, r in explored.corrected.items() if r["memo_code"] != "X"} <= seen


def test_donations_to_members_carry_the_member(explored: Explored) -> None:
    got = set(rows(explored, "SELECT DISTINCT bioguide_id, member_name, member_party,"
                             " member_state, member_chamber FROM donations_to_members"))
    known = members(explored.world)
    assert got == {(b, *known[b]) for (b, _), records in member_rows(explored.world).items()
                   if records}


def test_a_shared_committee_counts_in_full_for_each_member(explored: Explored) -> None:
    shared = explored.world.specials.shared_committee
    per_member = rows(explored, "SELECT bioguide_id, count(*), sum(contribution_receipt_amount),"
                                " min(members_sharing_committee) FROM donations_to_members"
                                " WHERE committee_id = ? GROUP BY bioguide_id", shared)
    once = rows(explored, "SELECT count(*), sum(contribution_receipt_amount) FROM donations"
                          " WHERE committee_id = ? AND memo_code IS NULL"
                          " AND superseded_at IS NULL", shared)[0]
    assert len(per_member) == 2 and once[0] > 0
    assert [row[1:] for row in per_member] == [(*once, 2), (*once, 2)]


def test_member_cycle_totals(explored: Explored) -> None:
    got = {(r[0], r[1]): tuple(r[2:]) for r in rows(
        explored, "SELECT bioguide_id, cycle, itemized_receipts, total_amount, from_individuals,"
                  " from_committees, from_others, distinct_contributors, committees,"
                  " through_shared_committees FROM member_cycle_totals")}
    want = cycle_totals(explored.world)
    assert got == want
    assert all(ind + com + other == pytest.approx(total)
               for _, total, ind, com, other, *_ in got.values())
    assert sum(1 for v in got.values() if v[-1] > 0) == 2  # the two members sharing one


def test_member_top_contributors_rank_every_contributor(explored: Explored) -> None:
    got = {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows(
        explored, "SELECT bioguide_id, cycle, contributor_key, rank, receipts, total_amount"
                  " FROM member_top_contributors")}
    assert got == top_contributors(explored.world)
    assert any(receipts > 1 for _, receipts, _ in got.values())  # keys do group donations


def test_member_top_contributors_name_the_contributor(explored: Explored) -> None:
    key_to_name = {contributor_key(r): r["contributor_name"]
                   for records in member_rows(explored.world).values() for r in records}
    got = rows(explored, "SELECT contributor_key, contributor_name FROM member_top_contributors")
    assert {key: name.strip().upper() for key, name in got if not key.startswith("C00")} == {
        key: key_to_name[key].strip().upper() for key, _ in got if not key.startswith("C00")}


def test_member_top_employers(explored: Explored) -> None:
    got = {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows(
        explored, "SELECT bioguide_id, cycle, employer, rank, contributors, receipts,"
                  " total_amount FROM member_top_employers")}
    want = top_employers(explored.world)
    assert got == want
    assert len({employer for _, _, employer in got}) > 10


def test_views_filtered_by_member_name_match_the_same_filter_by_id(explored: Explored) -> None:
    bioguide, (name, *_) = next(iter(members(explored.world).items()))
    for view in ("member_cycle_totals", "member_top_contributors", "member_top_employers"):
        by_id = rows(explored, f"SELECT * FROM {view} WHERE bioguide_id = ?", bioguide)
        by_name = rows(explored, f"SELECT * FROM {view} WHERE member_name LIKE ?",
                       f"%{name.split()[-1]}%")
        assert by_id and set(by_id) <= set(by_name)


def vm_steps(db: Path, sql: str, *params: Any) -> int:
    """SQLite virtual-machine steps (in hundreds) that running `sql` takes: work, not time."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        conn.set_progress_handler(count, 100)
        conn.execute(sql, params).fetchall()
    return steps


@pytest.mark.parametrize("view", ["member_cycle_totals", "member_top_contributors",
                                  "member_top_employers"])
def test_a_filter_by_member_name_is_applied_before_totalling(explored: Explored,
                                                             view: str) -> None:
    """One member of twelve costs a fraction of all of them: SQLite moves the filter into the
    view (possible because member_name is among its grouping columns)."""
    sizes: Counter[str] = Counter()
    for (bioguide, _), records in member_rows(explored.world).items():
        sizes[bioguide] += len(records)
    name = members(explored.world)[min(+sizes, key=sizes.__getitem__)][0]
    one = vm_steps(explored.db, f"SELECT * FROM {view} WHERE member_name = ?", name)
    every = vm_steps(explored.db, f"SELECT * FROM {view}")
    assert 0 < one * 4 < every


def test_other_designations_and_repeated_mappings_change_nothing(explored: Explored,
                                                                tmp_path: Path) -> None:
    """A joint-fundraising (J) mapping is not a campaign committee, and a member linked to
    one committee through two candidate ids still receives each donation once."""
    db = copy_of(explored.db, tmp_path)
    before = query(db, "SELECT * FROM member_cycle_totals ORDER BY 1, 6")
    (bioguide, cycle, committee_id), = query(
        db, "SELECT bioguide_id, cycle, committee_id FROM fec_mappings LIMIT 1")
    other = query(db, "SELECT bioguide_id FROM politicians WHERE bioguide_id <> ? LIMIT 1",
                  (bioguide,))[0][0]
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.executemany(
            "INSERT INTO fec_mappings (bioguide_id, candidate_id, committee_id, designation,"
            " cycle, resolved_at) VALUES (?, ?, ?, ?, ?, 'now')",
            [(bioguide, "H0XX99999", committee_id, "P", cycle),
             (other, "H0XX99998", committee_id, "J", cycle)])
    assert query(db, "SELECT * FROM member_cycle_totals ORDER BY 1, 6") == before


def test_the_fec_individual_flag_decides_who_is_an_individual(explored: Explored,
                                                               tmp_path: Path) -> None:
    db = copy_of(explored.db, tmp_path)
    sql = ("SELECT sum(from_individuals), sum(from_committees), sum(from_others)"
           " FROM member_cycle_totals")
    individuals, committees, others = query(db, sql)[0]
    pick = ("SELECT sub_id, contribution_receipt_amount FROM donations_to_members"
            " WHERE members_sharing_committee = 1 AND is_individual = ? AND entity_type = ?"
            " ORDER BY sub_id LIMIT 1")
    person, (pac, pac_amount) = query(db, pick, (1, "IND"))[0], query(db, pick, (0, "PAC"))[0]
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        # an organization the FEC flags as an individual contribution, and a PAC row flagged
        conn.execute("UPDATE donations SET entity_type = 'ORG' WHERE sub_id = ?", (person[0],))
        conn.execute("UPDATE donations SET is_individual = 1 WHERE sub_id = ?", (pac,))
    assert query(db, sql)[0] == pytest.approx(
        (individuals + pac_amount, committees - pac_amount, others))


def test_migration_step_is_idempotent_and_creates_every_view(tmp_path: Path) -> None:
    db = tmp_path / "donations.db"
    schema.connect(db).close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(f"PRAGMA user_version = {schema.MIGRATIONS.index(schema.explore.MIGRATION)}")
    schema.connect(db).close()  # the last step runs again over its own objects
    views = {r[0] for r in query(db, "SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert views == {"member_committees", "donations_to_members", "member_cycle_totals",
                     "member_top_contributors", "member_top_employers"}


def test_the_readmes_example_questions_run(explored: Explored) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Three questions"):]
    examples = re.findall(r"```sql\n(.*?)```", section.split("\n## ")[0], re.DOTALL)
    assert len(examples) == 3
    answered = [query(explored.db, sql) for sql in examples]
    assert all(answered[1:])  # the first names a member of the demo, not of this world
