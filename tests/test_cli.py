"""The command-line contract: exit codes, messages, --json, --status and the runs table."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openfec import FakeOpenFec, Faults
from tests.support import (
    CYCLES,
    KEY,
    Cli,
    clean_env,
    cli_command,
    closed_port,
    db_rows,
    expected_rows,
)

JSON_KEYS = {"run_id", "exit_code", "status", "message", "resume_after", "units", "rows",
             "requests", "elapsed_s", "failures", "unresolved", "verification", "dump"}


def test_json_summary_has_the_contract_schema(cli: Cli) -> None:
    code, report, _ = cli.run_json()
    assert code == 0
    assert set(report) == JSON_KEYS
    assert set(report["units"]) == {"total", "complete", "skipped", "failed", "pending"}
    assert {"inserted", "updated", "skipped_no_sub_id"} <= set(report["rows"])
    assert set(report["requests"]) == {"total", "schedule_a", "lookups", "retries",
                                       "rate_limited", "verification"}
    assert report["requests"]["total"] == (report["requests"]["schedule_a"]
                                           + report["requests"]["lookups"])
    assert report["verification"] == {
        "verified": report["units"]["total"], "repaired": 0, "unverified": 0, "unchecked": 0,
        "requests": report["requests"]["verification"]}
    assert report["dump"] is None  # no --seed-from-dump


def test_unresolved_politicians_are_reported_not_fatal(cli: Cli, world) -> None:
    cli.quiet = False
    code, report, stderr = cli.run_json()
    assert code == 0
    unresolved = {item["politician"] for item in report["unresolved"]}
    legislators = {leg["id"]["bioguide"]: leg["id"].get("fec", []) for leg in
                   world.legislators_json()}
    resolvable = {bid for bid, ids in legislators.items()
                  if any(c.is_campaign for cid in ids for c in world.committees_of_candidate(cid))}
    assert unresolved and unresolved == set(legislators) - resolvable
    assert "no campaign committee found for" in stderr


def test_runs_row_records_options_but_never_the_key(cli: Cli) -> None:
    code, report, _ = cli.run_json("--batch-size", "40")
    assert code == 0
    with sqlite3.connect(cli.db) as conn:
        row = conn.execute(
            "SELECT run_id, status, exit_code, options, summary FROM runs"
        ).fetchone()
    conn.close()
    assert row[0] == report["run_id"] and row[1] == "complete" and row[2] == 0
    assert json.loads(row[3])["batch_size"] == 40
    assert json.loads(row[4])["rows"] == report["rows"]
    assert KEY.encode() not in cli.db.read_bytes()


def test_status_shows_every_unit_without_a_request(cli: Cli, world, fake: FakeOpenFec) -> None:
    assert cli.run().returncode == 0
    fake.reset_log()
    proc = cli.run("--status", "--json")
    assert proc.returncode == 0
    status = json.loads(proc.stdout)
    units = status["units"]
    assert {(u["committee_id"], u["cycle"]) for u in units} == world.campaign_units(CYCLES)
    assert all(u["status"] == "complete" for u in units)
    unresolved = {item["politician"] for item in status["unresolved"]}
    assert unresolved == set(world.specials.unresolved_bioguides) | set(
        world.specials.no_fec_bioguides)
    assert fake.count() == 0
    table = cli.run("--status").stdout.splitlines()
    assert table[0].split()[:3] == ["committee", "cycle", "status"]
    assert sum(line.startswith("no campaign committee: ") for line in table) == len(unresolved)


def test_status_of_a_broken_database_is_one_line(tmp_path: Path) -> None:
    import subprocess

    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite " * 50)
    proc = subprocess.run(cli_command("--status", "--db", str(bad)), capture_output=True,
                          text=True, env=clean_env())
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: cannot open") and "Traceback" not in proc.stderr


def test_politician_filter_syncs_only_their_committees(cli: Cli, world) -> None:
    legislator = next(
        leg for leg in world.legislators_json()
        if any(c.is_campaign for cid in leg["id"].get("fec", [])
               for c in world.committees_of_candidate(cid))
    )
    bioguide = legislator["id"]["bioguide"]
    committees = {c.committee_id for cid in legislator["id"]["fec"]
                  for c in world.committees_of_candidate(cid) if c.is_campaign}
    code, _, stderr = cli.run_json("--politician", bioguide.lower())
    assert code == 0, stderr
    want = {s: r for s, r in expected_rows(world).items() if r[0] in committees}
    assert want and db_rows(cli.db) == want


def test_unknown_politician_is_a_usage_error(cli: Cli) -> None:
    proc = cli.run("--politician", "Z999999")
    assert proc.returncode == 2
    assert "unknown politician id(s): Z999999" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (["--batch-size", "0"], "Invalid value for '--batch-size': 0 is not in the range "
     "1<=x<=100."),
    (["--cycle", "2025"], "Invalid value for '--cycle': 2025 is odd; two-year periods end on "
     "even years"),
    (["--seed-from-dump", "--full"], "--seed-from-dump cannot be combined with --full: a full "
     "rescan pages every unit through the API, which is what the dump is there to avoid"),
    (["--politician", "Z999999"], "unknown politician id(s): Z999999 (not in the legislators "
     "data; use bioguide ids such as P000197)"),
])
def test_a_usage_error_still_prints_the_json_object(cli: Cli, args: list[str],
                                                     message: str) -> None:
    # a script reading --json must get its one object whatever happened, exit 2 included
    proc = cli.run("--json", *args)
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert (report["exit_code"], report["status"], report["message"]) == (2, "failed", message)
    assert report["requests"]["total"] == 0
    assert proc.stderr.endswith(f"Error: {message}\n")
    if args[0] == "--politician":  # refused once the run began: its id and time are real
        assert isinstance(report["run_id"], int) and report["elapsed_s"] > 0


@pytest.mark.parametrize("args", [
    ["--db", "--json", "--cycle", "2025"],  # --json is the database's name here
    ["--status", "--json", "--cycle", "2025"],  # --status has an object of its own
])
def test_a_usage_error_prints_no_run_object_when_none_was_asked_for(cli: Cli,
                                                                    args: list[str]) -> None:
    proc = subprocess.run(cli_command(*args), capture_output=True, text=True, env=clean_env(),
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.endswith("Error: Invalid value for '--cycle': 2025 is odd; two-year "
                                "periods end on even years\n")


def test_a_stdout_that_cannot_take_the_json_costs_the_object_not_the_run(cli: Cli,
                                                                         world) -> None:
    # `sync --json > /dev/full`, or a reader that went away: the rows are saved and the exit
    # code is the run's; one line says what was lost, and no traceback
    with open("/dev/full", "w") as full:
        proc = subprocess.run(cli.args("--json"), env=cli.env(), stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stderr == ("Error: could not write the JSON summary to stdout: No space left "
                           "on device\n")
    assert db_rows(cli.db) == expected_rows(world)
    for args, what in ((["--status"], "the status"), (["--status", "--json"], "the JSON summary")):
        with open("/dev/full", "w") as full:
            status = subprocess.run(cli.args(*args), env=cli.env(), stdout=full,
                                    stderr=subprocess.PIPE, text=True, timeout=60)
        assert (status.returncode, status.stderr) == (
            1, f"Error: could not write {what} to stdout: No space left on device\n")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the child writes a byte
    try:
        gone = subprocess.run(cli.args("--json", "--batch-size", "0"), env=cli.env(),
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert gone.returncode == 2
    assert gone.stderr.startswith(
        "Error: could not write the JSON summary to stdout: Broken pipe\n")
    assert "Traceback" not in gone.stderr


def test_demo_key_warns_once(fake: FakeOpenFec, tmp_path: Path) -> None:
    proc = Cli(fake, tmp_path / "demo.db", key="DEMO_KEY").run("--max-requests", "3")
    assert proc.stderr.count("Warning: using DEMO_KEY") == 1
    assert "https://api.data.gov/signup/" in proc.stderr


def test_quota_spent_stops_with_75_and_a_resume_time(cli: Cli, world) -> None:
    code, report, stderr = cli.run_json("--rate-limit", "4", "--max-wait", "0")
    assert code == 75, stderr
    assert report["status"] == "stopped" and report["resume_after"]
    assert report["requests"]["total"] <= 4
    # an hourly quota comes back as the first request ages out of the window
    resume = dt.datetime.strptime(report["resume_after"], "%Y-%m-%dT%H:%M:%SZ")
    resume = resume.replace(tzinfo=dt.UTC)
    assert resume > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=55)
    assert "Re-run after" in stderr
    code, report, stderr = cli.run_json()
    assert code == 0, stderr
    assert db_rows(cli.db) == expected_rows(world)


def test_server_quota_spent_beyond_max_wait_stops_safely(world, tmp_path: Path) -> None:
    with FakeOpenFec(world, api_keys=(KEY,), rate_limit=(3, 60.0)) as fake:
        code, report, stderr = Cli(fake, tmp_path / "rl.db").run_json("--max-wait", "1")
        refused = fake.count(status=429)
    assert code == 75, stderr
    assert report["status"] == "stopped" and report["resume_after"]
    # X-RateLimit-Remaining said 0, so the budget stopped before the server had to refuse
    assert refused == report["requests"]["rate_limited"] == 0
    assert report["requests"]["total"] == 3


def test_disabled_key_exits_1_saying_what_to_do(world, tmp_path: Path) -> None:
    with FakeOpenFec(world, api_keys=(KEY,), disabled_keys=("old-key-123456",)) as fake:
        proc = Cli(fake, tmp_path / "d.db", key="old-key-123456").run()
    assert proc.returncode == 1
    assert "API_KEY_DISABLED" in proc.stderr
    assert "old-key-123456" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_circuit_breaker_opens_on_a_dead_schedule_a(world, tmp_path: Path) -> None:
    faults = Faults(p_5xx=1.0, only_kind="schedule_a")
    with FakeOpenFec(world, api_keys=(KEY,), faults=faults) as fake:
        cli = Cli(fake, tmp_path / "cb.db")
        cli.extra_env["SYNC_DONATIONS_RETRY_BACKOFF"] = "0.01"
        proc = cli.run("--json", "--concurrency", "1")
        sent = fake.count(kind="schedule_a")
    assert proc.returncode == 75, proc.stderr
    assert "5 API requests in a row failed" in proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "stopped" and report["units"]["failed"] == 0
    assert sent == 5 * 5  # five failed requests, each tried once and retried four times


def test_dead_lookups_stop_safely(world, tmp_path: Path) -> None:
    with FakeOpenFec(world, api_keys=(KEY,), faults=Faults(p_5xx=1.0, only_kind="lookup")) as fake:
        cli = Cli(fake, tmp_path / "lk.db")
        cli.extra_env["SYNC_DONATIONS_RETRY_BACKOFF"] = "0.01"
        code, report, stderr = cli.run_json()
    assert code == 75, stderr
    assert report["status"] == "stopped"
    assert "re-run later to resume" in stderr
    assert "Traceback" not in stderr


def test_an_api_that_refuses_connections_stops_safely_in_one_line(cli: Cli) -> None:
    port = closed_port()
    cli.extra_env["SYNC_DONATIONS_RETRY_BACKOFF"] = "0.01"
    proc = cli.run("--api-url", f"http://127.0.0.1:{port}/v1")
    assert proc.returncode == 75
    assert proc.stderr.splitlines()[-1] == (
        f"Stopped early: Could not get /committees/ from 127.0.0.1:{port}: connection failed "
        "([Errno 111] Connection refused) after 4 retries; re-run later to resume")
    # each retry is told once, in our words, not also as urllib3's repr of its Retry
    assert proc.stderr.count("WARNING API request failed (NewConnectionError") == 4
    assert "Retrying (" not in proc.stderr


def test_unusable_database_is_one_line(cli: Cli, tmp_path: Path) -> None:
    cli.db.write_text("this is not a database\n" * 100)
    proc = cli.run()
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("Error:")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("source", ["missing.json", "ftp://example.test/l.json"])
def test_a_legislators_source_that_is_no_url_nor_file_is_a_usage_error(
        cli: Cli, fake: FakeOpenFec, source: str) -> None:
    proc = cli.run("--legislators", source)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: Invalid value for '--legislators' (env var: 'LEGISLATORS_URL'): "
        f"{source!r} is neither an http(s) URL nor a file")
    assert fake.log == []


def test_a_401_stops_the_run_at_once_as_a_key_error(fake: FakeOpenFec, cli: Cli) -> None:
    fake.reject_next(1000, kind="schedule_a", status=401, message="Unauthorized")
    code, report, stderr = cli.run_json("--concurrency", "1")
    assert code == 1, stderr
    assert (report["status"], report["failures"]) == ("failed", [])
    assert report["message"].startswith("The OpenFEC API refused access (HTTP 401): Unauthorized.")
    assert fake.count(kind="schedule_a") == 1


def test_quiet_says_nothing_of_a_success_but_still_explains_a_stop(cli: Cli) -> None:
    stopped = cli.run("--quiet", "--max-requests", "2")
    assert stopped.returncode == 75
    assert stopped.stderr.strip().splitlines()[-1] == (
        "Stopped early: Stopped safely after 2 API requests (--max-requests); re-run to resume.")
    done = cli.run("--quiet")
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


@pytest.mark.parametrize("mode", ["reset", "5xx"])
def test_a_retry_is_told_once_in_our_words(fake: FakeOpenFec, cli: Cli, mode: str) -> None:
    cli.extra_env["SYNC_DONATIONS_RETRY_BACKOFF"] = "0.01"
    fake.fail_next(1, kind="schedule_a", mode=mode)
    proc = cli.run()
    assert proc.returncode == 0, proc.stderr
    told = [line for line in proc.stderr.splitlines() if "retr" in line.lower()]
    assert len(told) == 1 and "retry 1 of 4" in told[0], told


def test_another_applications_database_is_refused_untouched(cli: Cli) -> None:
    with sqlite3.connect(cli.db) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    proc = cli.run()
    assert proc.returncode == 1
    assert proc.stderr == (f"Error: cannot open {cli.db}: not a sync_donations database (it "
                           "holds other tables: notes); choose a new file or one "
                           "sync_donations wrote\n")
    with sqlite3.connect(cli.db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
        assert conn.execute("SELECT body FROM notes").fetchall() == [("keep me",)]
    conn.close()


def test_malformed_legislators_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "legislators.json"
    bad.write_text('{"not": "a list"}')
    proc = cli.run("--legislators", str(bad))
    assert proc.returncode == 1
    assert "is not a congress-legislators file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_the_contract_flags() -> None:
    import subprocess

    out = subprocess.run(cli_command("--help"), capture_output=True, text=True,
                         env=clean_env()).stdout
    for flag in ("--db", "--api-key", "--api-url", "--legislators", "--cycle", "--politician",
                 "--batch-size", "--concurrency", "--full", "--refresh-after", "--max-requests",
                 "--seed-from-dump",
                 "--max-wait", "--quiet", "--json", "--verbose", "OPENFEC_API_KEY",
                 "DONATIONS_DB", "OPENFEC_API_URL", "LEGISLATORS_URL"):
        assert flag in out


def test_environment_variables_configure_the_run(fake: FakeOpenFec, world, tmp_path: Path) -> None:
    import subprocess

    db = tmp_path / "from-env.db"
    env = clean_env(OPENFEC_API_KEY=KEY, DONATIONS_DB=str(db), OPENFEC_API_URL=fake.url,
                    LEGISLATORS_URL=fake.legislators_url)
    args = [a for cycle in CYCLES for a in ("--cycle", str(cycle))]
    proc = subprocess.run(cli_command("--quiet", "--json", *args), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert db_rows(db) == expected_rows(world)
    assert all(entry.api_key == KEY and entry.key_via == "header"
               for entry in fake.log if entry.kind != "legislators")


def test_politicians_can_be_comma_separated(cli: Cli, world) -> None:
    resolvable = [leg["id"]["bioguide"] for leg in world.legislators_json()
                  if any(c.is_campaign for cid in leg["id"].get("fec", [])
                         for c in world.committees_of_candidate(cid))]
    ids = resolvable[:3]
    code, report, stderr = cli.run_json("--politician", ",".join(ids[:2]), "--politician", ids[2])
    assert code == 0, stderr
    with sqlite3.connect(cli.db) as conn:
        mapped = {r[0] for r in conn.execute("SELECT DISTINCT bioguide_id FROM fec_mappings")}
        synced = {r[0] for r in conn.execute("SELECT DISTINCT committee_id FROM sync_state")}
    conn.close()
    assert mapped == set(ids)  # every id of the list, the first as much as the last
    committees = {c.committee_id for leg in world.legislators_json()
                  if leg["id"]["bioguide"] in ids for cid in leg["id"].get("fec", [])
                  for c in world.committees_of_candidate(cid) if c.is_campaign}
    assert synced == committees
    assert report["unresolved"] == []


def asked(log: list[Any]) -> set[str]:
    """The candidate ids and committee histories a run's look-ups asked for."""
    return {f"{e.path} {cid}" if e.path == "/v1/committees/" else e.path
            for e in log if e.kind == "lookup" for cid in e.params.get("candidate_id", [""])}


