"""Shared fixtures: a fake OpenFEC on 127.0.0.1 and a way to run the real CLI against it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-key-0123456789"
CYCLES = (2024, 2026)


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
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT sub_id, committee_id, contribution_receipt_amount, contribution_receipt_date,"
            " contributor_employer FROM donations"
        ).fetchall()
    conn.close()
    return {r[0]: tuple(r[1:]) for r in rows}


def expected_rows(world: Any, cycles: tuple[int, ...] = CYCLES) -> dict[str, tuple[Any, ...]]:
    return {
        sub_id: (row["committee_id"], row["contribution_receipt_amount"],
                 row["contribution_receipt_date"], row["contributor_employer"])
        for sub_id, row in world.expected_rows(cycles=cycles).items()
    }


@pytest.fixture
def world() -> Any:
    from tests.fake_openfec import generate_world

    return generate_world(seed=7, politicians=12, cycles=CYCLES, rows_scale=0.5)


@pytest.fixture
def fake(world: Any) -> Iterator[Any]:
    from tests.fake_openfec import FakeOpenFec

    with FakeOpenFec(world, api_keys=(KEY, "DEMO_KEY")) as server:
        yield server


@pytest.fixture
def cli(fake: Any, tmp_path: Path) -> Cli:
    return Cli(fake, tmp_path / "donations.db")
