"""End to end: the real CLI in a subprocess, over real sockets, against the fake API."""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.fake_openfec import FakeOpenFec, Faults
from tests.support import KEY, Cli, db_rows, expected_rows


def test_full_sync_equals_the_api(cli: Cli, world) -> None:
    code, report, stderr = cli.run_json("--batch-size", "20", "--concurrency", "4")
    assert code == 0, stderr
    want = expected_rows(world)
    got = db_rows(cli.db)
    assert got == want
    assert report["status"] == "complete"
    assert report["rows"]["inserted"] == len(want)
    assert report["units"]["failed"] == report["units"]["pending"] == 0
    assert report["units"]["complete"] == report["units"]["total"] > 0


def test_requests_are_the_keyset_minimum(cli: Cli, world, fake: FakeOpenFec) -> None:
    code, report, stderr = cli.run_json("--batch-size", "20")
    assert code == 0, stderr
    minimum = 0
    for committee_id, cycle in world.campaign_units((2024, 2026)):
        rows = len(world.expected_rows(committee_ids=[committee_id], cycles=[cycle]))
        minimum += rows // 20 + 1  # a full last page needs one empty terminator page
    assert fake.count(kind="schedule_a") == report["requests"]["schedule_a"] == minimum


def test_null_dates_beyond_a_page_are_all_synced(cli: Cli, world) -> None:
    code, _, stderr = cli.run_json("--batch-size", "20")
    assert code == 0, stderr
    null_dated = {s for s, r in world.expected_rows(cycles=(2024, 2026)).items()
                  if r["contribution_receipt_date"] is None}
    assert len(null_dated) > 100
    assert null_dated <= set(db_rows(cli.db))


def test_plain_rerun_spends_no_schedule_a_request(cli: Cli, fake: FakeOpenFec) -> None:
    first = cli.run()
    assert first.returncode == 0, first.stderr
    fake.reset_log()
    code, report, stderr = cli.run_json()
    assert code == 0, stderr
    assert fake.count(kind="schedule_a") == 0
    assert fake.count(kind="lookup") == 0
    assert report["units"]["skipped"] == report["units"]["total"]


def test_incremental_rerun_picks_up_late_filings_and_corrections(cli: Cli, world, fake) -> None:
    first = cli.run("--batch-size", "50")
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(cli.db) as conn:
        watermarked = set(conn.execute(
            "SELECT committee_id, cycle FROM sync_state WHERE loaded_through IS NOT NULL"))
    conn.close()
    late = world.add_late_filings(15)
    corrected = world.correct_rows(10)
    fake.reset_log()
    code, report, stderr = cli.run_json("--refresh-after", "0", "--batch-size", "50")
    assert code == 0, stderr
    assert db_rows(cli.db) == expected_rows(world)
    assert report["rows"]["inserted"] == len(late)
    assert report["rows"]["updated"] == len(corrected)
    # Units that had rows carry a watermark, so their passes are incremental; a unit
    # that was empty has none and is simply rescanned (one request either way).
    sent = [e for e in fake.log if e.kind == "schedule_a"
            and (e.params["committee_id"][0], int(e.params["two_year_transaction_period"][0]))
            in watermarked]
    assert sent and all("min_load_date" in entry.params for entry in sent)


