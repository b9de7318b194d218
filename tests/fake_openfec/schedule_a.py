"""GET /v1/schedules/schedule_a/: validation, filters and keyset paging as OpenFEC does them.

Seek semantics (openfec-api.md §2.2): order by (sort column, sub_id) in one direction,
NULLs first under DESC and last under ASC; the cursor predicate compares the tuple
(COALESCE(date, '9999-12-31'), sub_id) with the echoed values, or sub_id alone when the
page ended on a NULL. That last case is what drops rows under DESC (§2.5), and it is
reproduced on purpose.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .params import (
    ApiError,
    arg,
    check_cap,
    committee_id,
    image_number,
    keyword,
    natural,
    one_of,
    parse_args,
    parse_date,
    period,
    sort_option,
    split_exclusions,
    text,
    to_bool,
    to_currency,
    to_float,
    to_int,
    upper,
)
from .records import PROFILES, Row
from .world import World

SORT_OPTIONS = ("contribution_receipt_date", "contribution_receipt_amount")
DATE_SENTINEL = "9999-12-31"  # date.max, what COALESCE puts in place of a NULL date
# Up to this many rows `count` is exact (a SELECT count(*)); above it the planner's estimate,
# which can be well off either way (openfec-api.md §2.3).
EXACT_COUNT_LIMIT = 500_000
SECONDARY_INDEX = ("committee_id", "contributor_id", "contributor_name", "contributor_city",
                   "contributor_zip", "contributor_employer", "contributor_occupation",
                   "image_number")
MAX_COUNT_FIELDS = ("committee_id", "contributor_name", "contributor_zip", "contributor_city",
                    "contributor_employer", "contributor_occupation")
SECONDARY_ERROR = ("Please choose a single `two_year_transaction_period` or add one of the "
                   "following filters to your query: `" + "`, `".join(SECONDARY_INDEX) + "`")
_GAP = " " * 20  # the message is built from backslash-continued lines, indentation included
LAST_INDEX_ERROR = (
    "When paginating through results, both values from the " + _GAP
    + "previous page's `last_indexes` object are needed. For more information, " + _GAP
    + "see https://api.open.fec.gov/developers/. Please add one of the following " + _GAP
    + "filters to your query: `sort_null_only`=True, `last_contribution_receipt_date`, "
    "`last_contribution_receipt_amount`"
)
LINE_NUMBER_ERROR = ("Invalid line_number detected. A valid line_number is using the following "
                     "format:\n'FORM-LINENUMBER'.  For example an argument such as 'F3X-16' would "
                     "filter down to all schedule a entries\nfrom form F3X line number 16.")
ZIP_ERROR = "Invalid zip code. It can not have special character"
_COMMITTEE_TYPES = ["", *"CDEHINOPQSUVWXYZ"]  # the order shows in "Must be one of: ..."
_ORG_TYPES = ["", *"CLMTVWHI"]

# Declaration order matters: it decides which invalid argument is reported first.
FIELDS = [
    arg("image_number", image_number, many=True),
    arg("min_image_number", image_number),
    arg("max_image_number", image_number),
    arg("min_amount", to_currency),
    arg("max_amount", to_currency),
    arg("min_date", parse_date),
    arg("max_date", parse_date),
    arg("committee_id", committee_id, many=True),
    arg("contributor_id", upper, many=True),
    arg("contributor_name", keyword, many=True),
    arg("contributor_city", upper, many=True),
    arg("contributor_state", upper, many=True),
    arg("contributor_zip", upper, many=True),
    arg("contributor_employer", keyword, many=True),
    arg("contributor_occupation", keyword, many=True),
    arg("last_contribution_receipt_date", parse_date, default=None),
    arg("last_contribution_receipt_amount", to_float, default=None),
    arg("line_number", text),
    arg("is_individual", to_bool, default=None),
    arg("contributor_type", one_of(["individual", "committee"], upper_case=False), many=True),
    arg("two_year_transaction_period", period, many=True),
    arg("recipient_committee_type", one_of(_COMMITTEE_TYPES), many=True),
    arg("recipient_committee_org_type", one_of(_ORG_TYPES), many=True),
    arg("recipient_committee_designation", one_of(["", "A", "J", "P", "U", "B", "D"]), many=True),
    arg("min_load_date", parse_date),
    arg("max_load_date", parse_date),
    arg("per_page", natural, default=20),
    arg("last_index", to_int, default=None),
    arg("sort", sort_option(SORT_OPTIONS), default="-contribution_receipt_date"),
    arg("sort_hide_null", to_bool, default=False),
    arg("sort_null_only", to_bool, default=False),
    arg("sort_nulls_last", to_bool, default=False),
]


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    rows: int
    results_json: list[str] | None = None  # pre-encoded records, spliced in as "results"

    @property
    def next_index(self) -> str | None:
        last = self.body["pagination"]["last_indexes"]
        return str(last["last_index"]) if last else None


def validate_kwargs(kw: dict[str, Any]) -> None:
    single_period = len(set(kw.get("two_year_transaction_period", []))) == 1
    if not single_period and not any(kw.get(f) for f in SECONDARY_INDEX):
        raise ApiError(SECONDARY_ERROR, 400)
    if kw.get("last_index") and not kw.get("sort_null_only") and all(
            kw.get(f"last_{option}") is None for option in SORT_OPTIONS):
        raise ApiError(LAST_INDEX_ERROR, 422)
    over = [f for f in MAX_COUNT_FIELDS if len(kw.get(f, [])) > 10]
    if over:
        raise ApiError("Can only specify up to 10 values for `{}`".format("`, `".join(over)), 422)


def _check_query_args(kw: dict[str, Any]) -> None:
    line = kw.get("line_number")
    if line and len(line.split("-")) != 2:
        raise ApiError(LINE_NUMBER_ERROR, 400)
    if any(not re.fullmatch(r"[A-Z0-9 ]*", z) for z in kw.get("contributor_zip", [])):
        raise ApiError(ZIP_ERROR, 422)


RowTest = Callable[[Row], bool]
RecordTest = Callable[[dict[str, Any]], bool]


def _within(get: Callable[[Row], Any], low: Any, high: Any) -> RowTest:
    """Inclusive range; a NULL value never matches (SQL comparison semantics)."""
    def test(row: Row) -> bool:
        value = get(row)
        return value is not None and (low is None or value >= low) and (
            high is None or value <= high)
    return test


def _row_filters(kw: dict[str, Any]) -> list[RowTest]:
    """Filters on stored columns, applied without building full records."""
    tests: list[RowTest] = []
    _, exclude = split_exclusions(kw.get("committee_id", []))
    if exclude:
        tests.append(lambda r: r.committee_id not in exclude)
    periods = set(kw.get("two_year_transaction_period", []))
    if periods:
        tests.append(lambda r: r.cycle in periods)
    if kw.get("min_date") is not None or kw.get("max_date") is not None:
        tests.append(_within(lambda r: r.date, kw.get("min_date"), kw.get("max_date")))
    if kw.get("min_load_date") is not None or kw.get("max_load_date") is not None:
        # load_date is a timestamp: a date bound means midnight of that day
        high = kw.get("max_load_date")
        tests.append(_within(lambda r: r.load_date, kw.get("min_load_date"),
                             None if high is None else high + "T00:00:00"))
    if kw.get("min_amount") is not None or kw.get("max_amount") is not None:
        tests.append(_within(lambda r: r.amount, kw.get("min_amount"), kw.get("max_amount")))
    individual = kw.get("is_individual")
    if individual is not None:
        tests.append(lambda r: PROFILES[r.profile].individual == individual)
    kinds = set(kw.get("contributor_type", []))
    if len(kinds) == 1:
        want_ind = "individual" in kinds
        tests.append(lambda r: (PROFILES[r.profile].entity_type == "IND") == want_ind)
    return tests


def _words_match(query: str, value: str | None) -> bool:
    words = re.sub(r"\W", " ", (value or "").upper()).split()
    wanted = re.sub(r"\W", " ", query.upper()).split()
    return all(any(w.startswith(q) for w in words) for q in wanted)


def _in_list(key: str, values: list[str]) -> RecordTest:
    include, exclude = split_exclusions(values)
    return lambda rec: (not include or rec[key] in include) and rec[key] not in exclude


def _text_search(key: str, queries: list[str]) -> RecordTest:
    return lambda rec: any(_words_match(q, rec[key]) for q in queries)


def _record_filters(kw: dict[str, Any]) -> list[RecordTest]:
    """Filters on columns only the full record has; rare, so records are built for them."""
    tests: list[RecordTest] = []
    for key in ("image_number", "contributor_id", "contributor_city", "contributor_state",
                "recipient_committee_type", "recipient_committee_org_type",
                "recipient_committee_designation"):
        if kw.get(key):
            tests.append(_in_list(key, kw[key]))
    for key in ("contributor_name", "contributor_employer", "contributor_occupation"):
        if kw.get(key):
            tests.append(_text_search(key, kw[key]))
    if kw.get("contributor_zip"):
        zips = kw["contributor_zip"]
        tests.append(lambda rec: any((rec["contributor_zip"] or "").startswith(z) for z in zips))
    if kw.get("line_number"):
        form, line = kw["line_number"].split("-")
        tests.append(lambda rec: rec["filing_form"] == form.upper() and rec["line_number"] == line)
    low, high = kw.get("min_image_number"), kw.get("max_image_number")
    if low is not None or high is not None:
        lo = None if low is None else int(low)
        hi = None if high is None else int(high)
        tests.append(lambda rec: (lo is None or int(rec["image_number"]) >= lo)
                     and (hi is None or int(rec["image_number"]) <= hi))
    return tests


def _value(row: Row, column: str) -> Any:
    return row.date if column == "contribution_receipt_date" else row.amount


class _Scan:
    """Order, cursor predicate and page cutting for one request."""

    def __init__(self, kw: dict[str, Any]) -> None:
        sort: str = kw["sort"]
        self.column = sort.lstrip("-")
        self.ascending = not sort.startswith("-")
        self.hide_null: bool = kw["sort_hide_null"]
        self.nulls_last = kw["sort_nulls_last"] and not self.hide_null
        self.last_index: int | None = kw["last_index"]
        self.sort_index: Any = kw.get(f"last_{self.column}")
        # Only an ascending scan narrows to NULLs; a descending one ignores the flag.
        self.null_only = not self.sort_index and kw["sort_null_only"] and self.ascending
        if self.null_only:
            self.sort_index = None

    def shown(self, row: Row) -> bool:
        return not (self.hide_null and _value(row, self.column) is None)

    def in_null_phase(self, row: Row) -> bool:
        return not self.null_only or _value(row, self.column) is None

    def order(self, rows: list[Row]) -> list[Row]:
        def key(row: Row) -> tuple[bool, Any, int]:
            value = _value(row, self.column)
            blank = "" if self.column == "contribution_receipt_date" else 0.0
            if self.nulls_last and not self.ascending:
                null_rank = value is not None
            else:
                null_rank = value is None
            return (null_rank, blank if value is None else value, row.sid)
        return sorted(rows, key=key, reverse=not self.ascending)

    def after_cursor(self, row: Row) -> bool:
        left: list[Any] = []
        right: list[Any] = []
        if self.sort_index is not None:
            value = _value(row, self.column)
            if value is None and self.column == "contribution_receipt_date" and not self.hide_null:
                value = DATE_SENTINEL
            if value is None:
                return False  # a NULL inside a row comparison is never true
            left.append(value)
            right.append(self.sort_index)
        if self.last_index is not None:
            left.append(row.sid)
            right.append(self.last_index)
        if not left:
            return True
        return tuple(left) > tuple(right) if self.ascending else tuple(left) < tuple(right)

    def last_indexes(self, page: list[Row]) -> dict[str, Any] | None:
        if not page:
            return None
        last = page[-1]
        out: dict[str, Any] = {"last_index": last.sub_id}
        value = _value(last, self.column)
        if value is None:
            out["sort_null_only"] = True
        else:
            out[f"last_{self.column}"] = value
        return out


def estimated(count: int, query: Any) -> int:
    """A planner's estimate: off by up to 15% either way, the same for the same query."""
    wobble = (zlib.crc32(repr(query).encode()) % 3001 - 1500) / 10_000
    return max(int(count * (1 + wobble)), 0)


