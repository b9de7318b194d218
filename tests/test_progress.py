"""What users watch: a bar on a terminal, periodic log lines without one, nothing with --quiet."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import select
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from db.writer import CommitResult, PageFetched
from fec.budget import RateBudget
from fec.client import RequestStats
from sync.outcome import Outcome
from sync.progress import Progress
from tests.support import Cli


def read_all(fd: int, proc: subprocess.Popen[bytes]) -> str:
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_a_progress_bar(cli: Cli, world, tmp_path: Path) -> None:
    cli.quiet = False
    primary, secondary = pty.openpty()
    # a real terminal has a size; a fresh pty reports 0 columns
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(cli.args(), env=cli.env(), stdout=subprocess.DEVNULL,
                            stderr=secondary, stdin=subprocess.DEVNULL)
    os.close(secondary)
    try:
        screen = read_all(primary, proc)
    finally:
        os.close(primary)
    assert proc.wait(timeout=60) == 0
    total = len(world.campaign_units((2024, 2026)))
    assert f"{total}/{total}" in screen  # units done / total, drawn by the bar
    assert "rows=" in screen and "requests=" in screen and "quota~" in screen


def test_without_a_terminal_progress_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    outcome = Outcome()
    progress = Progress(outcome, RequestStats(), RateBudget(1000), quiet=False)
    progress.LOG_EVERY_S = 0.0
    done = PageFetched(1, 2024, ("C00000001",), rows=[], cursor=None, done=True)
    with caplog.at_level(logging.INFO, logger="sync.progress"), progress.running(3):
        progress.on_commit(CommitResult(done, inserted=7, updated=1,
                                        completed=(("C00000001", 2024),)))
    assert "progress: 1/3 units, 8 rows new or updated" in caplog.text
    assert outcome.rows["inserted"] == 7 and outcome.rows["updated"] == 1


def test_quiet_logs_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress(Outcome(), RequestStats(), RateBudget(1000), quiet=True)
    progress.LOG_EVERY_S = 0.0
    done = PageFetched(1, 2024, ("C00000001",), rows=[], cursor=None, done=True)
    with caplog.at_level(logging.INFO, logger="sync.progress"), progress.running(1):
        progress.on_commit(CommitResult(done, inserted=1, completed=(("C00000001", 2024),)))
    assert "progress:" not in caplog.text
