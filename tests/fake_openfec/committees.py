"""Committee look-ups: GET /v1/committees/ and GET /v1/candidate/{id}/committees/.

Both use page-number paging (`page`, `per_page`) with pagination
{page, per_page, count, pages, is_count_exact}; a page past the end is empty.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

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
from .people import Committee
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
SORT_ARGS = [
    arg("sort", sort_option(COMMITTEE_SORTS), default="name"),
    arg("sort_hide_null", to_bool, default=False),
    arg("sort_null_only", to_bool, default=False),
    arg("sort_nulls_last", to_bool, default=False),
]


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
        ("committee_id", lambda c: c.committee_id), ("designation", lambda c: c.designation),
        ("committee_type", lambda c: c.committee_type), ("state", lambda c: c.state),
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
        tests.append(lambda c: False)  # the generated world has no leadership PACs
    return tests


def _page(kw: dict[str, Any], committees: list[Committee]) -> dict[str, Any]:
    check_cap(kw["per_page"])
    sort: str = kw["sort"]
    column = sort.lstrip("-")
    records = [c.detail() for c in committees]
    if kw["sort_hide_null"]:
        records = [r for r in records if r.get(column) is not None]
    records.sort(key=lambda r: (r.get(column) is None, r.get(column) or "", r["committee_id"]),
                 reverse=sort.startswith("-"))
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

