"""Helpers shared by the tests of db/ (and the durability child process)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NOW = "2026-11-28T12:00:00Z"
LATER = "2026-11-28T13:00:00Z"


def record(sub_id: Any, **fields: Any) -> dict[str, Any]:
    """A Schedule A record shaped like the API's, with the fields the database keeps."""
    base: dict[str, Any] = {
        "sub_id": sub_id,
        "committee_id": "C00000001",
        "contributor_name": "ROE, RICHARD",
        "contributor_first_name": "RICHARD",
        "contributor_last_name": "ROE",
        "contributor_employer": "SELF-EMPLOYED",
        "contributor_occupation": "ATTORNEY",
        "contributor_city": "SPRINGFIELD",
        "contributor_state": "IL",
        "contributor_zip": "627011234",
        "contributor_id": None,
        "entity_type": "IND",
        "is_individual": True,
        "contribution_receipt_amount": 250.0,
        "contribution_receipt_date": "2024-09-30",
        "two_year_transaction_period": 2024,
        "report_year": 2024,
        "report_type": "Q3",
        "receipt_type": "15E",
        "line_number": "11AI",
        "memo_code": None,
        "memo_text": "EARMARKED THROUGH ACTBLUE",
        "transaction_id": "SA11AI.12345",
        "back_reference_transaction_id": None,
        "file_number": 1801234,
        "image_number": "202410159123456789",
        "pdf_url": "https://docquery.fec.gov/cgi-bin/fecimg/?202410159123456789",
        "amendment_indicator": "A",
        "load_date": "2024-10-17T03:12:45.123000",
        # fields the API sends that the database does not keep
        "committee": {"committee_id": "C00000001", "name": "SMITH FOR CONGRESS"},
        "entity_type_desc": "INDIVIDUAL",
    }
    base.update(fields)
    return base


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the file through a fresh connection of its own, as another process would."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection in autocommit mode, closed on exit."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()
