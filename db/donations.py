"""Schedule A records to `donations` rows: the field mapping and the upsert on sub_id.

Every value is converted in Python to the type its column stores, so that a value read
back compares equal to the same value freshly mapped. That is what lets an identical
row be recognised as unchanged instead of being rewritten.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Value = str | int | float | None

_TRUE = frozenset({"true", "t", "1", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "no", "n"})
_CHUNK = 500  # bound parameters per SELECT ... IN (...), well under SQLite's limit


def _finite(number: float) -> float | None:
    # SQLite stores NaN as NULL; map it the same way so comparisons stay stable.
    return number if math.isfinite(number) else None


def as_text(value: Any) -> Value:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True)


def as_int(value: Any) -> Value:
    if value is None or isinstance(value, int):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, float):
        return int(value) if value.is_integer() else _finite(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            number = as_real(value)
            return int(number) if isinstance(number, float) and number.is_integer() else number
    return as_text(value)


def as_real(value: Any) -> Value:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return _finite(float(value))
    if isinstance(value, str):
        try:
            return _finite(float(value.strip()))
        except ValueError:
            return value  # SQLite keeps non-numeric text as text, and so do we
    return as_text(value)


def as_flag(value: Any) -> Value:
    """0/1/NULL from the API's bool (or its string spellings); anything else is unknown."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        return 1 if word in _TRUE else 0 if word in _FALSE else None
    return None


# (column == API field name, converter), in the order of the values tuples below.
DATA_COLUMNS: tuple[tuple[str, Callable[[Any], Value]], ...] = (
    ("committee_id", as_text),
    ("contributor_name", as_text),
    ("contributor_first_name", as_text),
    ("contributor_last_name", as_text),
    ("contributor_employer", as_text),
    ("contributor_occupation", as_text),
    ("contributor_city", as_text),
    ("contributor_state", as_text),
    ("contributor_zip", as_text),
    ("contributor_id", as_text),
    ("entity_type", as_text),
    ("is_individual", as_flag),
    ("contribution_receipt_amount", as_real),  # dollars, exactly as the API gives them
    ("contribution_receipt_date", as_text),
    ("two_year_transaction_period", as_int),
    ("report_year", as_int),
    ("report_type", as_text),
    ("receipt_type", as_text),
    ("line_number", as_text),
    ("memo_code", as_text),
    ("memo_text", as_text),
    ("transaction_id", as_text),
    ("back_reference_transaction_id", as_text),
    ("file_number", as_int),
    ("image_number", as_text),
    ("pdf_url", as_text),
    ("amendment_indicator", as_text),
    ("load_date", as_text),
)
COLUMNS: tuple[str, ...] = tuple(name for name, _ in DATA_COLUMNS)

_INSERT = (
    f"INSERT INTO donations (sub_id, {', '.join(COLUMNS)}, first_seen_at, last_seen_at) "
    f"VALUES ({', '.join('?' * (len(COLUMNS) + 3))})"
)
_UPDATE = (
    f"UPDATE donations SET {', '.join(f'{c} = ?' for c in COLUMNS)}, last_seen_at = ?, "
    "superseded_at = NULL WHERE sub_id = ?"
)
# A row seen again is current again, even if an earlier reconciliation had superseded it.
_TOUCH = "UPDATE donations SET last_seen_at = ?, superseded_at = NULL WHERE sub_id = ?"
# After a full pass, the unit's rows it did not see were amended away upstream.
_SUPERSEDE = (
    "UPDATE donations SET superseded_at = :now WHERE committee_id = :committee_id"
    " AND two_year_transaction_period = :cycle AND superseded_at IS NULL"
    " AND last_seen_at < :pass_started_at"
)


# Receipt dates are compared on their first 10 characters: older API answers sent
# "2020-03-13T00:00:00", which text comparison would put after "2020-03-13".
_DAY = "substr(contribution_receipt_date, 1, 10)"
_IN_WINDOW = f" AND {_DAY} BETWEEN :first AND :last"
_NO_DATE = " AND contribution_receipt_date IS NULL"
_LIVE = ("FROM donations WHERE committee_id = ? AND two_year_transaction_period = ?"
         " AND superseded_at IS NULL")