def search(world: World, params: dict[str, list[str]], sub_id: str | None = None, *,
           exact_limit: int = EXACT_COUNT_LIMIT) -> Answer:
    """Answer one Schedule A request, or raise ApiError exactly as the API would."""
    kw = parse_args(FIELDS, params)
    validate_kwargs(kw)
    _check_query_args(kw)
    # int() of a bad path id raises ValueError, a server error upstream too
    wanted = None if sub_id is None else int(sub_id)
    check_cap(kw["per_page"])
    scan = _Scan(kw)
    query = tuple(sorted((k, repr(v)) for k, v in kw.items() if k not in _PAGING_ARGS))
    ordered: list[Row] = world.cached((query, wanted), lambda: _ordered(world, kw, scan, wanted))
    # The paginator counts its query when it is built; the NULL-only narrowing and the
    # cursor predicate are attached afterwards, so neither changes `count`. The planner's
    # estimate, not the true count, decides whether the exact count is taken: near the
    # limit a true count above it can come back exact, and one below it as an estimate.
    estimate = estimated(len(ordered), query)
    exact = estimate <= exact_limit
    count = len(ordered) if exact else estimate
    per_page: int = kw["per_page"]
    page: list[Row] = []
    for row in ordered:
        if scan.in_null_phase(row) and scan.after_cursor(row):
            page.append(row)
            if len(page) == per_page:
                break
    body = {
        "api_version": "1.0",
        "pagination": {
            "count": count,
            "is_count_exact": exact,
            "pages": math.ceil(count / per_page),
            "per_page": per_page,
            "last_indexes": scan.last_indexes(page),
        },
        "results": [world.record(r) for r in page] if wanted is not None else [],
    }
    encoded = [world.record_json(r) for r in page] if wanted is None else None
    return Answer(body, len(page), encoded)


# The cursor and the page size only cut the ordered result; everything else shapes it.
_PAGING_ARGS = frozenset({"last_index", "last_contribution_receipt_date",
                          "last_contribution_receipt_amount", "sort_null_only", "per_page",
                          "page"})


def _ordered(world: World, kw: dict[str, Any], scan: _Scan, wanted: int | None) -> list[Row]:
    include, _ = split_exclusions(kw.get("committee_id", []))
    rows = world.snapshot(sorted(include) if include else None)
    if wanted is not None:
        rows = [r for r in rows if r.sid == wanted]
    tests = _row_filters(kw) + [scan.shown]
    rows = [r for r in rows if all(test(r) for test in tests)]
    record_tests = _record_filters(kw)
    if record_tests:
        rows = [r for r in rows if all(test(world.record(r)) for test in record_tests)]
    return scan.order(rows)
