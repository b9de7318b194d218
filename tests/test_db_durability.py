"""kill -9 in the middle of a stream of pages: every committed page is whole, with its cursor."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from pathlib import Path

from db import schema

ROOT = Path(__file__).resolve().parent.parent
PER_PAGE = 150


def run_until_killed(db_path: Path, commits: int) -> int:
    """Start the child, SIGKILL it once it has reported `commits` pages; the last one reported."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.db_durability_child", str(db_path), str(PER_PAGE)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    watchdog = threading.Timer(30, proc.kill)  # never let a stuck child hang the test run
    watchdog.start()
    last = 0
    try:
        assert proc.stdout is not None
        for _ in range(commits):
            line = proc.stdout.readline()
            assert line.startswith("committed "), f"child said {line!r}"
            last = int(line.split()[1])
    finally:
        proc.kill()  # SIGKILL: no cleanup, no rollback, mid-transaction if it can be
        proc.wait()
        watchdog.cancel()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -9
    return last


def stored_state(db_path: Path) -> tuple[int, int, dict[int, int], str]:
    """(cursor page, rows_seen, rows per page, integrity_check) read after reopening."""
    with contextlib.closing(schema.connect(db_path)) as conn:
        cursor, rows_seen = conn.execute("SELECT cursor, rows_seen FROM sync_state").fetchone()
        per_page = {
            int(page): count for page, count in conn.execute(
                "SELECT substr(sub_id, 1, 6), count(*) FROM donations GROUP BY 1")
        }
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return int(json.loads(cursor)["page"]), rows_seen, per_page, integrity


def test_a_killed_writer_leaves_only_whole_pages_with_their_cursor(tmp_path: Path) -> None:
    db_path = tmp_path / "donations.db"
    reported = 0
    for commits in (5, 12, 20):  # each run resumes from the cursor the previous one left
        reported = run_until_killed(db_path, commits)
        page, rows_seen, per_page, integrity = stored_state(db_path)
        assert integrity == "ok"
        assert page >= reported  # everything reported as committed survived
        # Rows of page k exist iff the cursor reached k, and then all of them: no partial page.
        assert per_page == {k: PER_PAGE for k in range(1, page + 1)}
        assert rows_seen == page * PER_PAGE  # counters committed with the same transactions
    assert reported > 20
