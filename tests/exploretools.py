"""A small database synced from the fake, and what its views and search must show,
computed from the fake's world in plain Python (never from the database)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fake_openfec import FakeOpenFec, World, generate_world
from tests.support import CYCLES, KEY, Cli

Record = dict[str, Any]
MemberCycle = tuple[str, int]
COMMITTEE_ENTITIES = {"PAC", "PTY", "CCM", "COM"}
SEARCHED = ("contributor_name", "contributor_employer", "contributor_occupation")
CHAMBER = {"rep": "house", "sen": "senate"}


@dataclass
class Explored:
    world: World
    db: Path
    amended_away: dict[str, Record]  # sub_id -> the record as it was before it vanished
    corrected: dict[str, Record]  # sub_id -> the record before its correction


def sync_explored(directory: Path) -> Explored:
    """Sync, then let the FEC amend rows away and correct others, then sync --full."""
    world = generate_world(seed=7, politicians=12, cycles=CYCLES, rows_scale=0.5)
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        cli = Cli(fake, directory / "donations.db")
        first = cli.run()
        assert first.returncode == 0, first.stderr
        before = world.expected_rows()
        gone = world.amend_away(6)
        fixed = world.correct_rows(6)
        second = cli.run("--full")
        assert second.returncode == 0, second.stderr
    return Explored(world, cli.db, {s: before[s] for s in gone}, {s: before[s] for s in fixed})


# --- who a donation reaches ----------------------------------------------------------------


def member_committees(world: World) -> dict[MemberCycle, set[str]]:
    """(bioguide, cycle) -> the committees linked to the member's FEC ids that were P/A in
    that cycle (the world's own per-cycle truth, a conversion cycle included)."""
    campaign = world.campaign_units(CYCLES)
    out: dict[MemberCycle, set[str]] = defaultdict(set)
    for leg in world.legislators:
        for com in world.committees.values():
            if set(com.candidate_ids) & set(leg.fec_ids):
                for cycle in set(com.cycles) & set(CYCLES):
                    if (com.committee_id, cycle) in campaign:
                        out[(leg.bioguide, cycle)].add(com.committee_id)
    return dict(out)


def sharing(world: World) -> dict[tuple[str, int], int]:
    """(committee, cycle) -> how many members it raises for."""
    count: dict[tuple[str, int], int] = defaultdict(int)
    for (_, cycle), committees in member_committees(world).items():
        for committee_id in committees:
            count[(committee_id, cycle)] += 1
    return dict(count)


def member_rows(world: World) -> dict[MemberCycle, list[Record]]:
    """(bioguide, cycle) -> its current donations, memo lines left out."""
    rows = world.expected_rows()
    by_unit: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for record in rows.values():
        if record["memo_code"] != "X":
            by_unit[(record["committee_id"], record["two_year_transaction_period"])].append(
                record)
    return {key: [r for c in committees for r in by_unit.get((c, key[1]), [])]
            for key, committees in member_committees(world).items()}


def members(world: World) -> dict[str, tuple[str, str, str, str]]:
    """bioguide -> (name, party, state, chamber) as the politicians table holds them."""
    return {leg.bioguide: (leg.official_full, leg.party, leg.state, CHAMBER[leg.chamber])
            for leg in world.legislators}


# --- what the aggregate views must say -----------------------------------------------------


def contributor_key(record: Record) -> str | None:
    if record["contributor_id"]:
        return str(record["contributor_id"])
    if record["contributor_name"] is None:
        return None
    return f"{record['contributor_name'].strip().upper()} {(record['contributor_zip'] or '')[:5]}"


def contributor_kind(record: Record) -> str:
    if record["is_individual"]:
        return "individual"
    return "committee" if record["entity_type"] in COMMITTEE_ENTITIES else "other"


def money(records: Iterable[Record]) -> float:
    return round(sum(r["contribution_receipt_amount"] for r in records), 2)


def cycle_totals(world: World) -> dict[MemberCycle, tuple[Any, ...]]:
    """The member_cycle_totals columns from itemized_receipts on, per member and cycle."""
    shared = sharing(world)
    out = {}
    for (bioguide, cycle), rows in member_rows(world).items():
        if not rows:
            continue
        kinds = {kind: [r for r in rows if contributor_kind(r) == kind]
                 for kind in ("individual", "committee", "other")}
        keys = {contributor_key(r) for r in rows} - {None}
        through_shared = [r for r in rows if shared[(r["committee_id"], cycle)] > 1]
        out[(bioguide, cycle)] = (
            len(rows), money(rows), money(kinds["individual"]), money(kinds["committee"]),
            money(kinds["other"]), len(keys), len({r["committee_id"] for r in rows}),
            money(through_shared))
    return out


def ranked(groups: dict[str, list[Record]]) -> dict[str, tuple[int, int, float]]:
    """group -> (rank by total, 1 the largest and ties sharing, receipts, total)."""
    totals = {name: money(rows) for name, rows in groups.items()}
    return {name: (1 + sum(1 for t in totals.values() if t > total), len(groups[name]), total)
            for name, total in totals.items()}


def top_contributors(world: World) -> dict[tuple[str, int, str], tuple[int, int, float]]:
    """(bioguide, cycle, contributor_key) -> (rank, receipts, total_amount)."""
    out = {}
    for (bioguide, cycle), rows in member_rows(world).items():
        groups: dict[str, list[Record]] = defaultdict(list)
        for record in rows:
            key = contributor_key(record)
            if key is not None:
                groups[key].append(record)
        for key, value in ranked(groups).items():
            out[(bioguide, cycle, key)] = value
    return out


def top_employers(world: World) -> dict[tuple[str, int, str], tuple[int, int, int, float]]:
    """(bioguide, cycle, employer) -> (rank, distinct contributors, receipts, total_amount)."""
    out = {}
    for (bioguide, cycle), rows in member_rows(world).items():
        groups: dict[str, list[Record]] = defaultdict(list)
        for record in rows:
            employer = (record["contributor_employer"] or "").strip().upper()
            if record["is_individual"] and employer:
                groups[employer].append(record)
        for employer, (rank, receipts, total) in ranked(groups).items():
            people = len({contributor_key(r) for r in groups[employer]})
            out[(bioguide, cycle, employer)] = (rank, people, receipts, total)
    return out


# --- what a search must find ---------------------------------------------------------------


def words(text: str | None) -> set[str]:
    """The tokens FTS5's default tokenizer makes of ASCII text: runs of letters and digits,
    folded to lower case."""
    return set(re.findall(r"[0-9a-z]+", (text or "").lower()))


def stored_records(explored: Explored) -> dict[str, Record]:
    """Every row the donations table holds: the world's current rows and those amended away
    (kept, marked superseded)."""
    return {**explored.amended_away, **explored.world.expected_rows()}


def matching(records: dict[str, Record], word: str) -> set[str]:
    """sub_ids whose name, employer or occupation contains the word."""
    return {s for s, r in records.items() if any(word in words(r[c]) for c in SEARCHED)}
