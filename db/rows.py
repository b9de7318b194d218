"""Small helpers shared by the modules that read and write outside the writer thread
(db.state and db.plan): row reads, one-transaction writes, IN filters and ISO times."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from db.schema import as_database_error, database_path, transaction, utc_now


def read_rows(conn: sqlite3.Connection, sql: str,
              params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row  # whatever the connection's own factory is
    try:
        return cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()


@contextlib.contextmanager
def writing(conn: sqlite3.Connection) -> Iterator[None]:
    """One transaction; a raw sqlite3 error becomes a one-line DatabaseError."""
    try:
        with transaction(conn):
            yield
    except sqlite3.Error as exc:
        try:
            name = database_path(conn)
        except sqlite3.Error:
            name = "database"
        raise as_database_error(exc, name) from exc


def in_filter(column: str, values: Sequence[Any] | None) -> tuple[str, list[Any]]:
    """A `column IN (...)` filter, or no filter at all when values is None."""
    if values is None:
        return "1", []
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def parse_time(text: str | None) -> dt.datetime | None:
    """An aware UTC datetime from an ISO-8601 string; None if empty or unreadable."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def moment_of(now: str | None) -> dt.datetime:
    """`now` (or the current time) as an aware datetime."""
    moment = parse_time(now or utc_now())
    if moment is None:
        raise ValueError(f"not an ISO-8601 time: {now!r}")
    return moment
