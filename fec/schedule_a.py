"""Keyset paging through /schedules/schedule_a/ for a chain (1-10 committees x one period).

How OpenFEC pages (openfec-api.md §2): each response's ``pagination.last_indexes`` holds the
sort key of the page's last row; sending all of its keys back returns the rows after it.
``page=N`` is silently ignored (it would return page 1 forever), so it is never sent.

The sort is ascending by ``contribution_receipt_date``: NULL dates then come last and the
server's ``sort_null_only`` phase pages through them correctly, whereas the default
descending sort skips rows when a page ends on a NULL date (§2.5).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fec.client import FecClient, Kind
from fec.errors import InvalidUnit, PaginationError

logger = logging.getLogger(__name__)

PATH = "/schedules/schedule_a/"
SORT = "contribution_receipt_date"
MAX_PER_PAGE = 100
MAX_COMMITTEES = 10  # OpenFEC answers 422 beyond 10 committee_id values
# Up to this many rows the API counts exactly; above it `count` is a planner estimate.
EXACT_COUNT_LIMIT = 500_000
_COMMITTEE_ID = re.compile(r"^C\d{8}$")

# Receipt dates are compared as dates by the API; these bounds take in every dated row.
FIRST_DATE = "0001-01-01"
LAST_DATE = "9999-12-31"


@dataclass(frozen=True)
class Window:
    """A slice of a unit by receipt date: the dated rows from `first` to `last` (inclusive,
    as the API's min_date/max_date are), or, with `null_dates`, the rows without a date
    (which any min_date/max_date leaves out)."""

    first: str = FIRST_DATE
    last: str = LAST_DATE
    null_dates: bool = False

    def __str__(self) -> str:
        return "no receipt date" if self.null_dates else f"{self.first}..{self.last}"


NULL_DATES = Window(null_dates=True)
ALL_DATED = Window()


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    cursor: dict[str, Any] | None  # last_indexes to send to resume AFTER this page; None when done
    done: bool  # True on the short or empty page that ends the scan
    count: int | None  # the server's count for the whole filter (cursor aside)
    count_exact: bool = False  # True when the server says `count` is exact, not an estimate


@dataclass(frozen=True)
class Count:
    count: int
    exact: bool


def iter_pages(
    client: FecClient,
    committee_ids: Sequence[str],
    cycle: int,
    *,
    per_page: int = 100,
    min_load_date: str | None = None,
    cursor: dict[str, Any] | None = None,
    window: Window | None = None,
    kind: Kind = "schedule_a",
) -> Iterator[Page]:
    """Yield the chain's pages from ``cursor`` (or the start) until the page with done=True.

    Several committees page as one chain: the cursor is a position in one total order
    (receipt date ascending, NULLs last, then sub_id) over the union of their rows.

    Raises PaginationError when the server repeats a cursor, cycles back to one seen in this
    scan, or sends rows without a cursor: each would otherwise page forever or lose rows.
    """
    base = _base_params(committee_ids, cycle, per_page, min_load_date) + _window_params(window)
    label = f"{','.join(committee_ids)} {cycle}" + (f" ({window})" if window else "")
    members = frozenset(c.upper() for c in committee_ids) if len(committee_ids) > 1 else None
    return _Scan(client, base, label, per_page, cursor, kind, members)


def fetch_count(client: FecClient, committee_ids: Sequence[str], cycle: int, *,
                window: Window | None = None) -> Count:
    """The API's count of the committees' rows in `cycle` (optionally one window), in one
    request. Exact below the API's estimate threshold; `exact` says which."""
    params = _base_params(committee_ids, cycle, 1, None) + _window_params(window)
    body = client.get_json(PATH, params, kind="verify")
    label = f"{','.join(committee_ids)} {cycle}"
    _, _, count, exact = _parse_page(body, label)
    if count is None:
        raise PaginationError(f"{label}: the API sent no count")
    return Count(count, exact)


class _Scan:
    """The keyset scan as an explicit iterator rather than a generator: a suspended
    generator's frame would keep its last page of rows alive while the unit waits in the
    scheduler's queue, and memory would grow with the number of units under way."""

    def __init__(self, client: FecClient, base: list[tuple[str, str]], unit: str,
                 per_page: int, cursor: dict[str, Any] | None, kind: Kind,
                 members: frozenset[str] | None) -> None:
        self.client, self.base, self.unit, self.per_page = client, base, unit, per_page
        self.kind, self.members = kind, members
        self.sent = cursor
        self.seen: set[str] = {_cursor_key(cursor)} if cursor is not None else set()
        self.finished = False

    def __iter__(self) -> _Scan:
        return self

    def __next__(self) -> Page:
        if self.finished:
            raise StopIteration
        body = self.client.get_json(PATH, _merge(self.base, _cursor_params(self.sent)),
                                    kind=self.kind)
        rows, last_indexes, count, exact = _parse_page(body, self.unit)
        if self.members is not None:
            _check_members(rows, self.members, self.unit)
        if rows and last_indexes is None:
            raise PaginationError(f"{self.unit}: the API sent {len(rows)} rows without a cursor")
        if last_indexes is None or len(rows) < _served_page_size(body, self.per_page, self.unit):
            # Empty, or short: the server's LIMIT was not reached, so nothing follows.
            logger.debug("%s: last page, %d rows", self.unit, len(rows))
            self.finished = True
            return Page(rows, None, True, count, exact)
        _remember(self.seen, last_indexes, self.sent, self.unit)
        self.sent = last_indexes
        return Page(rows, last_indexes, False, count, exact)


def _check_members(rows: list[dict[str, Any]], members: frozenset[str], unit: str) -> None:
    """In a page of several committees each row must say whose it is, or it cannot be
    stored as any unit's (a chain of one committee takes such a row as that committee's)."""
    for row in rows:
        committee_id = row.get("committee_id")
        if not isinstance(committee_id, str) or committee_id.upper() not in members:
            raise PaginationError(
                f"{unit}: the API sent a row of committee {committee_id!r}, not one asked for")


def _served_page_size(body: dict[str, Any], asked: int, unit: str) -> int:
    """The page size the server applied: a page shorter than what we asked for ends the
    scan only if the server did not cap per_page below our request (a mirror might)."""
    served = body["pagination"].get("per_page")
    if isinstance(served, int) and not isinstance(served, bool) and 1 <= served < asked:
        logger.warning("%s: the API serves %d rows per page, not %d", unit, served, asked)
        return served
    return asked


def _remember(
    seen: set[str], cursor: dict[str, Any], sent: dict[str, Any] | None, unit: str
) -> None:
    """Add the cursor to those seen in this scan; a repeat would page forever."""
    key = _cursor_key(cursor)
    if key in seen:
        again = "the cursor it was sent" if cursor == sent else "an earlier cursor"
        raise PaginationError(
            f"{unit}: the API answered with {again} ({key}); stopped this unit "
            "instead of paging forever"
        )
    seen.add(key)


def _base_params(
    committee_ids: Sequence[str], cycle: int, per_page: int, min_load_date: str | None
) -> list[tuple[str, str]]:
    if isinstance(committee_ids, str):
        raise TypeError("committee_ids must be a sequence of ids, not one string")
    ids = [committee_id.upper() for committee_id in committee_ids]
    if not 1 <= len(ids) <= MAX_COMMITTEES:
        raise ValueError(f"between 1 and {MAX_COMMITTEES} committee ids are needed, got {len(ids)}")
    bad = [committee_id for committee_id in ids if not _COMMITTEE_ID.match(committee_id)]
    if bad:
        raise InvalidUnit(f"invalid committee id(s) {', '.join(bad)}: expected C + 8 digits")
    if cycle % 2:
        raise ValueError(f"two-year periods are even years, got {cycle}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
    params = [("committee_id", committee_id) for committee_id in ids]
    params += [
        ("two_year_transaction_period", str(cycle)),
        ("per_page", str(per_page)),
        ("sort", SORT),
    ]
    if min_load_date:
        params.append(("min_load_date", min_load_date))
    return params


def _window_params(window: Window | None) -> list[tuple[str, str]]:
    if window is None:
        return []
    if window.null_dates:
        # Ascending, sort_null_only narrows to the rows without a date, from the first one.
        return [("sort_null_only", "true")]
    return [("min_date", window.first), ("max_date", window.last)]


def _merge(base: list[tuple[str, str]], cursor: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The cursor's keys replace the base's (the NULL-date window sends sort_null_only too)."""
    keys = {key for key, _ in cursor}
    return [(key, value) for key, value in base if key not in keys] + cursor


def _cursor_params(cursor: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Every key of last_indexes, including sort_null_only (booleans as true/false)."""
    if not cursor:
        return []
    params = []
    for key, value in cursor.items():
        if value is None:
            continue  # the server drops a NULL sort value itself; "None" would be a 422
        if isinstance(value, bool):
            params.append((key, "true" if value else "false"))
        else:
            params.append((key, str(value)))
    return params


def _cursor_key(cursor: dict[str, Any]) -> str:
    return json.dumps(cursor, sort_keys=True, default=str)


def _parse_page(
    body: dict[str, Any], unit: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int | None, bool]:
    rows = body.get("results")
    pagination = body.get("pagination")
    if not isinstance(rows, list) or not isinstance(pagination, dict):
        raise PaginationError(f"{unit}: the API sent a page without results or pagination")
    if not all(isinstance(row, dict) for row in rows):
        raise PaginationError(f"{unit}: the API sent results that are not records")
    last_indexes = pagination.get("last_indexes")
    if last_indexes is not None and not (
        isinstance(last_indexes, dict) and last_indexes.get("last_index") is not None
    ):
        raise PaginationError(f"{unit}: the API sent a malformed cursor ({last_indexes!r})")
    count = pagination.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return rows, last_indexes, None, False
    exact = pagination.get("is_count_exact")
    if not isinstance(exact, bool):  # older responses lack the flag: the threshold decides
        exact = count <= EXACT_COUNT_LIMIT
    return rows, last_indexes, count, exact
