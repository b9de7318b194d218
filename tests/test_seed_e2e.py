"""End to end: --seed-from-dump loads never-synced units from the weekly dump, the API
catches them up and the count checks prove them, against the fake OpenFEC and the fake
dump of the same world (rows loaded after the snapshot exist only in the API, rows
deleted after it remain in the dump)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from db.donations import COLUMNS
from fec.dump_source import FEC_DUMP_URL
from tests.dbtools import query
from tests.fake_dump import FakeDumpServer, fec_archive, world_archive
from tests.fake_dump.archive import world_tables
from tests.fake_dump.schema import COLUMN_NAMES, child_table
from tests.fake_dump.writer import block_bytes
from tests.fake_openfec import FakeOpenFec, World
from tests.fake_openfec.world import DumpSnapshot
from tests.support import CYCLES, KEY, ROOT, Cli, clean_env, cli_command

NIGHT = {"new": 12, "late": 6, "corrected": 5, "amended_reports": 3, "deleted": 4}


def published(snapshot: DumpSnapshot) -> datetime:
    """The file appears hours after its snapshot began, as the FEC's does."""
    return snapshot.taken_at.replace(tzinfo=UTC) + timedelta(hours=18)


@pytest.fixture(autouse=True)
def quick_retries(cli: Cli) -> None:
    cli.extra_env["SYNC_DONATIONS_RETRY_BACKOFF"] = "0.01"  # resets and 503s retried at once


def serve(world: World, snapshot: DumpSnapshot, **options: Any) -> FakeDumpServer:
    return FakeDumpServer(world_archive(world, snapshot, **options),
                          last_modified=published(snapshot))


