"""Case 2, request economy: Schedule A requests spent against the floors the API allows.

On a world of all members (about 1,200 units over two cycles, median unit a few dozen
rows): a first full sync, a no-change nightly re-run, and a night's load (new, late and
corrected rows, amended reports, deleted rows), each with `--refresh-after 0` after the
first. Requests are counted twice: by the CLI (`--json`) and by the fake's log, and split
into paging and count checks (probes and repair rescans); after each run the database's
live rows are compared with the fake's data.
"""

from __future__ import annotations

import math
import sqlite3
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script: bench.* and the product from the checkout's root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from tests.fake_openfec import FakeOpenFec, World

PER_PAGE = 100
WORLD = common.WorldSpec(seed=5, politicians=537, cycles=(2024, 2026), rows_scale=1.0)
CYCLES = WORLD.cycles
NIGHT = common.NightLoad(new=300, late=40, corrected=60, amended_reports=10, deleted=20)
MAX_COMMITTEES = 10  # committee_id values one Schedule A request may carry
TARGET_FULL = 0.7  # of the per-unit keyset minimum
TARGET_NIGHT = 0.15  # Schedule A requests per unit for paging, no change
TARGET_CHECKED = 0.25  # the same with the count checks


@dataclass
class Run:
    name: str
    cli_schedule_a: int
    fake_schedule_a: int
    checks: int  # of which count checks: probes and repair rescans
    lookups: int
    units: int
    rows_read: int
    rows_new: int
    superseded: int
    exact: bool  # the database's live rows equal the fake's data afterwards
    verification: common.VerificationCounts

    @property
    def paging(self) -> int:
        return self.cli_schedule_a - self.checks

    @property
    def per_unit(self) -> float:
        return self.cli_schedule_a / self.units


def floors(world: World) -> tuple[int, int, int]:
    """(units, per-unit keyset minimum, coalesced floor) over CYCLES."""
    sizes = common.unit_sizes(world, CYCLES)
    per_unit = common.keyset_minimum(sizes.values(), PER_PAGE)
    by_cycle: dict[int, list[int]] = defaultdict(list)
    for (_, cycle), rows in sizes.items():
        by_cycle[cycle].append(rows)
    coalesced = sum(max(math.ceil(sum(rows) / PER_PAGE), math.ceil(len(rows) / MAX_COMMITTEES))
                    for rows in by_cycle.values())
    return len(sizes), per_unit, coalesced


def database_matches(db: Path, world: World) -> bool:
    """The live rows (not superseded) are exactly the fake's, field for field that matters."""
    with sqlite3.connect(db) as conn:
        got = {row[0]: tuple(row[1:]) for row in conn.execute(
            "SELECT sub_id, committee_id, contribution_receipt_amount, contribution_receipt_date,"
            " contributor_employer FROM donations WHERE superseded_at IS NULL")}
    conn.close()
    want = {sub_id: (r["committee_id"], r["contribution_receipt_amount"],
                     r["contribution_receipt_date"], r["contributor_employer"])
            for sub_id, r in world.expected_rows(cycles=CYCLES).items()}
    return got == want


def _run(name: str, result: common.CliRun, fake: FakeOpenFec, db: Path, world: World,
         units: int) -> Run:
    result.check(name)
    log = fake.log
    rows, requests = result.report["rows"], result.report["requests"]
    return Run(name, requests["schedule_a"], sum(1 for e in log if e.kind == "schedule_a"),
               requests["verification"], requests["lookups"], units,
               rows["inserted"] + rows["updated"] + rows["unchanged"], rows["inserted"],
               rows["superseded"], database_matches(db, world), result.report["verification"])


@dataclass(frozen=True)
class RequestsResult:
    runs: list[Run]  # the first sync, the no-change night, the night after a load
    units: int
    per_unit: int  # the per-unit keyset minimum of the first sync
    coalesced: int  # the coalesced floor of the first sync
    total_rows: int
    command: str
    differences: int  # rows gone upstream in the night's load
    changed_units: list[int]  # pages of each unit that lost rows


def run() -> RequestsResult:
    world = WORLD.generate()
    units, per_unit, coalesced = floors(world)
    total_rows = world.expected_count(cycles=CYCLES)
    common.say(f"requests: {units} units; per-unit minimum {per_unit}, floor {coalesced}")
    args = ["--cycle", "2024", "--cycle", "2026", "--batch-size", str(PER_PAGE),
            "--concurrency", "8", "--rate-limit", "1000000", "--quiet", "--json"]
    runs: list[Run] = []
    with FakeOpenFec(world, api_keys=(common.KEY,)) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "requests.db"
        full = common.run_cli(fake, db, *args)
        runs.append(_run("first full sync (fresh database)", full, fake, db, world, units))
        command = common.command_text(full, fake)
        fake.reset_log()
        again = common.run_cli(fake, db, *args, "--refresh-after", "0")
        runs.append(_run("nightly re-run, nothing changed", again, fake, db, world, units))
        changes = world.nightly_load(**NIGHT)
        fake.reset_log()
        night = common.run_cli(fake, db, *args, "--refresh-after", "0")
        runs.append(_run("nightly re-run after a night's load", night, fake, db, world, units))
        gone = set(changes["deleted"]) | set(changes["amended_away"])
        changed_units = _units_of(world, gone, db)
    return RequestsResult(runs, units, per_unit, coalesced, total_rows, command, len(gone),
                          changed_units)


