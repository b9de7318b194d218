"""End to end: the real CLI in a subprocess, over real sockets, against the fake API."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openfec import FakeOpenFec, Faults
from tests.fake_openfec.server import encode_error
from tests.support import (
    CYCLES,
    KEY,
    WAIT_S,
    Cli,
    closed_port,
    db_rows,
    expected_rows,
    integrity,
    kill_mid_run,
    pages_served,
    requests_unit_by_unit,
    rows_still_needed,
)


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


def test_coalesced_chains_read_every_row_once_in_fewer_requests(cli: Cli, world,
                                                                fake: FakeOpenFec) -> None:
    code, report, stderr = cli.run_json("--batch-size", "20")
    assert code == 0, stderr
    per_unit = floor = 0
    for cycle in (2024, 2026):
        units = [c for c, y in world.campaign_units((2024, 2026)) if y == cycle]
        sizes = [world.expected_count([c], [cycle]) for c in units]
        per_unit += sum(rows // 20 + 1 for rows in sizes)  # a full last page needs one more
        floor += max(sum(sizes) // 20 + 1, -(-len(units) // 10))
    requests = fake.count(kind="schedule_a")
    assert requests == report["requests"]["schedule_a"]
    assert floor <= requests < per_unit
    # several committees per request, and no row served twice
    assert max(len(e.params.get("committee_id", [])) for e in fake.log) > 1
    assert sum(e.rows for e in fake.log if e.kind == "schedule_a") == len(expected_rows(world))


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
    late = world.add_late_filings(15)
    corrected = world.correct_rows(10)
    fake.reset_log()
    code, report, stderr = cli.run_json("--refresh-after", "0", "--batch-size", "50")
    assert code == 0, stderr
    assert db_rows(cli.db) == expected_rows(world)
    assert report["rows"]["inserted"] == len(late)
    assert report["rows"]["updated"] == len(corrected)
    # Every unit completed a pass, so every pass is incremental (count checks aside: they
    # ask for one row of the whole unit); ten units share a request.
    pages = [e for e in fake.log if e.kind == "schedule_a" and e.params["per_page"] != ["1"]]
    assert pages and all("min_load_date" in entry.params for entry in pages)
    assert len(pages) <= -(-report["units"]["total"] // 10) + 2


def test_kill_9_mid_run_then_resume_reads_exactly_the_rows_left(
    cli: Cli, world, fake: FakeOpenFec
) -> None:
    want = expected_rows(world)
    for after in (3, 7, 12):  # each run resumes from what the previous one committed
        code, _, _ = kill_mid_run(cli, fake, after, "--batch-size", "10", "--concurrency", "4")
        assert code == -signal.SIGKILL
        assert integrity(cli.db) == "ok"
        saved = db_rows(cli.db)
        assert len(saved) < len(want) and saved.items() <= want.items()
    rows_left = rows_still_needed(cli.db, world)
    bound = requests_unit_by_unit(cli.db, world, per_page=10)
    fake.reset_log()
    final = cli.run("--batch-size", "10")
    assert final.returncode == 0, final.stderr
    assert db_rows(cli.db) == want
    pages, rows = pages_served(fake)
    assert rows == rows_left  # no row read twice, none skipped
    assert pages <= bound


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
        code, report, stderr = cli.run_json("--batch-size", "100", "--concurrency", "8")
        log = fake.log
    assert code == 0, stderr
    # the limit bound the run: it needed more than one window's worth, and the server's
    # count of what was left ran low (the budget keeps a few back to probe the window)
    assert report["requests"]["total"] > 15
    assert min(e.rate_remaining for e in log if e.rate_remaining is not None) <= 3
    assert report["requests"]["rate_limited"] == sum(entry.status == 429 for entry in log)
    assert report["requests"]["total"] == len([e for e in log if e.kind != "legislators"])
    assert db_rows(cli.db) == expected_rows(world)


def test_invalid_key_fails_after_one_request_and_is_never_shown(world, tmp_path: Path) -> None:
    secret = "bad-key-SECRET-4242"
    with FakeOpenFec(world, api_keys=(KEY,), echo_key_in_errors=True) as fake:
        cli = Cli(fake, tmp_path / "bad.db", key=secret)
        proc = cli.run("--json")
        api_calls = [(e.kind, e.status) for e in fake.log if e.kind != "legislators"]
    assert proc.returncode == 1
    assert api_calls == [("lookup", 403)]  # failed fast: no retry, no second request
    assert "API_KEY_INVALID" in proc.stderr and "Traceback" not in proc.stderr
    assert_key_nowhere(secret, proc.stdout + proc.stderr, cli.db)


class RejectsOneCommittee(FakeOpenFec):
    """Rejects, with OpenFEC's 422 body, every Schedule A request naming one committee (alone
    or among others, as one bad committee_id rejects a whole request)."""

    def __init__(self, world: Any, committee_id: str, **kwargs: Any) -> None:
        super().__init__(world, **kwargs)
        self.committee_id = committee_id

    def _route(self, path: str,
               params: dict[str, list[str]]) -> tuple[int, bytes, int, str | None]:
        if "schedule_a" in path and self.committee_id in params.get("committee_id", []):
            body = {"message": "Invalid committee_id", "status": 422}
            return 422, encode_error(body), 0, None
        return super()._route(path, params)


def test_a_key_echoed_in_a_422_body_is_never_shown_or_stored(
    world, tmp_path: Path
) -> None:
    committee = sorted(world.campaign_committee_ids)[0]
    cycles = sorted(y for c, y in world.campaign_units(CYCLES) if c == committee)
    with RejectsOneCommittee(world, committee, api_keys=(KEY,), echo_key_in_errors=True) as fake:
        cli = Cli(fake, tmp_path / "echo.db")
        code, report, stderr = cli.run_json("--batch-size", "50")
        rejected = fake.count(status=422)
    assert code == 1 and rejected >= len(cycles), stderr
    assert sorted((f["committee_id"], f["cycle"]) for f in report["failures"]) == [
        (committee, cycle) for cycle in cycles]
    assert {f["error"] for f in report["failures"]} == {
        "The OpenFEC API rejected the request to /schedules/schedule_a/ (HTTP 422): "
        "Invalid committee_id (key ***)"}
    assert "(key ***)" in stderr
    assert_key_nowhere(KEY, json.dumps(report) + stderr, cli.db)


def assert_key_nowhere(key: str, output: str, db: Path) -> None:
    assert key not in output
    for path in (db, Path(f"{db}-wal")):
        if path.exists():
            assert key.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_commit_what_was_fetched_exit_then_resume(
    cli: Cli, world, fake: FakeOpenFec, signum: int, code: int
) -> None:
    status, out, err = kill_mid_run(cli, fake, 6, "--batch-size", "10", "--json", signum=signum)
    assert status == code, err
    assert "everything fetched was saved. Re-run to resume." in err
    assert json.loads(out)["status"] == "interrupted"
    saved = db_rows(cli.db)
    want = expected_rows(world)
    assert len(saved) < len(want) and saved.items() <= want.items()
    # the requests held when the signal came were answered, and their pages committed
    assert len(saved) == sum(e.rows for e in fake.log if e.kind == "schedule_a")
    rows_left = rows_still_needed(cli.db, world)
    bound = requests_unit_by_unit(cli.db, world, per_page=10)
    fake.reset_log()
    final = cli.run("--batch-size", "10")
    assert final.returncode == 0, final.stderr
    assert db_rows(cli.db) == want
    pages, rows = pages_served(fake)
    assert rows == rows_left and pages <= bound


def test_second_concurrent_run_exits_75_and_sends_nothing(cli: Cli, fake: FakeOpenFec) -> None:
    gate = fake.hold(after=2)
    first = cli.popen("--batch-size", "10", "--concurrency", "2")
    try:
        # the first run is mid-sync, holding the lock, and both its workers wait on the fake
        assert gate.wait_held(2, timeout=WAIT_S)
        before = (gate.state()["arrived"], fake.count(kind="lookup"),
                  fake.count(kind="legislators"))
        second = cli.run()
        assert (gate.state()["arrived"], fake.count(kind="lookup"),
                fake.count(kind="legislators")) == before
    finally:
        gate.release()
        out, err = first.communicate(timeout=WAIT_S)
    assert second.returncode == 75
    assert second.stderr == (
        f"Error: another sync is already running on {cli.db} (lock {cli.db}.lock is held); "
        "this run stops so that one can finish\n")
    assert first.returncode == 0, err


def test_legislators_out_of_reach_stop_safely_and_a_missing_list_fails(cli: Cli, fake,
                                                                        world) -> None:
    closed = f"http://127.0.0.1:{closed_port()}/legislators-current.json"
    code, report, stderr = cli.run_json("--legislators", closed)
    assert (code, report["status"]) == (75, "stopped"), stderr
    assert stderr.splitlines()[-1] == (
        f"Stopped early: Could not download legislators from {closed}: ConnectionError "
        "([Errno 111] Connection refused); re-run later to resume")
    missing = f"{fake.root}/no-such-list.json"
    code, report, stderr = cli.run_json("--legislators", missing)
    assert (code, report["status"]) == (1, "failed"), stderr
    assert report["message"] == f"Could not download legislators from {missing}: HTTP 404"
    assert fake.count(kind="lookup") == fake.count(kind="schedule_a") == 0
    code, _, stderr = cli.run_json()  # the list is back: the run goes on as a first run
    assert code == 0, stderr
    assert db_rows(cli.db) == expected_rows(world)


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
    (["--api-url", "http://[::1/v1"], "Error: Invalid value for '--api-url' (env var: "
     "'OPENFEC_API_URL'): 'http://[::1/v1' is not an http(s) URL such as "
     "https://api.open.fec.gov/v1\n"),
    (["--api-url", "http://127.0.0.1:abc/v1"], "'http://127.0.0.1:abc/v1' is not an http(s) URL"),
    (["--seed-from-dump", "http://[::1/x.dump"], "Error: Invalid value for '--seed-from-dump': "
     "'http://[::1/x.dump' is not a URL such as https://www.fec.gov/files/bulk-downloads/"
     "data-dump/schedules/fec_fitem_sched_a.dump\n"),
    (["--legislators", ""], "Error: Invalid value for '--legislators' (env var: "
     "'LEGISLATORS_URL'): is empty\n"),
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
    code, report, stderr = cli.run_json("--refresh-after", "0", "--no-verify")
    assert code == 0, stderr
    assert report["rows"]["superseded"] == 0  # an incremental pass cannot tell alone
    assert report["verification"]["verified"] == 0
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


def test_a_signal_during_a_lookup_exits_without_waiting_for_its_answer(
    cli: Cli, fake: FakeOpenFec
) -> None:
    gate = fake.hold(after=0, kind="lookup")
    proc = cli.popen("--json")
    try:
        assert gate.wait_held(1, timeout=WAIT_S)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=WAIT_S)
        still_held = gate.state()["held"]
    finally:
        gate.release()
    assert proc.returncode == 130, err
    assert still_held == 1  # it exited while its look-up was still unanswered
    assert json.loads(out)["status"] == "interrupted"
    assert "Traceback" not in err


def test_a_unit_hit_by_a_transient_failure_resumes_from_its_last_cursor(
    world, tmp_path: Path
) -> None:
    politician, unit = single_unit_politician(world, 2026)
    rows = len(world.expected_rows(committee_ids=[unit[0]], cycles=[2026]))
    assert rows > 60  # pages of 10: the failure lands deep inside the scan
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        cli = Cli(fake, tmp_path / "transient.db")
        cli.extra_env["SYNC_DONATIONS_RETRY_BACKOFF"] = "0.01"
        gate = fake.hold(after=5)
        proc = cli.popen("--cycle", "2026", "--politician", politician, "--batch-size", "10",
                         "--concurrency", "1", "--json")
        assert gate.wait_held(1, timeout=WAIT_S)
        fake.fail_next(5, kind="schedule_a")  # the held request and its 4 retries
        gate.release()
        out, err = proc.communicate(timeout=WAIT_S)
        sent = [e for e in fake.log if e.kind == "schedule_a"]
    assert proc.returncode == 0, err
    assert json.loads(out)["requests"]["retries"] == 4
    assert [e.status for e in sent[5:11]] == [503] * 5 + [200]
    cursors = {tuple(sorted((k, tuple(v)) for k, v in e.params.items())) for e in sent[5:11]}
    assert len(cursors) == 1 and "last_index" in sent[10].params  # the same page, asked again
    assert len(sent) == rows // 10 + 1 + 5  # the keyset minimum plus the five failures
    assert db_rows(cli.db) == {s: r for s, r in expected_rows(world, (2026,)).items()
                               if r[0] == unit[0]}


def single_unit_politician(world, cycle: int) -> tuple[str, tuple[str, int]]:
    """The politician whose only campaign unit in `cycle` is the largest such unit."""
    best: tuple[int, str, tuple[str, int]] | None = None
    for leg in world.legislators_json():
        units = {(c.committee_id, cycle) for cid in leg["id"].get("fec", [])
                 for c in world.committees_of_candidate(cid) if c.is_campaign
                 and cycle in c.cycles}
        if len(units) == 1:
            unit = next(iter(units))
            size = len(world.expected_rows(committee_ids=[unit[0]], cycles=[cycle]))
            if best is None or size > best[0]:
                best = (size, leg["id"]["bioguide"], unit)
    assert best is not None
    return best[1], best[2]


def test_a_full_rescan_stopped_early_resumes_instead_of_restarting(cli: Cli, world, fake) -> None:
    assert cli.run("--batch-size", "20").returncode == 0
    everything = len(expected_rows(world))

    def rows_served() -> int:
        return sum(e.rows for e in fake.log if e.kind == "schedule_a")

    fake.reset_log()
    code, _, stderr = cli.run_json("--full", "--batch-size", "20", "--max-requests", "15")
    assert code == 75, stderr
    assert 0 < rows_served() < everything
    code, _, stderr = cli.run_json("--full", "--batch-size", "20")
    assert code == 0, stderr
    # the second --full finished the first one: no row was read twice
    assert rows_served() == everything
    fake.reset_log()
    code, _, stderr = cli.run_json("--full", "--batch-size", "20")
    assert code == 0, stderr
    assert rows_served() == everything  # a new --full rescans everything
    assert db_rows(cli.db) == expected_rows(world)