def test_lookups_paid_for_are_kept_when_a_run_stops(tmp_path: Path) -> None:
    from tests.fake_openfec import generate_world

    world = generate_world(seed=3, politicians=160, cycles=(2026,), rows_scale=0.05)
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        fresh = Cli(fake, tmp_path / "fresh.db")
        assert fresh.run("--cycle", "2026").returncode == 0
        lookups = [e for e in fake.log if e.kind == "lookup"]
        first_ids = lookups[0].params["candidate_id"]
        # the first batch: its pages of /committees/ and the committee histories they led to
        first_batch = next(i for i, e in enumerate(lookups)
                           if e.params.get("candidate_id", first_ids) != first_ids)
        assert 1 <= first_batch < len(lookups)  # more candidate ids than one request carries
        fake.reset_log()
        cli = Cli(fake, tmp_path / "stopped.db")
        first = cli.run("--cycle", "2026", "--max-requests", str(first_batch))
        assert first.returncode == 75, first.stderr
        with sqlite3.connect(cli.db) as conn:
            resolved = conn.execute("SELECT count(*) FROM resolutions").fetchone()[0]
        conn.close()
        assert 0 < resolved < 160
        stopped = asked(fake.log)
        fake.reset_log()
        second = cli.run("--cycle", "2026")
        assert second.returncode == 0, second.stderr
        resumed = asked(fake.log)
        assert stopped and resumed and not stopped & resumed  # nothing was asked twice
    assert db_rows(cli.db) == expected_rows(world, cycles=(2026,))
