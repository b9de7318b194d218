"""Long soak: many kill -9s under faults and a tight rate limit. Run with `make test-slow`."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from tests.fake_openfec import FakeOpenFec, Faults, generate_world
from tests.support import KEY, Cli, db_rows, expected_rows, integrity, kill_mid_run

pytestmark = pytest.mark.slow


def test_twenty_kills_under_faults_and_rate_limits_lose_nothing(tmp_path: Path) -> None:
    world = generate_world(seed=21, politicians=40, rows_scale=1.0)
    want = expected_rows(world)
    faults = Faults(p_5xx=0.05, p_reset=0.02, p_truncated=0.02, p_html=0.01)
    rng = random.Random(5)
    with FakeOpenFec(world, api_keys=(KEY,), faults=faults, rate_limit=(40, 1.0),
                     latency=0.01, seed=9) as fake:
        cli = Cli(fake, tmp_path / "soak.db")
        cli.extra_env["SYNC_DONATIONS_RETRY_BACKOFF"] = "0.05"
        for _ in range(20):  # each kill lands after a random number of Schedule A requests
            code, _, _ = kill_mid_run(cli, fake, rng.randrange(1, 40), "--batch-size", "25",
                                      "--concurrency", "8")
            assert code == -signal.SIGKILL
            assert integrity(cli.db) == "ok"
            saved = db_rows(cli.db)
            assert len(saved) < len(want) and saved.items() <= want.items()
        for _ in range(5):  # an unlucky fault streak may open the breaker: resume
            final = cli.run("--batch-size", "25", "--concurrency", "8", timeout=600)
            if final.returncode != 75:
                break
    assert final.returncode == 0, final.stderr
    assert db_rows(cli.db) == want