def live_rows(db: Path) -> dict[str, tuple[Any, ...]]:
    """sub_id -> every stored column, of the rows not superseded."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(f"SELECT sub_id, {', '.join(COLUMNS)} FROM donations"
                            " WHERE superseded_at IS NULL").fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def in_snapshot(world: World, snapshot: DumpSnapshot,
                cycles: tuple[int, ...] = CYCLES) -> dict[str, Any]:
    units = world.campaign_units(cycles)
    return {row.sub_id: row for row in snapshot.rows if (row.committee_id, row.cycle) in units}


def pass_starts(log: list[Any]) -> list[tuple[list[tuple[str, int]], str | None]]:
    """(units, min_load_date) of every pass's first page (not a count check's)."""
    return [([(c, int(e.params["two_year_transaction_period"][0]))
              for c in e.params["committee_id"]], (e.params.get("min_load_date") or [None])[0])
            for e in log if e.kind == "schedule_a" and "last_index" not in e.params
            and e.params["per_page"] != ["1"] and "min_date" not in e.params
            and "sort_null_only" not in e.params]


def test_a_first_load_from_the_dump_ends_equal_to_an_api_only_load(
        world: World, fake: FakeOpenFec, cli: Cli, tmp_path: Path) -> None:
    snapshot = world.dump_snapshot()
    night = world.nightly_load(**NIGHT)
    with serve(world, snapshot) as dump:
        code, report, stderr = cli.run_json("--seed-from-dump", dump.url,
                                            "--refresh-after", "1000")
        assert code == 0, stderr
        read = dump.s3_requests()
        seeded_log = fake.log
        code, again, stderr = cli.run_json("--seed-from-dump", dump.url)  # nothing left
        assert code == 0, stderr
        assert dump.s3_requests() == read
    assert again["dump"]["cycles"] == [] and again["dump"]["bytes_downloaded"] == 0
    fake.reset_log()
    api_only = Cli(fake, tmp_path / "api_only.db")
    code, baseline, stderr = api_only.run_json()
    assert code == 0, stderr
    assert live_rows(cli.db) == live_rows(api_only.db)
    assert set(live_rows(cli.db)) == world.expected_sub_ids()

    kept = in_snapshot(world, snapshot)
    dumped = report["dump"]
    assert dumped["rows"] == len(kept) and dumped["requests"] == 2
    assert [(c["cycle"], c["status"], c["restarts"]) for c in dumped["cycles"]] == [
        (2024, "loaded", 0), (2026, "loaded", 0)]
    assert dumped["etag"] == dump.etag
    assert dumped["snapshot_time"] == str(snapshot.taken_at.replace(microsecond=0))
    assert dumped["last_modified"] == published(snapshot).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert dumped["bytes_downloaded"] == sum(r.sent for r in read)
    assert len(read) == 3  # the table of contents, then one range per cycle's table
    # Rows gone after the snapshot were found by the count checks: marked, never deleted.
    gone = (set(night["deleted"]) | set(night["amended_away"])) & set(kept)
    assert gone and {r[0] for r in query(
        cli.db, "SELECT sub_id FROM donations WHERE superseded_at IS NOT NULL")} == gone
    assert report["verification"]["verified"] == report["units"]["total"]
    # Every seeded unit went through its API pass in this run (--refresh-after did not skip
    # it), from date(max load_date) - 2 days (the margin already; no overlap on top).
    assert report["units"]["complete"] == report["units"]["total"] == len(
        world.campaign_units(CYCLES))
    start: dict[tuple[str, int], str] = {}
    for row in kept.values():
        unit = (row.committee_id, row.cycle)
        start[unit] = max(start.get(unit, ""), row.load_date)
    for unit, latest in start.items():
        start[unit] = (date.fromisoformat(latest[:10]) - timedelta(days=2)).isoformat()
    samples, passes = pass_starts(seeded_log)[:2], pass_starts(seeded_log)[2:]
    assert [since for _, since in samples] == [None, None]
    assert passes and all(since == min(start[u] for u in units)
                          for units, since in passes if since is not None)
    assert {u for units, since in passes if since is None for u in units} == (
        world.campaign_units(CYCLES) - set(start))  # units without a row in the dump
    seeded = query(cli.db, "SELECT committee_id, cycle, seed_rows, seed_snapshot"
                   " FROM sync_state WHERE seeded_at IS NOT NULL")
    assert {(c, y): n for c, y, n, _ in seeded} == {
        unit: sum(1 for r in kept.values() if (r.committee_id, r.cycle) == unit)
        for unit in world.campaign_units(CYCLES)}


def test_resets_and_503s_while_reading_cost_bytes_not_rows(world: World, fake: FakeOpenFec,
                                                          cli: Cli) -> None:
    snapshot = world.dump_snapshot()
    world.nightly_load(**NIGHT)
    with serve(world, snapshot) as dump:
        whole = len(dump.content)
        dump.fail_next(2, 503)  # the table of contents, twice: retried
        dump.cut_next(whole, 3000, 4000, reset=True)  # the 2024 table, and its first resume
        code, report, stderr = cli.run_json("--seed-from-dump", dump.url)
        log = dump.s3_requests()
    assert code == 0, stderr
    assert [r.fault for r in log if r.fault] == ["503", "503", "reset", "reset"]
    assert all(r.headers.get("If-Match") == dump.etag for r in log[3:])
    assert [c["status"] for c in report["dump"]["cycles"]] == ["loaded", "loaded"]
    assert set(live_rows(cli.db)) == world.expected_sub_ids()


def test_the_weekly_replacement_mid_read_starts_the_cycle_over_once(
        world: World, fake: FakeOpenFec, cli: Cli) -> None:
    first = world.dump_snapshot()
    world.nightly_load(**NIGHT)
    second = world.dump_snapshot()
    world.nightly_load(new=3, deleted=2)
    with serve(world, first) as dump:
        whole = len(dump.content)
        newer = world_archive(world, second)
        dump.cut_next(whole, whole, 2000)  # the 2026 table stops after 2,000 bytes ...
        dump.replace_after(3, newer)  # ... and the file is replaced before its resume
        old, new = dump.etag, None
        code, report, stderr = cli.run_json("--seed-from-dump", dump.url)
        new = dump.etag
    assert code == 0, stderr
    assert (f"WARNING dump 2026: the dump at {dump.url} was replaced while it was being read "
            f"(ETag {old} became {new}); reading the new file from the start") in stderr
    cycles = report["dump"]["cycles"]
    assert [(c["status"], c["restarts"], c["etag"]) for c in cycles] == [
        ("loaded", 0, old), ("loaded", 1, new)]
    assert cycles[1]["rows"] == len(in_snapshot(world, second, (2026,)))
    assert set(live_rows(cli.db)) == world.expected_sub_ids()


def test_a_file_replaced_twice_during_a_read_is_not_used(world: World, fake: FakeOpenFec,
                                                         cli: Cli) -> None:
    first = world.dump_snapshot()
    world.nightly_load(**NIGHT)
    second = world.dump_snapshot()
    world.nightly_load(new=3, deleted=2)
    third = world.dump_snapshot()
    with serve(world, first) as dump:
        whole = len(dump.content)
        dump.cut_next(whole, whole, 2000)
        dump.replace_after(3, world_archive(world, second))
        dump.replace_after(2, world_archive(world, third))  # while the new one is read
        code, report, stderr = cli.run_json("--seed-from-dump", dump.url)
    assert code == 0, stderr
    assert re.search(r"WARNING dump 2026: not used \(the dump at \S+ was replaced again while "
                     r"it was being read \(ETag \S+ became \S+\)\); its \d+ unit\(s\) are "
                     r"paged through the API instead", stderr), stderr
    assert [c["status"] for c in report["dump"]["cycles"]] == ["loaded", "not used"]
    assert set(live_rows(cli.db)) == world.expected_sub_ids()


@pytest.mark.parametrize(("sig", "exit_code"), [(signal.SIGKILL, -9), (signal.SIGTERM, 143)])
def test_killed_while_the_dump_downloads_then_a_rerun_loads_it(
        sig: signal.Signals, exit_code: int, world: World, fake: FakeOpenFec, cli: Cli) -> None:
    snapshot = world.dump_snapshot()
    world.nightly_load(**NIGHT)
    with serve(world, snapshot) as dump:
        dump.hold_next(2000, skip=1)  # inside the first table, after its first 2,000 bytes
        with cli.popen("--seed-from-dump", dump.url) as proc:
            try:
                assert dump.held.wait(timeout=60)
                proc.send_signal(sig)
                _, stderr = proc.communicate(timeout=60)
            finally:
                proc.kill()
                dump.release()
        assert proc.returncode == exit_code
        if sig == signal.SIGTERM:
            assert stderr.endswith("interrupted by SIGTERM; everything fetched was saved. "
                                   "Re-run to resume.\n"), stderr
            assert ("dump 2024: stopped before its rows were all written; the next run with "
                    "--seed-from-dump reads it again") in stderr
        assert query(cli.db, "SELECT count(*) FROM donations") == [(0,)]
        assert query(cli.db, "SELECT count(*) FROM sync_state WHERE seeded_at IS NOT NULL"
                     " OR completed_at IS NOT NULL") == [(0,)]
        code, report, stderr = cli.run_json("--seed-from-dump", dump.url)
    assert code == 0, stderr
    assert [c["status"] for c in report["dump"]["cycles"]] == ["loaded", "loaded"]
    assert set(live_rows(cli.db)) == world.expected_sub_ids()


def test_kill_9_between_two_batches_of_rows_then_a_rerun_finishes(
        world: World, fake: FakeOpenFec, cli: Cli) -> None:
    snapshot = world.dump_snapshot()
    world.nightly_load(**NIGHT)
    committees = sorted(c for c, cycle in world.campaign_units((2026,)))
    with serve(world, snapshot) as dump:
        with subprocess.Popen(
                [sys.executable, "-m", "tests.seed_kill_child", str(cli.db), fake.url, KEY,
                 dump.url, "2026", *committees], cwd=ROOT, env=clean_env(),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
            try:
                assert child.stdout is not None and child.stderr is not None
                line = child.stdout.readline()
            finally:
                child.kill()
            assert line == "committed 50\n", child.stderr.read()
        # The batch is there; the units are not seeded: only the whole table counts.
        assert query(cli.db, "SELECT count(*) FROM donations") == [(50,)]
        assert query(cli.db, "SELECT count(*) FROM sync_state WHERE seeded_at IS NOT NULL") == [
            (0,)]
        code, report, stderr = cli.run_json("--seed-from-dump", dump.url)
    assert code == 0, stderr
    assert [c["status"] for c in report["dump"]["cycles"]] == ["loaded", "loaded"]
    assert report["rows"]["unchanged"] >= 50  # written again, identical
    assert set(live_rows(cli.db)) == world.expected_sub_ids()


def old_dump(world: World, snapshot: DumpSnapshot) -> bytes:
    taken = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(days=30)
    return fec_archive(world_tables(world, snapshot, world.cycles), created=taken)


def wrong_amounts(world: World, snapshot: DumpSnapshot) -> bytes:
    tables = world_tables(world, snapshot, world.cycles)
    at = COLUMN_NAMES.index("contb_receipt_amt")
    for row in tables[2026]:
        row[at] = f"{float(row[at] or 0) + 1:.2f}"
    return fec_archive(tables, created=snapshot.taken_at.replace(microsecond=0))


REFUSALS: dict[str, Any] = {
    "values differ from the API's": (
        wrong_amounts, None,
        r"the dump at \S+: row \d+ \(C\d{8} 2026\) differs from the API's in "
        r"contribution_receipt_amount: [\d.]+ in the dump, [\d.]+ from the API"),
    "corrupt block": (
        lambda w, s: world_archive(w, s, blocks={
            child_table(2026): block_bytes(5002, [b"x\x9c", b"not a zlib stream"])}), None,
        r"the data of fec_fitem_sched_a_2025_2026 is not a valid zlib stream \(.+\)"),
    "unsupported compression": (
        lambda w, s: world_archive(w, s, version=(1, 15, 0), compression="lz4"), None,
        r".*lz4.*"),
    "stale snapshot": (
        old_dump, None,
        r"the dump at \S+ was taken on \d{4}-\d\d-\d\d \d\d:\d\d, published \d{4}-\d\d-\d\d "
        r"\d\d:\d\d UTC, 30 days ago: a weekly dump older than 14 days means the FEC's job "
        r"is lagging"),
    "missing file": (
        world_archive, "/nothing-here.dump",
        r"could not download the dump at \S+: the server answered HTTP 404 .*"),
}


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_a_refused_dump_falls_back_to_the_api_and_writes_nothing(
        kind: str, world: World, fake: FakeOpenFec, cli: Cli) -> None:
    make, path, reason = REFUSALS[kind]
    snapshot = world.dump_snapshot()
    world.nightly_load(**NIGHT)
    with FakeDumpServer(make(world, snapshot), last_modified=published(snapshot)) as dump:
        url = dump.url if path is None else dump.url.rsplit("/", 1)[0] + path
        code, report, stderr = cli.run_json("--seed-from-dump", url, "--cycle", "2026")
    assert code == 0, stderr
    units = len(world.campaign_units((2026,)))
    assert re.search(rf"WARNING dump 2026: not used \({reason}\); its {units} unit\(s\) are "
                     r"paged through the API instead", stderr), stderr
    assert "Traceback" not in stderr
    [cycle] = report["dump"]["cycles"]
    assert cycle["status"] == "not used" and re.fullmatch(reason, cycle["reason"])
    # Every row came from the API's pass: none was in the database before it.
    assert report["rows"]["updated"] == report["rows"]["unchanged"] == 0
    assert report["rows"]["inserted"] == world.expected_count(cycles=(2026,))
    assert set(live_rows(cli.db)) == world.expected_sub_ids(cycles=(2026,))


def test_units_already_synced_are_left_alone(world: World, fake: FakeOpenFec, cli: Cli,
                                             tmp_path: Path) -> None:
    assert cli.run("--cycle", "2024").returncode == 0
    snapshot = world.dump_snapshot()
    world.nightly_load(**NIGHT)
    path = tmp_path / "fec_fitem_sched_a.dump"
    path.write_bytes(world_archive(world, snapshot))
    fake.reset_log()
    code, report, stderr = cli.run_json("--seed-from-dump", str(path), "--refresh-after", "0")
    assert code == 0, stderr
    assert [(c["cycle"], c["status"]) for c in report["dump"]["cycles"]] == [(2026, "loaded")]
    assert report["dump"]["location"] == str(path) and report["dump"]["etag"] is None
    assert query(cli.db, "SELECT DISTINCT cycle FROM sync_state WHERE seeded_at IS NOT NULL") == [
        (2026,)]
    assert set(live_rows(cli.db)) == world.expected_sub_ids()


def test_usage_errors(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cli_command("--db", str(tmp_path / "x.db"), *args),
                              capture_output=True, text=True, env=clean_env(), timeout=60)

    missing = run("--seed-from-dump", str(tmp_path / "nope.dump"))
    assert missing.returncode == 2
    assert (f"Invalid value for '--seed-from-dump': '{tmp_path / 'nope.dump'}' is neither an "
            "http(s) URL nor a file") in missing.stderr
    both = run("--seed-from-dump", "--full")
    assert both.returncode == 2
    assert ("Error: --seed-from-dump cannot be combined with --full: a full rescan pages every "
            "unit through the API, which is what the dump is there to avoid") in both.stderr
    assert not (tmp_path / "x.db").exists()
    assert "--seed-from-dump [URL|PATH]" in run("--help").stdout


def test_without_a_value_the_fecs_own_dump_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import sync_donations

    seen: list[Any] = []
    monkeypatch.setattr(sync_donations, "run_cli",
                        lambda opts, as_json, verbose: seen.append(opts) or 0)
    from click.testing import CliRunner

    result = CliRunner().invoke(sync_donations.cli, ["--seed-from-dump", "--cycle", "2026"])
    assert result.exit_code == 0, result.output
    assert seen[0].seed_from_dump == FEC_DUMP_URL and seen[0].cycles == [2026]


def test_a_terminal_sees_the_dump_in_bytes_then_in_rows(world: World, fake: FakeOpenFec,
                                                       cli: Cli) -> None:
    from tests.test_progress import read_all

    cli.quiet = False
    snapshot = world.dump_snapshot()
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    with serve(world, snapshot) as dump:
        proc = subprocess.Popen(cli.args("--seed-from-dump", dump.url), env=cli.env(),
                                stdout=subprocess.DEVNULL, stderr=secondary,
                                stdin=subprocess.DEVNULL)
        os.close(secondary)
        try:
            screen = read_all(primary, proc)
        finally:
            os.close(primary)
        assert proc.wait(timeout=60) == 0
    assert re.search(r"dump 2024: .*\| [\d.]+k?/[\d.]+k \[.*B/s\]", screen), screen
    assert re.search(r"dump 2026 -> db: .*\| [\d.]+/\d+ \[.*row/s\]", screen), screen


def test_make_demo_dump_loads_the_demo_world_exactly(tmp_path: Path,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    from tests.fake_dump import demo

    db = tmp_path / "demo-dump.db"
    code = demo.main(["--db", str(db), "--politicians", "8", "--latency", "0", "--fresh"])
    out = capfd.readouterr().out
    assert code == 0, out
    assert "sync_donations.py exited with 0" in out
    assert re.search(rf"live rows in {re.escape(str(db))} for 2026: \d+; expected \d+: exact match",
                     out), out