def supersede_unseen(conn: sqlite3.Connection, committee_id: str, cycle: int,
                     pass_started_at: str, now: str) -> int:
    """Mark the unit's rows a complete full pass did not return; never delete them."""
    cursor = conn.execute(_SUPERSEDE, {"now": now, "committee_id": committee_id,
                                       "cycle": cycle, "pass_started_at": pass_started_at})
    return cursor.rowcount


def supersede_window(conn: sqlite3.Connection, committee_id: str, cycle: int,
                     window: tuple[str, str] | None, started_at: str, now: str) -> int:
    """Mark the unit's rows in a receipt-date window (None: those without a date) that a
    complete rescan of the window begun at `started_at` did not return."""
    sql = _SUPERSEDE + (_NO_DATE if window is None else _IN_WINDOW)
    first, last = window or (None, None)
    cursor = conn.execute(sql, {"now": now, "committee_id": committee_id, "cycle": cycle,
                                "pass_started_at": started_at, "first": first, "last": last})
    return cursor.rowcount


def live_counts(conn: sqlite3.Connection,
                units: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Each unit's rows that are not superseded."""
    return {unit: int(conn.execute(f"SELECT count(*) {_LIVE}", unit).fetchone()[0])
            for unit in units}


def live_dates(conn: sqlite3.Connection, unit: tuple[str, int]) -> dict[str | None, int]:
    """The unit's live rows by receipt day (None: without a date)."""
    rows = conn.execute(f"SELECT {_DAY}, count(*) {_LIVE} GROUP BY 1", unit)
    return {day: int(n) for day, n in rows}


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_no_sub_id: int = 0


def sub_id_of(record: Mapping[str, Any]) -> str | None:
    """The record's sub_id as stored (TEXT, ints converted), or None if it has none."""
    value = record.get("sub_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None  # a float or an object cannot be a 19-digit id
    text = str(value)
    return text if text.strip() else None


def map_record(record: Mapping[str, Any], committee_id: str | None) -> tuple[Value, ...]:
    """The data columns of one record; `committee_id` (the page's only committee, if it has
    one) fills a missing committee_id."""
    values = [convert(record.get(name)) for name, convert in DATA_COLUMNS]
    if values[0] is None:
        values[0] = committee_id
    return tuple(values)


def upsert_rows(conn: sqlite3.Connection, records: Iterable[Mapping[str, Any]],
                committee_id: str | None, now: str) -> UpsertCounts:
    """Insert new rows, update changed ones, only touch identical ones.

    Runs inside the caller's transaction."""
    rows: dict[str, tuple[Value, ...]] = {}
    skipped = 0
    for record in records:
        sub_id = sub_id_of(record)
        if sub_id is None:
            skipped += 1
        else:
            rows[sub_id] = map_record(record, committee_id)  # a repeat within a page: last wins
    stored = _stored_values(conn, list(rows))
    new = [(s, *v, now, now) for s, v in rows.items() if s not in stored]
    changed = [(*v, now, s) for s, v in rows.items() if s in stored and stored[s] != v]
    same = [(now, s) for s, v in rows.items() if stored.get(s) == v]
    conn.executemany(_INSERT, new)
    conn.executemany(_UPDATE, changed)
    conn.executemany(_TOUCH, same)
    return UpsertCounts(len(new), len(changed), len(same), skipped)


def _stored_values(conn: sqlite3.Connection,
                   sub_ids: Sequence[str]) -> dict[str, tuple[Value, ...]]:
    found: dict[str, tuple[Value, ...]] = {}
    for start in range(0, len(sub_ids), _CHUNK):
        chunk = sub_ids[start:start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT sub_id, {', '.join(COLUMNS)} FROM donations WHERE sub_id IN ({marks})"
        for row in conn.execute(query, chunk):
            found[row[0]] = tuple(row[1:])
    return found