def _units_of(world: World, sub_ids: set[str], db: Path) -> list[int]:
    """Pages (of 100) of each unit that lost rows: what a repair's cost is measured by."""
    with sqlite3.connect(db) as conn:
        marks = ",".join("?" * len(sub_ids))
        found = conn.execute(
            "SELECT committee_id, two_year_transaction_period FROM donations"
            f" WHERE sub_id IN ({marks})", sorted(sub_ids)).fetchall()
    conn.close()
    sizes = common.unit_sizes(world, CYCLES)
    return [math.ceil(sizes.get((c, y), 0) / PER_PAGE) or 1 for c, y in set(found)]


def markdown(result: RequestsResult) -> str:
    runs = result.runs
    full, quiet, night = runs
    per_unit, coalesced = result.per_unit, result.coalesced
    ratio = full.cli_schedule_a / per_unit
    night_text = ", ".join(f"{kind}={n}" for kind, n in NIGHT.items())
    realistic = coalesced + result.units / 20
    out = [
        "## 2. Request economy",
        "",
        f"World: `generate_world(seed={WORLD.seed}, politicians={WORLD.politicians}, "
        f"cycles={CYCLES}, rows_scale={WORLD.rows_scale})`: {result.units} units, "
        f"{result.total_rows:,} rows; fake without latency. Command: `{result.command}`; "
        f"the re-runs add `--refresh-after 0` on the same database, the last after "
        f"`world.nightly_load({night_text})` (new rows, late filings with old receipt dates, "
        "corrections in place, whole quarterly reports replaced by amendments with new "
        "sub_ids, rows deleted).",
        "",
        "Floors for the first sync: the per-unit keyset minimum (each unit its own chain: "
        f"sum of ceil(rows/100), +1 where a last page is full) is **{per_unit:,}** requests; "
        "the coalesced floor (per cycle, max(ceil(rows/100), ceil(units/10))) is "
        f"**{coalesced:,}** ({coalesced / per_unit:.2f}x of it). Every chain ends on a "
        "partial page, half a request on average, and a cycle needs at least ceil(units/10) "
        f"chains: about {realistic:,.0f} requests ({realistic / per_unit:.3f}x) is the floor "
        "in practice.",
        "",
        common.table(
            ["run", "Schedule A requests (--json)", "(fake's log)", "paging", "count checks",
             "per unit", "vs per-unit minimum", "vs coalesced floor", "look-ups",
             "rows read", "rows new", "rows superseded", "units verified (repaired)",
             "database = fake's data"],
            [(r.name, f"{r.cli_schedule_a:,}", f"{r.fake_schedule_a:,}", f"{r.paging:,}",
              f"{r.checks:,}", f"{r.per_unit:.3f}",
              f"{r.cli_schedule_a / per_unit:.3f}x" if r is full else "-",
              f"{r.cli_schedule_a / coalesced:.2f}x" if r is full else "-",
              r.lookups, f"{r.rows_read:,}", f"{r.rows_new:,}", f"{r.superseded:,}",
              f"{r.verification['verified']:,} ({r.verification['repaired']})",
              "yes" if r.exact else "**no**")
             for r in runs],
        ),
        "",
    ]
    paging_night = quiet.paging / quiet.units
    repair = night.checks - quiet.checks
    pages = result.changed_units
    budget = sum(math.log2(max(p, 2)) for p in pages) / len(pages) if pages else 0.0
    out += [
        f"Repair: the night's load left {result.differences} rows gone upstream in "
        f"{len(pages)} units; checking and repairing cost {night.checks} requests, "
        f"{repair} more than the no-change night's {quiet.checks} probes: "
        f"{repair / max(result.differences, 1):.1f} per difference, against a mean "
        f"log2(pages) of {budget:.1f} for those units.",
        "",
        f"Targets: a first full sync at most {TARGET_FULL}x of the per-unit minimum: "
        f"**{ratio:.3f}x, {'met' if ratio <= TARGET_FULL else 'missed'}** (the floor in "
        f"practice on this world is {realistic / per_unit:.3f}x); a no-change night at most "
        f"{TARGET_NIGHT} Schedule A requests per unit for paging: **{paging_night:.3f}, "
        f"{'met' if paging_night <= TARGET_NIGHT else 'missed'}**, and at most "
        f"{TARGET_CHECKED} with the count checks: **{quiet.per_unit:.3f}, "
        f"{'met' if quiet.per_unit <= TARGET_CHECKED else 'missed'}**; after one plain run "
        f"following a night's load the database is "
        f"**{'equal to' if night.exact else 'DIFFERENT from'} the fake's data**.",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(run()))
