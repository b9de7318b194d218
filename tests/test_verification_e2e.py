"""End to end: count checks after every pass make a plain nightly run exact, cheaply."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.dbtools import query
from tests.fake_openfec import FakeOpenFec
from tests.fake_openfec import schedule_a as fake_schedule_a
from tests.fake_openfec.server import encode_answer
from tests.support import CYCLES, KEY, Cli, db_rows, expected_rows


def superseded(db: Path) -> set[str]:
    return {r[0] for r in query(db, "SELECT sub_id FROM donations WHERE superseded_at IS NOT NULL")}


def live_rows(db: Path) -> dict[str, tuple[Any, ...]]:
    live = {r[0] for r in query(db, "SELECT sub_id FROM donations WHERE superseded_at IS NULL")}
    return {s: r for s, r in db_rows(db).items() if s in live}


def probes(fake: FakeOpenFec) -> int:
    return sum(1 for e in fake.log if e.kind == "schedule_a" and e.params["per_page"] == ["1"])


def test_a_plain_nightly_run_leaves_the_database_equal_to_the_api(cli: Cli, world,
                                                                  fake: FakeOpenFec) -> None:
    code, report, stderr = cli.run_json("--batch-size", "50")
    assert code == 0, stderr
    assert report["verification"]["verified"] == report["units"]["total"]
    assert report["verification"]["requests"] == 0  # a full pass's last page has the count
    night = world.nightly_load(new=12, late=6, corrected=5, amended_reports=3, deleted=4)
    fake.reset_log()
    code, report, stderr = cli.run_json("--refresh-after", "0", "--batch-size", "50")
    assert code == 0, stderr
    assert live_rows(cli.db) == expected_rows(world)  # nothing stale, missing or doubled
    gone = set(night["deleted"]) | set(night["amended_away"])
    assert superseded(cli.db) == gone  # marked, never deleted
    assert report["rows"]["superseded"] == len(gone)
    checks = report["verification"]
    assert checks["verified"] == report["units"]["total"] and checks["unverified"] == 0
    assert 1 <= checks["repaired"] <= 3 + 4
    assert checks["requests"] == report["requests"]["verification"] > 0
    # a probe per group of ten, then a few dozen requests for 7 changed reports and rows
    assert checks["requests"] <= -(-report["units"]["total"] // 10) + 7 * 12


def test_a_night_with_nothing_new_costs_about_two_requests_per_ten_units(
        cli: Cli, world, fake: FakeOpenFec) -> None:
    assert cli.run().returncode == 0
    fake.reset_log()
    code, report, stderr = cli.run_json("--refresh-after", "0")
    assert code == 0, stderr
    units = world.campaign_units(CYCLES)
    groups = sum(-(-sum(1 for _, y in units if y == cycle) // 10) for cycle in CYCLES)
    assert probes(fake) == report["requests"]["verification"] == groups
    assert report["requests"]["schedule_a"] <= 2 * groups + 2
    assert report["verification"] == {"verified": report["units"]["total"], "repaired": 0,
                                      "unverified": 0, "unchecked": 0, "requests": groups}


def test_no_verify_skips_the_checks(cli: Cli, world, fake: FakeOpenFec) -> None:
    assert cli.run().returncode == 0
    world.amend_away(3)
    fake.reset_log()
    code, report, stderr = cli.run_json("--refresh-after", "0", "--no-verify")
    assert code == 0, stderr
    assert probes(fake) == 0 and report["verification"]["verified"] == 0
    code, report, stderr = cli.run_json()  # fresh units, but never checked since: checked now
    assert code == 0, stderr
    assert report["units"]["skipped"] == report["units"]["total"]
    assert report["verification"]["repaired"] >= 1
    assert live_rows(cli.db) == expected_rows(world)


def test_estimated_counts_are_narrowed_until_exact(world, tmp_path: Path) -> None:
    with FakeOpenFec(world, api_keys=(KEY,), exact_count_limit=40) as fake:
        cli = Cli(fake, tmp_path / "estimates.db")
        assert cli.run("--batch-size", "50").returncode == 0
        world.amend_away(4)
        code, report, stderr = cli.run_json("--refresh-after", "0", "--batch-size", "50")
    assert code == 0, stderr
    assert live_rows(cli.db) == expected_rows(world)
    assert report["verification"]["unverified"] == 0


class HoldingFake(FakeOpenFec):
    """Holds every request of a repair (a date window or the NULL-date rows) until released,
    and says when the first one arrived: a kill then lands mid-repair by construction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.repairing, self.release = threading.Event(), threading.Event()

    def _route(self, path: str,
               params: dict[str, list[str]]) -> tuple[int, bytes, int, str | None]:
        if params.get("per_page") != ["1"] and ("min_date" in params
                                                or "sort_null_only" in params
                                                and "last_index" not in params):
            self.repairing.set()
            self.release.wait(timeout=60)
        return super()._route(path, params)


