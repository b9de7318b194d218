"""One look through a real browser: `make explore`'s launcher serves a synced database and
headless Chromium shows a member's donations on the page it loads."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.exploretools import Explored, member_rows, members
from tests.support import ROOT

BROWSER = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium here (Debian: apt-get install chromium)")


@pytest.fixture
def served(explored: Explored) -> Iterator[str]:
    """The URL of `python -m db.browse <db> --port 0`; afterwards, a `kill` of that process
    must leave no server behind."""
    server = subprocess.Popen([sys.executable, "-m", "db.browse", str(explored.db), "--port", "0"],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)  # its own group, as a terminal's job
    watchdog = threading.Timer(120, os.killpg, (server.pid, signal.SIGKILL))
    watchdog.start()
    url = None
    try:
        assert server.stderr is not None
        said = ""
        for line in server.stderr:  # uvicorn names its address once it listens
            said += line
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:(\d+))", line)
            if found:
                url, port = found.group(1), int(found.group(2))
                break
        else:
            pytest.fail(f"the server stopped before listening: {said}")
        yield url
    finally:
        server.terminate()  # SIGTERM to the launcher's pid alone, as `kill` sends it
        server.wait()
        watchdog.cancel()
        if server.stderr is not None:
            server.stderr.close()
    with pytest.raises(ConnectionRefusedError):  # the launcher was the server: none is left
        socket.create_connection(("127.0.0.1", port), timeout=10).close()


def dump_dom(url: str, profile: Path) -> str:
    """The page as Chromium has rendered it."""
    proc = subprocess.run(
        [str(BROWSER), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return html.unescape(proc.stdout)


def test_the_browser_shows_a_members_donations(explored: Explored, served: str,
                                               tmp_path: Path) -> None:
    rows = member_rows(explored.world)
    bioguide = max((b for b, c in rows if c == 2026), key=lambda b: len(rows[(b, 2026)]))
    name = members(explored.world)[bioguide][0]
    page = dump_dom(f"{served}/donations/donations_to_a_member?member={bioguide}&cycle=2026",
                    tmp_path / "profile")
    assert "Donations to a member" in page
    assert page.count(name) >= len(rows[(bioguide, 2026)])
    shown = {r["contributor_name"] for r in rows[(bioguide, 2026)]}
    assert all(contributor in page for contributor in shown)
