"""While the writer thread runs, it is the only thread that opens a SQLite connection."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import sync_donations
from tests.fake_openfec import FakeOpenFec
from tests.support import CYCLES, KEY, db_rows, expected_rows


def test_only_the_writer_connects_during_the_pipeline(world, tmp_path: Path, monkeypatch) -> None:
    opened: list[tuple[str, bool]] = []
    real_connect = sqlite3.connect

    def spy(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        writer_alive = any(t.name == "sqlite-writer" and t.is_alive()
                           for t in threading.enumerate())
        opened.append((threading.current_thread().name, writer_alive))
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", spy)
    db = tmp_path / "one-writer.db"
    with FakeOpenFec(world, api_keys=(KEY,), latency=0.002) as fake:
        args = ["--db", str(db), "--api-url", fake.url, "--api-key", KEY,
                "--legislators", fake.legislators_url, "--quiet", "--concurrency", "8",
                "--batch-size", "20", *[a for c in CYCLES for a in ("--cycle", str(c))]]
        result = CliRunner().invoke(sync_donations.cli, args)
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert result.exit_code == 0, result.output
    during = [name for name, writer_alive in opened if writer_alive]
    assert during == ["sqlite-writer"]  # its own connection, and nobody else's
    assert ("MainThread", False) in opened  # planning before, recording the run after
    assert db_rows(db) == expected_rows(world)
