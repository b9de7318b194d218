"""A unit that fails for good is reported and marked failed; every other unit completes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openfec import FakeOpenFec
from tests.fake_openfec.server import encode_error
from tests.support import CYCLES, KEY, Cli, db_rows, expected_rows

CURSOR_KEYS = ("last_index", "last_contribution_receipt_date", "sort_null_only")


class BrokenCommitteeFake(FakeOpenFec):
    """The fake, with one committee's Schedule A broken: a 422, or a cursor that never moves,
    for every request that names it (alone or among other committees, as OpenFEC rejects a
    whole request for one bad committee_id value)."""

    def __init__(self, world: Any, committee_id: str, mode: str, **kwargs: Any) -> None:
        super().__init__(world, **kwargs)
        self.broken, self.mode = committee_id, mode

    def _route(self, path: str,
               params: dict[str, list[str]]) -> tuple[int, bytes, int, str | None]:
        if "schedule_a" in path and self.broken in params.get("committee_id", []):
            if self.mode == "422":
                body = {"message": "Invalid committee_id. A valid committee_id begins with a "
                                   "'C' followed by 8 digits. For example: C00100005.",
                        "status": 422}
                return 422, encode_error(body), 0, None
            params = {k: v for k, v in params.items() if k not in CURSOR_KEYS}
        return super()._route(path, params)


def biggest_unit(world: Any) -> tuple[str, int]:
    sizes: dict[tuple[str, int], int] = {}
    for row in world.expected_rows(cycles=CYCLES).values():
        unit = (row["committee_id"], row["two_year_transaction_period"])
        sizes[unit] = sizes.get(unit, 0) + 1
    return max(sizes, key=lambda unit: sizes[unit])


@pytest.mark.parametrize("mode,error", [
    ("loop", "answered with the cursor it was sent"),
    ("422", "Invalid committee_id"),
])
def test_broken_unit_fails_alone(world, tmp_path: Path, mode: str, error: str) -> None:
    committee, cycle = biggest_unit(world)
    with BrokenCommitteeFake(world, committee, mode, api_keys=(KEY,)) as fake:
        cli = Cli(fake, tmp_path / "broken.db")
        code, report, stderr = cli.run_json("--batch-size", "10")
        again, _, _ = cli.run_json("--batch-size", "10")
    assert code == 1 and again == 1, stderr
    assert report["status"] == "failed"
    failed = {(f["committee_id"], f["cycle"]) for f in report["failures"]}
    assert (committee, cycle) in failed
    assert all(error in f["error"] for f in report["failures"])
    assert f"failed: {committee} " in stderr
    want = {s: r for s, r in expected_rows(world).items() if r[0] != committee}
    got = {s: r for s, r in db_rows(cli.db).items() if r[0] != committee}
    assert got == want  # every other unit is whole
    with sqlite3.connect(cli.db) as conn:
        status, last_error = conn.execute(
            "SELECT status, last_error FROM sync_state WHERE committee_id = ? AND cycle = ?",
            (committee, cycle),
        ).fetchone()
    conn.close()
    assert status == "failed" and error in last_error