def test_kill_9_at_random_moments_then_resume(cli: Cli, world, tmp_path: Path) -> None:
    rng = random.Random(11)
    for _attempt in range(3):
        proc = cli.popen("--batch-size", "10", "--concurrency", "4")
        time.sleep(rng.uniform(0.4, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        with sqlite3.connect(cli.db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    final = cli.run("--batch-size", "10")
    assert final.returncode == 0, final.stderr
    assert db_rows(cli.db) == expected_rows(world)


def test_faults_do_not_lose_rows(world, tmp_path: Path) -> None:
    faults = Faults(p_5xx=0.10, p_reset=0.03, p_truncated=0.03, p_html=0.02)
    with FakeOpenFec(world, api_keys=(KEY,), faults=faults, seed=3) as fake:
        cli = Cli(fake, tmp_path / "faults.db")
        code, report, stderr = cli.run_json("--batch-size", "25", "--concurrency", "4")
        if code == 75:  # the circuit breaker may open on an unlucky streak: resume
            code, report, stderr = cli.run_json("--batch-size", "25")
    assert code == 0, stderr
    assert report["requests"]["retries"] > 0
    assert db_rows(cli.db) == expected_rows(world)


@pytest.mark.parametrize("retry_after", [True, False])
def test_rate_limit_below_our_pace_completes(world, tmp_path: Path, retry_after: bool) -> None:
    with FakeOpenFec(world, api_keys=(KEY,), rate_limit=(15, 1.0),
                     send_retry_after=retry_after) as fake:
        cli = Cli(fake, tmp_path / "rl.db")
        code, report, stderr = cli.run_json("--batch-size", "50", "--concurrency", "8")
    assert code == 0, stderr
    assert report["requests"]["rate_limited"] + report["requests"]["total"] > 0
    assert db_rows(cli.db) == expected_rows(world)


def test_invalid_key_fails_fast_and_is_never_shown(fake: FakeOpenFec, tmp_path: Path) -> None:
    secret = "bad-key-SECRET-4242"
    cli = Cli(fake, tmp_path / "bad.db", key=secret)
    started = time.monotonic()
    proc = cli.run("--json")
    assert proc.returncode == 1
    assert time.monotonic() - started < 20
    assert "API_KEY_INVALID" in proc.stderr or "invalid" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert secret.encode() not in cli.db.read_bytes()
    wal = Path(str(cli.db) + "-wal")
    if wal.exists():
        assert secret.encode() not in wal.read_bytes()


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_commit_and_exit_then_resume(world, tmp_path: Path, signum, code) -> None:
    with FakeOpenFec(world, api_keys=(KEY,), latency=0.02) as fake:
        cli = Cli(fake, tmp_path / "sig.db")
        proc = cli.popen("--batch-size", "10", "--json")
        time.sleep(2.0)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert "Re-run to resume" in err
        assert '"status": "interrupted"' in out
        saved = db_rows(cli.db)
        assert 0 < len(saved) < len(expected_rows(world))
        final = cli.run("--batch-size", "10")
        assert final.returncode == 0, final.stderr
    assert db_rows(cli.db) == expected_rows(world)


def test_second_concurrent_run_exits_75(world, tmp_path: Path) -> None:
    with FakeOpenFec(world, api_keys=(KEY,), latency=0.05) as fake:
        cli = Cli(fake, tmp_path / "lock.db")
        first = cli.popen("--batch-size", "10")
        time.sleep(1.0)
        second = cli.run()
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert second.returncode == 75
    assert "another sync is already running" in second.stderr


def test_max_requests_stops_safely_and_resumes(cli: Cli, world) -> None:
    code, report, stderr = cli.run_json("--batch-size", "20", "--max-requests", "25")
    assert code == 75, stderr
    assert report["status"] == "stopped"
    assert report["requests"]["total"] <= 25
    code, _, stderr = cli.run_json("--batch-size", "20")
    assert code == 0, stderr
    assert db_rows(cli.db) == expected_rows(world)


@pytest.mark.parametrize("args,message", [
    (["--batch-size", "0"], "Invalid value for '--batch-size'"),
    (["--batch-size", "101"], "Invalid value for '--batch-size'"),
    (["--concurrency", "33"], "Invalid value for '--concurrency'"),
    (["--cycle", "2025"], "2025 is odd"),
    (["--cycle", "abc"], "'abc' is not a year"),
    (["--refresh-after", "-1"], "Invalid value for '--refresh-after'"),
    (["--no-such-flag"], "No such option"),
    (["--db", ""], "'' is not a database file path"),
    (["--db", ":memory:"], "':memory:' is not a database file path"),
    (["--api-key", "two words"], "contains spaces or control characters"),
    (["--api-url", "https://"], "is not an http(s) URL"),
    (["--api-url", "ftp://example.org/v1"], "is not an http(s) URL"),
    (["--refresh-after", "nan"], "is not a finite number"),
    (["--max-wait", "inf"], "is not a finite number"),
    (["--politician", ""], "no bioguide id given"),
])
def test_bad_flags_exit_2(cli: Cli, args, message) -> None:
    proc = cli.run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_full_rescan_marks_rows_amended_away_but_keeps_them(cli: Cli, world, fake) -> None:
    assert cli.run("--batch-size", "50").returncode == 0
    gone = set(world.amend_away(6))
    code, report, stderr = cli.run_json("--refresh-after", "0")
    assert code == 0, stderr
    assert report["rows"]["superseded"] == 0  # an incremental pass cannot tell
    fake.reset_log()
    code, report, stderr = cli.run_json("--full", "--batch-size", "50")
    assert code == 0, stderr
    assert all("min_load_date" not in e.params for e in fake.log if e.kind == "schedule_a")
    assert report["rows"]["superseded"] == len(gone)
    with sqlite3.connect(cli.db) as conn:
        marked = {r[0] for r in conn.execute(
            "SELECT sub_id FROM donations WHERE superseded_at IS NOT NULL")}
        total = conn.execute("SELECT count(*) FROM donations").fetchone()[0]
    conn.close()
    assert marked == gone
    assert total == len(expected_rows(world)) + len(gone)  # never deleted


def test_a_signal_during_a_slow_lookup_exits_at_once(world, tmp_path: Path) -> None:
    with FakeOpenFec(world, api_keys=(KEY,), latency=8.0) as fake:
        cli = Cli(fake, tmp_path / "slow.db")
        proc = cli.popen("--json")
        deadline = time.monotonic() + 10
        while fake.count(kind="legislators") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the committee look-up is now in flight, answering in 8 s
        assert fake.count(kind="lookup") == 0
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        waited = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert waited < 4.0
    assert '"status": "interrupted"' in out
    assert "Traceback" not in err


def test_a_full_rescan_stopped_early_resumes_instead_of_restarting(cli: Cli, world, fake) -> None:
    assert cli.run("--batch-size", "20").returncode == 0
    minimum = fake.count(kind="schedule_a")
    fake.reset_log()
    code, _, stderr = cli.run_json("--full", "--batch-size", "20", "--max-requests", "15")
    assert code == 75, stderr
    code, _, stderr = cli.run_json("--full", "--batch-size", "20")
    assert code == 0, stderr
    # the second --full finished the first one: no unit was scanned twice
    assert fake.count(kind="schedule_a") == minimum
    fake.reset_log()
    code, _, stderr = cli.run_json("--full", "--batch-size", "20")
    assert code == 0, stderr
    assert fake.count(kind="schedule_a") == minimum  # a new --full rescans everything
    assert db_rows(cli.db) == expected_rows(world)
