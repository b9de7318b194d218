"""Child process for test_db_durability: writes numbered pages through SQLiteWriter until it
is killed, printing "committed <page>" after each page's transaction has committed.

Usage: python -m tests.db_durability_child DB_PATH ROWS_PER_PAGE
Page k holds sub_ids "<k:06><i:04>"; its cursor is {"last_index": ..., "page": k}. A rerun
resumes after the stored cursor, as a real sync does.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
from typing import Any

from db import schema
from db.writer import DONE, CommitResult, PageFetched, SQLiteWriter

UNIT = ("C00000001", 2024)
MAX_PAGES = 20_000  # a bound in case nobody kills us


def stored_page(path: str) -> int | None:
    with contextlib.closing(schema.connect(path)) as conn:
        row = conn.execute("SELECT cursor FROM sync_state WHERE committee_id = ? AND cycle = ?",
                           UNIT).fetchone()
    return None if row is None or row[0] is None else int(json.loads(row[0])["page"])


def make_page(k: int, per_page: int, first: bool) -> PageFetched:
    rows: list[dict[str, Any]] = [
        {"sub_id": f"{k:06d}{i:04d}", "committee_id": UNIT[0], "contributor_name": f"DONOR {i}",
         "contribution_receipt_amount": float(i), "load_date": f"2024-01-01T00:00:{i % 60:02d}"}
        for i in range(per_page)
    ]
    return PageFetched(1, UNIT[1], (UNIT[0],), rows=rows,
                       cursor={"last_index": rows[-1]["sub_id"], "page": k}, done=False,
                       starts_pass=first, sort="contribution_receipt_date" if first else None)


def report(result: CommitResult) -> None:
    if isinstance(result.message, PageFetched) and result.message.cursor is not None:
        print(f"committed {result.message.cursor['page']}", flush=True)


def main(path: str, per_page: int) -> int:
    resume = stored_page(path)
    inbox: queue.Queue[object] = queue.Queue(maxsize=4)
    writer = SQLiteWriter(path, inbox, stop=threading.Event(), on_commit=report)
    writer.start()
    try:
        first = (resume or 0) + 1
        for k in range(first, first + MAX_PAGES):
            if writer.stop.is_set():
                break
            inbox.put(make_page(k, per_page, first=resume is None and k == first))
    finally:
        inbox.put(DONE)
        writer.join()
    return 1 if writer.error is not None else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
