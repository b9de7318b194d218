"""Committee look-ups: the list and detail views (one row per committee, its latest cycle's
designation) and the history views (one row per committee and cycle).

    GET /v1/committees/                          CommitteeList
    GET /v1/candidate/{id}/committees/           CommitteeView
    GET /v1/committee/{id}/history/[{cycle}/]    CommitteeHistoryProfileView
    GET /v1/candidate/{id}/committees/history/[{cycle}/]

All use page-number paging (`page`, `per_page`) with pagination
{page, per_page, count, pages, is_count_exact}; a page past the end is empty. Rows that tie
on the sort column come in a different order on every request, as PostgreSQL is free to
return them under LIMIT/OFFSET: paging on a sort that is not unique skips and repeats rows.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Callable
from typing import Any

from .filers import Committee
from .params import (
    Field,
    arg,
    candidate_id,
    check_cap,
    committee_id,
    keyword,
    natural,
    one_of,
    parse_args,
    parse_date,
    sort_option,
    split_exclusions,
    to_bool,
    to_int,
    upper,
)
from .world import World

COMMITTEE_SORTS = ("name", "committee_id", "designation", "committee_type", "state", "party",
                   "treasurer_name", "organization_type", "filing_frequency", "first_file_date",
                   "last_file_date", "first_f1_date", "last_f1_date")
_COMMITTEE_TYPES = ["", *"CDEHINOPQSUVWXYZ"]  # the order shows in "Must be one of: ..."

PAGING = [arg("page", natural, default=1), arg("per_page", natural, default=20)]
COMMITTEE_ARGS = [
    arg("year", to_int, many=True),
    arg("cycle", to_int, many=True),
    arg("filing_frequency", one_of(["", "A", "M", "N", "Q", "T", "W", "-A", "-T"]), many=True),
    arg("designation", one_of(["", "A", "J", "P", "U", "B", "D"]), many=True),
    arg("organization_type", one_of(["", "C", "L", "M", "T", "V", "W", "H", "I"]), many=True),
    arg("committee_type", one_of(_COMMITTEE_TYPES), many=True),
]
LIST_ARGS = [
    arg("q", keyword, many=True),
    arg("committee_id", committee_id, many=True),
    arg("candidate_id", candidate_id, many=True),
    arg("state", upper, many=True),
    arg("party", upper, many=True),
    arg("min_first_file_date", parse_date),
    arg("max_first_file_date", parse_date),
    arg("min_last_file_date", parse_date),
    arg("max_last_file_date", parse_date),
    arg("treasurer_name", keyword, many=True),
    arg("sponsor_candidate_id", candidate_id, many=True),
]
# The history view's sort must be an indexed column of ofec_committee_history_mv: the first
# column of each index, in index-name order (duplicates and all), as IndexValidator lists them.
HISTORY_SORTS = ("committee_id", "committee_id", "cycle", "cycle", "designation",
                 "first_f1_date", "first_file_date", "last_f1_date", "last_file_date", "name",
                 "state")


def sort_args(options: tuple[str, ...], default: str) -> list[Field]:
    return [
        arg("sort", sort_option(options), default=default),
        arg("sort_hide_null", to_bool, default=False),
        arg("sort_null_only", to_bool, default=False),
        arg("sort_nulls_last", to_bool, default=False),
    ]


SORT_ARGS = sort_args(COMMITTEE_SORTS, "name")
HISTORY_ARGS = [
    arg("election_full", to_bool, default=True),
    arg("designation", one_of(["", "A", "J", "P", "U", "B", "D"]), many=True),
    *sort_args(HISTORY_SORTS, "-cycle"),
]
_TIE_ORDERS = itertools.count(1)


Test = Callable[[Committee], bool]


def _multi(kw: dict[str, Any], key: str, get: Callable[[Committee], Any]) -> list[Test]:
    if not kw.get(key):
        return []
    include, exclude = split_exclusions(kw[key])
    return [lambda c: (not include or get(c) in include)
            and (get(c) is None or get(c) not in exclude)]


def _filters(kw: dict[str, Any]) -> list[Test]:
    tests: list[Test] = []
    columns: list[tuple[str, Callable[[Committee], Any]]] = [
        ("committee_id", lambda c: c.committee_id),
        ("designation", lambda c: c.latest_designation),
        ("committee_type", lambda c: c.latest_type), ("state", lambda c: c.state),
        ("party", lambda c: c.party), ("filing_frequency", lambda c: "Q"),
        ("organization_type", lambda c: None),
    ]
    for key, get in columns:
        tests += _multi(kw, key, get)
    if kw.get("candidate_id"):
        wanted = set(kw["candidate_id"])
        tests.append(lambda c: bool(wanted.intersection(c.candidate_ids)))
    if kw.get("cycle"):
        cycles = set(kw["cycle"])
        tests.append(lambda c: bool(cycles.intersection(c.cycles)))
    if kw.get("year"):
        years = kw["year"]
        tests.append(lambda c: any(int(c.first_file_date[:4]) <= y for y in years))
    if kw.get("q"):
        words = [w for q in kw["q"] for w in re.sub(r"\W", " ", q.upper()).split()]
        tests.append(lambda c: all(any(n.startswith(w) for n in c.name.split()) for w in words))
    if kw.get("min_first_file_date"):
        tests.append(lambda c: c.first_file_date >= kw["min_first_file_date"])
    if kw.get("max_first_file_date"):
        tests.append(lambda c: c.first_file_date <= kw["max_first_file_date"])
    if kw.get("sponsor_candidate_id"):
        sponsors = set(kw["sponsor_candidate_id"])
        tests.append(lambda c: c.sponsored_in(c.cycles[-1]) in sponsors)
    return tests


def _sorted(kw: dict[str, Any], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sort: str = kw["sort"]
    column = sort.lstrip("-")
    if kw["sort_hide_null"]:
        records = [r for r in records if r.get(column) is not None]
    random.Random(next(_TIE_ORDERS)).shuffle(records)  # ties: whatever order the plan gives
    # Stable, so ties keep the shuffled order; NULLs last ascending, first descending.
    records.sort(key=lambda r: (r.get(column) is None, "" if r.get(column) is None
                                else r.get(column)), reverse=sort.startswith("-"))
    return records


def _page(kw: dict[str, Any], committees: list[Committee]) -> dict[str, Any]:
    return _page_of(kw, [c.detail() for c in committees])


def _page_of(kw: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    check_cap(kw["per_page"])
    records = _sorted(kw, records)
    page, per_page = kw["page"], kw["per_page"]
    count = len(records)
    return {
        "api_version": "1.0",
        "pagination": {"page": page, "per_page": per_page, "count": count,
                       "pages": math.ceil(count / per_page), "is_count_exact": True},
        "results": records[(page - 1) * per_page: page * per_page],
    }


def committee_list(world: World, params: dict[str, list[str]]) -> dict[str, Any]:
    fields: list[Field] = PAGING + COMMITTEE_ARGS + LIST_ARGS + SORT_ARGS
    kw = parse_args(fields, params)
    tests = _filters(kw)
    found = [c for c in world.committees.values() if all(t(c) for t in tests)]
    return _page(kw, found)


def candidate_committees(world: World, candidate: str,
                         params: dict[str, list[str]]) -> dict[str, Any]:
    kw = parse_args(PAGING + COMMITTEE_ARGS + SORT_ARGS, params)
    cand = candidate_id(candidate)  # the path id is checked after the query arguments
    tests = _filters(kw)
    linked = world.committees_of_candidate(cand)
    return _page(kw, [c for c in linked if all(t(c) for t in tests)])



# --- history views -------------------------------------------------------------------------

History = tuple[Committee, int]


def committee_history(world: World, committee: str, cycle: int | None,
                      params: dict[str, list[str]]) -> dict[str, Any]:
    """/committee/{id}/history/[{cycle}/]: the committee's rows, every cycle or one."""
    kw = parse_args(PAGING + HISTORY_ARGS, params)
    cid = committee_id(committee)  # the path id is checked after the query arguments
    com = world.committees.get(cid.lstrip("-"))
    rows = [] if com is None else [(com, c) for c in com.cycles if cycle in (None, c)]
    return _history_page(world, kw, rows)