def wait_until_every_pass_completes(db: Path, proc: subprocess.Popen[str]) -> None:
    """Wait for the database to show every unit's pass complete (an event the sync
    commits), failing if the process ends first or it never happens."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        [(left,)] = query(db, "SELECT COUNT(*) FROM sync_state WHERE status != 'complete'")
        if left == 0:
            return
        time.sleep(0.01)
    raise AssertionError("the passes did not all complete while the repair was held")


def test_kill_9_during_a_repair_then_a_plain_run_is_exact(world, tmp_path: Path) -> None:
    with HoldingFake(world, api_keys=(KEY,)) as fake:
        cli = Cli(fake, tmp_path / "repair.db")
        fake.release.set()
        assert cli.run("--batch-size", "50").returncode == 0
        world.amend_away(5)
        fake.release.clear()
        proc = cli.popen("--refresh-after", "0", "--batch-size", "50")
        try:
            assert fake.repairing.wait(timeout=60)
            # other chains' passes run on while this repair is held: kill once all are done
            wait_until_every_pass_completes(cli.db, proc)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
        finally:
            fake.release.set()
        assert proc.returncode == -signal.SIGKILL
        assert live_rows(cli.db) != expected_rows(world)  # the repair was cut short
        code, report, stderr = cli.run_json("--batch-size", "50")
    assert code == 0, stderr
    assert report["units"]["skipped"] == report["units"]["total"]  # passes were done
    assert live_rows(cli.db) == expected_rows(world)
    assert report["verification"]["repaired"] >= 1


class MiscountingFake(FakeOpenFec):
    """Counts one committee's rows one too many, whatever the filter: no repair can agree."""

    def __init__(self, world: Any, committee_id: str, **kwargs: Any) -> None:
        super().__init__(world, **kwargs)
        self.committee_id = committee_id

    def _route(self, path: str,
               params: dict[str, list[str]]) -> tuple[int, bytes, int, str | None]:
        if "schedule_a" not in path or self.committee_id not in params.get("committee_id", []):
            return super()._route(path, params)
        answer = fake_schedule_a.search(self.world, params, None)
        answer.body["pagination"]["count"] += 1
        return 200, encode_answer(answer), answer.rows, answer.next_index


def test_a_unit_that_still_differs_after_repair_is_reported_with_exit_1(
        world, tmp_path: Path) -> None:
    committee = sorted(world.campaign_committee_ids)[0]
    with MiscountingFake(world, committee, api_keys=(KEY,)) as fake:
        cli = Cli(fake, tmp_path / "differs.db")
        cli.quiet = False
        code, report, stderr = cli.run_json("--batch-size", "50")
        status = cli.run("--status", "--json")
    assert code == 1
    assert report["status"] == "failed"
    differing = sum(1 for c, y in world.campaign_units(CYCLES) if c == committee)
    assert report["verification"]["unverified"] == differing
    assert stderr.rstrip().endswith(
        f"Error: {differing} unit(s) still differ from the API's count after repair")
    assert db_rows(cli.db) == expected_rows(world)  # every row is there all the same
    units = {(u["committee_id"], u["cycle"]): u for u in json.loads(status.stdout)["units"]}
    for (committee_id, _), unit in units.items():
        expected = "differs" if committee_id == committee else "verified"
        assert unit["verify_status"] == expected


@pytest.mark.parametrize("verify", [True, False])
def test_status_shows_each_units_check(cli: Cli, verify: bool) -> None:
    args = () if verify else ("--no-verify",)
    assert cli.run(*args).returncode == 0
    status = cli.run("--status")
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert "check" in lines[0]
    body = [line for line in lines[1:] if not line.startswith("no campaign committee")]
    if verify:
        assert body and all(" verified " in line for line in body)
    else:
        assert body and all(" unchecked " in line for line in body)
