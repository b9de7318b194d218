"""The real CLI against the fake's model of api.data.gov's gateway: a per-minute key (its
window scaled down to seconds), a Remaining that rises, Retry-After on every 429, and slow
Schedule A pages."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
import requests

from fec.budget import RateBudget
from fec.client import FecClient
from fec.errors import TransientError
from tests.fake_openfec import FakeOpenFec, World, generate_world
from tests.support import KEY, Cli, db_rows, expected_rows

LEARNED = re.compile(r"the API gives back its (\d+) requests within about (\d+) s")


def test_a_per_minute_key_runs_at_its_pace_without_a_429_storm(world: World,
                                                              tmp_path: Path) -> None:
    # 120 requests a minute, with the minute scaled down to two seconds.
    with FakeOpenFec(world, api_keys=(KEY,), rate_limit=(120, 2.0),
                     rate_model="sliding") as fake:
        cli = Cli(fake, tmp_path / "minute.db")
        cli.quiet = False
        cli.extra_env["SYNC_DONATIONS_RATE_BACKOFF"] = "0.2"  # probes scaled like the window
        code, report, stderr = cli.run_json("--batch-size", "5", "--max-wait", "600")
        assert code == 0, stderr
        assert report["requests"]["total"] > 2 * 120  # more than two windows' worth
        assert fake.count(status=429) == 0 and report["requests"]["rate_limited"] == 0
        # However the gateway's estimate rose, never more than 120 in any two seconds.
        assert fake.busiest_window(KEY) <= 120
    learned = LEARNED.search(stderr)
    assert learned and learned[1] == "120" and int(learned[2]) >= 2
    assert db_rows(cli.db) == expected_rows(world)


def test_the_resume_time_is_the_servers_retry_after(world: World, tmp_path: Path) -> None:
    started = time.time()
    clock = lambda: 1_800_000_000.0 + 100.0 + time.time() - started  # noqa: E731
    # An hourly window, 100 s into its period: refusals last until the period ends.
    with FakeOpenFec(world, api_keys=(KEY,), rate_limit=(5, 3600.0), rate_model="sliding",
                     rate_clock=clock) as fake, requests.Session() as other_program:
        other_program.headers["X-Api-Key"] = KEY  # another program has spent the hour
        for _ in range(5):
            other_program.get(fake.url + "/committees/").close()
        with other_program.get(fake.url + "/committees/") as refused:
            assert refused.status_code == 429
            server_says = time.time() + int(refused.headers["Retry-After"])
        cli = Cli(fake, tmp_path / "spent.db")
        code, report, stderr = cli.run_json("--max-wait", "60")
    assert code == 75
    assert int(refused.headers["Retry-After"]) > 60  # more than the run may wait
    resume = dt.datetime.strptime(report["resume_after"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(resume.replace(tzinfo=dt.UTC).timestamp() - server_says) < 3
    shown = resume.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert stderr.strip().endswith(
        f"Stopped early: The API rate limit is used up; stopped safely. Re-run after {shown} "
        "to resume (or raise --max-wait to wait longer).")


@pytest.mark.parametrize(("read_timeout", "answered"), [(0.5, False), (120.0, True)])
def test_slow_schedule_a_pages_need_a_long_read_timeout(read_timeout: float,
                                                        answered: bool) -> None:
    world = generate_world(seed=7, politicians=6, cycles=(2026,), rows_scale=0.3)
    committee = world.specials.null_heavy_committee
    with FakeOpenFec(world, api_keys=(KEY,), schedule_a_latency=1.0) as fake:
        client = FecClient(KEY, fake.url, budget=RateBudget(1000), max_retries=0,
                           timeout=(5.0, read_timeout))
        params = {"committee_id": committee, "two_year_transaction_period": 2026,
                  "per_page": 100, "sort": "contribution_receipt_date"}
        try:
            if answered:
                assert client.get_json("/schedules/schedule_a/", params, kind="schedule_a")
                assert client.get_json("/committees/", {}, kind="lookup")
            else:
                with pytest.raises(TransientError, match="no answer within 0.5 s"):
                    client.get_json("/schedules/schedule_a/", params, kind="schedule_a")
        finally:
            client.close()