def candidate_history(world: World, candidate: str, cycle: int | None,
                      params: dict[str, list[str]]) -> dict[str, Any]:
    """/candidate/{id}/committees/history/[{cycle}/].

    Without a cycle, or with election_full=false: the linked committees, one row per cycle
    of linkage (only `cycle` when given). With a cycle and election_full=true (the default),
    `cycle` is the candidate's election year and the answer is the union of the committees
    linked in that election, the leadership PACs the candidate sponsored in it and the
    principal committees converted to PACs in it: one row per committee, its latest cycle."""
    kw = parse_args(PAGING + HISTORY_ARGS, params)
    cand = candidate_id(candidate)
    linked = world.committees_of_candidate(cand)
    if cycle is None or not kw["election_full"]:
        rows = [(com, c) for com in linked for c in com.cycles
                if com.linked_in(c) and cycle in (None, c)]
        return _history_page(world, kw, rows)
    chosen: dict[str, int] = {}

    def keep(com: Committee, cycles: list[int]) -> None:
        if cycles:
            chosen[com.committee_id] = max(chosen.get(com.committee_id, 0), *cycles)

    for com in linked:
        keep(com, [c for c in com.cycles
                   if com.linked_in(c) and world.election_year(cand, c) == cycle])
    for com in world.committees.values():
        keep(com, [c for c in com.cycles
                   if com.sponsored_in(c) == cand and world.election_year(cand, c) == cycle])
        conv = com.conversion
        if conv and conv.former_candidate_id == cand and \
                world.election_year(cand, conv.cycle) == cycle:
            keep(com, [conv.cycle])
    rows = [(world.committees[cid], c) for cid, c in sorted(chosen.items())]
    return _history_page(world, kw, rows)


def _history_page(world: World, kw: dict[str, Any], rows: list[History]) -> dict[str, Any]:
    if kw.get("designation"):
        include, exclude = split_exclusions(kw["designation"])
        rows = [(com, c) for com, c in rows if (not include or com.designation_in(c) in include)
                and com.designation_in(c) not in exclude]
    return _page_of(kw, [_profile(world, com, c) for com, c in rows])


def _profile(world: World, com: Committee, cycle: int) -> dict[str, Any]:
    conv = com.conversion
    if conv is None or not com.converted_in(cycle):
        return com.history_profile(cycle)
    former = conv.former_candidate_id
    return com.history_profile(cycle, world.candidate_name(former),
                               world.election_year(former, cycle))
