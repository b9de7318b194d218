"""Helpers shared by the test files: run the real CLI, read what it stored, judge it.

Fixtures live in conftest.py; everything a test file imports lives here (pytest advises
against importing from conftest).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-key-0123456789"
CYCLES = (2024, 2026)
MOCK_BASE = "http://127.0.0.1:9/v1"  # what the `client` fixture talks to, mocked by `api`
WAIT_S = 60.0  # a safety net for event waits: reaching it is a failure, never a pass


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli_command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "sync_donations.py"), *args]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENFEC_API_KEY", "DONATIONS_DB", "OPENFEC_API_URL", "LEGISLATORS_URL",
                        "OPENFEC_RATE_LIMIT")}
    env.update(extra)
    return env


class Cli:
    """Runs `sync_donations.py` as a real subprocess against one fake and one database."""

    def __init__(self, fake: Any, db: Path, key: str = KEY):
        self.fake, self.db, self.key = fake, db, key
        self.quiet = True
        self.extra_env: dict[str, str] = {}

    def args(self, *extra: str) -> list[str]:
        base = ["--db", str(self.db), "--api-url", self.fake.url,
                "--legislators", self.fake.legislators_url]
        if self.quiet:
            base.append("--quiet")
        if not any(a == "--cycle" for a in extra):
            for cycle in CYCLES:
                base += ["--cycle", str(cycle)]
        return cli_command(*base, *extra)

    def env(self) -> dict[str, str]:
        return clean_env(OPENFEC_API_KEY=self.key, **self.extra_env)

    def run(self, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.args(*extra), env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def popen(self, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.args(*extra), env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run_json(self, *extra: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
        proc = self.run("--json", *extra, timeout=timeout)
        report = json.loads(proc.stdout) if proc.stdout.strip() else {}
        return proc.returncode, report, proc.stderr


def db_rows(db: Path) -> dict[str, tuple[Any, ...]]:
    """sub_id -> (committee_id, amount, date, employer) as stored."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT sub_id, committee_id, contribution_receipt_amount, contribution_receipt_date,"
            " contributor_employer FROM donations"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def expected_rows(world: Any, cycles: tuple[int, ...] = CYCLES) -> dict[str, tuple[Any, ...]]:
    return {
        sub_id: (row["committee_id"], row["contribution_receipt_amount"],
                 row["contribution_receipt_date"], row["contributor_employer"])
        for sub_id, row in world.expected_rows(cycles=cycles).items()
    }


def integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def rows_still_needed(db: Path, world: Any, cycles: tuple[int, ...] = CYCLES) -> int:
    """The rows a resume must still read to finish a FIRST sync from what `db` holds.

    Pages commit with their chain's cursor, so what a chain has not committed is exactly
    what lies after its cursor: a resume that reads each missing row once, and no stored
    row again, reads exactly this many."""
    return len(expected_rows(world, cycles)) - len(db_rows(db))


def pages_served(fake: Any) -> tuple[int, int]:
    """(page requests, rows they returned) in the fake's log: Schedule A pages, not count
    probes of one row."""
    pages = [e for e in fake.log if e.kind == "schedule_a" and e.params.get("per_page") != ["1"]]
    return len(pages), sum(e.rows for e in pages)


def requests_unit_by_unit(db: Path, world: Any, per_page: int,
                          cycles: tuple[int, ...] = CYCLES) -> int:
    """What finishing the first sync would cost paging each unfinished unit on its own
    (the rest of its rows, a page at a time, and the short page that ends it): chains of
    several units never need more."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        complete = set(conn.execute(
            "SELECT committee_id, cycle FROM sync_state WHERE status = 'complete'"))
        stored = Counter(dict(((c, y), n) for c, y, n in conn.execute(
            "SELECT committee_id, two_year_transaction_period, count(*) FROM donations"
            " GROUP BY 1, 2")))
    total = Counter((r["committee_id"], r["two_year_transaction_period"])
                    for r in world.expected_rows(cycles=cycles).values())
    units = world.campaign_units(cycles)
    return sum((total[unit] - stored[unit]) // per_page + 1 for unit in units
               if unit not in complete)


def kill_mid_run(cli: Cli, fake: Any, after: int, *args: str,
                 signum: int = signal.SIGKILL) -> tuple[int, str, str]:
    """Start a sync, let exactly `after` Schedule A requests through, and signal it while
    its next request is held by the fake: the signal lands mid-run by construction.

    Returns (exit status, stdout, stderr). For a SIGKILL nothing else is answered; for
    other signals the held requests are answered once the sync has said it is stopping,
    so it can commit them and exit on its own."""
    gate = fake.hold(after=after, kind="schedule_a")
    proc = cli.popen(*args)
    try:
        if not gate.wait_held(1, timeout=WAIT_S):
            raise AssertionError(f"the sync never sent Schedule A request {after + 1}")
        proc.send_signal(signum)
        said = []
        if signum != signal.SIGKILL:
            assert proc.stderr is not None
            for line in proc.stderr:  # an event, not a sleep: the sync reports the signal
                said.append(line)
                if "received: finishing in-flight pages" in line:
                    break
            gate.release()
        out, err = proc.communicate(timeout=WAIT_S)
        err = "".join(said) + err
    finally:
        gate.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err
