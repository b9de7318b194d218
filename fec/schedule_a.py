"""Keyset paging through /schedules/schedule_a/ for one unit (committees x one period).

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

from fec.client import FecClient
from fec.errors import InvalidUnit, PaginationError

logger = logging.getLogger(__name__)

PATH = "/schedules/schedule_a/"
SORT = "contribution_receipt_date"
MAX_PER_PAGE = 100
MAX_COMMITTEES = 10  # OpenFEC answers 422 beyond 10 committee_id values
_COMMITTEE_ID = re.compile(r"^C\d{8}$")


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    cursor: dict[str, Any] | None  # last_indexes to send to resume AFTER this page; None when done
    done: bool  # True on the short or empty page that ends the scan
    count: int | None  # the server's estimate for the whole filter; informational only


def iter_pages(
    client: FecClient,
    committee_ids: Sequence[str],
    cycle: int,
    *,
    per_page: int = 100,
    min_load_date: str | None = None,
    cursor: dict[str, Any] | None = None,
) -> Iterator[Page]:
    """Yield the unit's pages from ``cursor`` (or the start) until the page with done=True.

    Raises PaginationError when the server repeats a cursor, cycles back to one seen in this
    scan, or sends rows without a cursor: each would otherwise page forever or lose rows.
    """
    base = _base_params(committee_ids, cycle, per_page, min_load_date)
    return _Scan(client, base, f"{','.join(committee_ids)} {cycle}", per_page, cursor)


class _Scan:
    """The keyset scan as an explicit iterator rather than a generator: a suspended
    generator's frame would keep its last page of rows alive while the unit waits in the
    scheduler's queue, and memory would grow with the number of units under way."""

    def __init__(self, client: FecClient, base: list[tuple[str, str]], unit: str,
                 per_page: int, cursor: dict[str, Any] | None) -> None:
        self.client, self.base, self.unit, self.per_page = client, base, unit, per_page
        self.sent = cursor
        self.seen: set[str] = {_cursor_key(cursor)} if cursor is not None else set()
        self.finished = False

    def __iter__(self) -> _Scan:
        return self

    def __next__(self) -> Page:
        if self.finished:
            raise StopIteration
        body = self.client.get_json(PATH, self.base + _cursor_params(self.sent),
                                    kind="schedule_a")
        rows, last_indexes, count = _parse_page(body, self.unit)
        if rows and last_indexes is None:
            raise PaginationError(f"{self.unit}: the API sent {len(rows)} rows without a cursor")
        if last_indexes is None or len(rows) < _served_page_size(body, self.per_page, self.unit):
            # Empty, or short: the server's LIMIT was not reached, so nothing follows.
            logger.debug("%s: last page, %d rows", self.unit, len(rows))
            self.finished = True
            return Page(rows, None, True, count)
        _remember(self.seen, last_indexes, self.sent, self.unit)
        self.sent = last_indexes
        return Page(rows, last_indexes, False, count)


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
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int | None]:
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
    return rows, last_indexes, count if isinstance(count, int) else None
