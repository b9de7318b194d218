"""Case 6, a first load from the weekly dump: dump + API catch-up versus API only.

A generated world of big committees (a few thousand rows each on average, a tail of tens
of thousands: members' campaign committees hold 5-15 million rows per cycle between about
600 of them) keeps loading every night (new rows, late filings, corrections: a 700th of
its rows a night) for two weeks, then its weekly dump is taken (tests/fake_dump: pg_dump
15's layout, every committee of the world in it), then a week of loads follows: five such
nights, plus amended reports and deleted rows at the rate of bench case 2's night, per
unit. Two first loads of that same world then run one after the other, each on a fresh
database, against one fake API with LATENCY per request:

    API only: sync_donations.py --cycle 2026 --concurrency 8 --json
    dump:     the same with --seed-from-dump <the fake fec.gov link of the dump>

Reported for each: API requests (the fake's log), bytes downloaded (API response bodies,
plus the dump's bytes), wall time, peak RSS of the CLI process, and the two databases
compared: their live rows, every stored column.

    python bench/case_seed.py
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

if not __package__:  # run as a script: bench.* and the product from the checkout's root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from db.donations import COLUMNS, Value
from tests.fake_dump import FakeDumpServer, world_archive
from tests.fake_openfec import FakeOpenFec, World, generate_world

WORLD = common.WorldSpec(seed=31, politicians=30, cycles=(2026,), rows_scale=60.0)
MAX_UNIT_ROWS = 1_000  # generate_world's cap on a unit's draw, before rows_scale multiplies it
NIGHTS_BEFORE, NIGHTS_AFTER = 14, 5
NIGHT_SHARE = 1 / 700  # new rows a night, of the world's rows (late and corrected: a tenth)
# Amended reports and deleted rows a night per unit, as bench case 2's night has them.
AMENDED_PER_UNIT, DELETED_PER_UNIT = 10 / 1200, 20 / 1200
LATENCY = 0.02
CONCURRENCY = 8
RATE_LIMIT = "1000000"  # the API-only load takes thousands of requests, past a key's hour
TARGET_SHARE = 0.05  # of the API-only path's requests
TARGET_MB = 150


class MeteredFake(FakeOpenFec):
    """The fake API, counting the bytes of the bodies it answers."""

    def __init__(self, world: World, *, api_keys: Sequence[str], latency: float) -> None:
        super().__init__(world, api_keys=api_keys, latency=latency)
        self.body_bytes = 0
        self._meter = threading.Lock()

    def _route(self, path: str,
               params: dict[str, list[str]]) -> tuple[int, bytes, int, str | None]:
        answer = super()._route(path, params)
        with self._meter:
            self.body_bytes += len(answer[1])
        return answer


def live_rows(db: Path) -> dict[str, tuple[Value, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(f"SELECT sub_id, {', '.join(COLUMNS)} FROM donations"
                            " WHERE superseded_at IS NULL")
        return {row[0]: tuple(row[1:]) for row in rows}


@dataclass(frozen=True)
class Load:
    """One first load: the CLI's run and what the fake saw of it."""

    run: common.CliRun
    requests: int  # API requests, the legislators file aside
    schedule_a: int
    verification: int  # Schedule A requests of the count checks (the CLI's figure)
    api_bytes: int  # API response bodies
    dump_bytes: int
    dump: common.DumpReport
    rows: common.RowCounts
    probes: int
    rescans: int
    rescanned: dict[str, int]  # pages re-read by a repair, per committee


def first_load(fake: MeteredFake, db: Path, *extra: str) -> Load:
    fake.reset_log()
    fake.body_bytes = 0
    run = common.run_cli(fake, db, "--cycle", "2026", "--concurrency", str(CONCURRENCY),
                         "--rate-limit", RATE_LIMIT, "--quiet", "--json", *extra)
    run.check(f"first load {' '.join(extra) or 'through the API only'}")
    stats = fake.stats()
    dump: common.DumpReport = run.report.get("dump") or {}
    probes = rescans = 0
    rescanned: dict[str, int] = {}  # pages re-read by a repair, per committee
    for entry in fake.log:
        if entry.kind != "schedule_a":
            continue
        if entry.params["per_page"] == ["1"]:
            probes += 1
        elif "min_date" in entry.params or "sort_null_only" in entry.params:
            rescans += 1
            committee = entry.params["committee_id"][0]
            rescanned[committee] = rescanned.get(committee, 0) + 1
    return Load(run, stats["total"] - stats["by_kind"].get("legislators", 0),
                stats["by_kind"].get("schedule_a", 0), run.report["requests"]["verification"],
                fake.body_bytes, dump.get("bytes_downloaded", 0), dump, run.report["rows"],
                probes, rescans, rescanned)


def loads(world: World) -> tuple[common.NightLoad, common.NightLoad]:
    """A night's loads, and the week's after the dump."""
    units = len(world.campaign_units((2026,)))
    new = round(world.expected_count(cycles=(2026,)) * NIGHT_SHARE)
    night = common.NightLoad(new=new, late=new // 10, corrected=new // 10)
    week = common.NightLoad(
        new=night["new"] * NIGHTS_AFTER, late=night["late"] * NIGHTS_AFTER,
        corrected=night["corrected"] * NIGHTS_AFTER,
        amended_reports=max(1, round(units * NIGHTS_AFTER * AMENDED_PER_UNIT)),
        deleted=max(1, round(units * NIGHTS_AFTER * DELETED_PER_UNIT)))
    return night, week


@dataclass(frozen=True)
class SeedResult:
    api: Load  # through the API only
    dump: Load  # from the dump, then the API's catch-up
    units: int
    rows: int  # rows to load
    night: common.NightLoad  # each of the nights before the dump
    week: common.NightLoad  # the week after it
    dump_mb: float
    dump_rows: int  # every committee's
    identical: bool  # the two databases' live rows, every stored column
    exact: bool  # the dump path's sub_ids are the fake's
    differing: int  # rows that differ between the two
    command: str


def run() -> SeedResult:
    started = time.perf_counter()
    world = generate_world(WORLD.seed, politicians=WORLD.politicians, cycles=WORLD.cycles,
                           rows_scale=WORLD.rows_scale, max_unit_rows=MAX_UNIT_ROWS)
    night, week = loads(world)
    # The generated history ends with every row it could not place on its last day; two
    # weeks of ordinary nights put the dump where a real one is, amid nightly loads.
    first_night = datetime.now(UTC).replace(tzinfo=None, hour=3) - timedelta(days=NIGHTS_BEFORE)
    for n in range(NIGHTS_BEFORE):
        world.nightly_load(**night, now=first_night + timedelta(days=n))
    snapshot = world.dump_snapshot()
    content = world_archive(world, snapshot)
    world.nightly_load(**week)
    units = len(world.campaign_units((2026,)))
    rows = world.expected_count(cycles=(2026,))
    common.say(f"seed: {units} units, {rows:,} rows, a {len(content) / 1e6:.0f} MB dump of "
               f"{world.row_count:,} rows, built in {time.perf_counter() - started:.0f}s")
    published = snapshot.taken_at.replace(tzinfo=UTC) + timedelta(hours=18)
    fake = MeteredFake(world, api_keys=(common.KEY,), latency=LATENCY)
    with tempfile.TemporaryDirectory() as tmp, fake, \
            FakeDumpServer(content, last_modified=published) as dump_server:
        api = first_load(fake, Path(tmp) / "api.db")
        common.say(f"  API only: {api.requests:,} requests, {api.run.wall_s:.1f}s")
        dump = first_load(fake, Path(tmp) / "dump.db", "--seed-from-dump", dump_server.url)
        common.say(f"  dump: {dump.requests:,} requests, {dump.run.wall_s:.1f}s")
        ours, theirs = live_rows(Path(tmp) / "dump.db"), live_rows(Path(tmp) / "api.db")
        expected = world.expected_sub_ids(cycles=(2026,))
        command = common.command_text(dump.run, fake).replace(dump_server.url, "<dump.url>")
    return SeedResult(api, dump, units, rows, night, week, len(content) / 1e6, world.row_count,
                      ours == theirs, set(ours) == expected,
                      len(set(ours.items()) ^ set(theirs.items())), command)


def markdown(result: SeedResult) -> str:
    api, dump = result.api, result.dump
    share = dump.requests / api.requests

    def line(name: str, r: Load) -> tuple[str, ...]:
        run = r.run
        return (name, f"{r.requests:,}", f"{r.schedule_a - r.verification:,}",
                f"{r.verification:,}", f"{r.api_bytes / 1e6:.1f}",
                f"{r.dump_bytes / 1e6:.1f}", f"{run.wall_s:.1f}", f"{run.cpu_s:.1f}",
                f"{run.maxrss_mb:.0f}", f"{r.rows['inserted']:,}")

    spool = sum(c.get("spool_bytes", 0) for c in dump.dump.get("cycles", []))
    repaired = dump.rescanned
    widest = max(repaired.values(), default=0)
    without_repairs = dump.requests - dump.rescans
    met = share <= TARGET_SHARE and dump.run.maxrss_mb < TARGET_MB and result.identical
    return "\n".join([
        "## 6. First load from the weekly dump",
        "",
        f"World: `generate_world(seed={WORLD.seed}, politicians={WORLD.politicians}, "
        f"cycles={WORLD.cycles}, rows_scale={WORLD.rows_scale}, "
        f"max_unit_rows={MAX_UNIT_ROWS:,})`: {result.units} units, "
        f"{result.rows:,} rows to load. {NIGHTS_BEFORE} nights of `world.nightly_load("
        f"{', '.join(f'{k}={v}' for k, v in result.night.items())})`, then its weekly "
        f"dump ({result.dump_rows:,} rows of every committee, {result.dump_mb:.0f} MB, "
        f"served by the fake fec.gov link and S3 object), then a week: `world.nightly_load("
        f"{', '.join(f'{k}={v}' for k, v in result.week.items())})`. Fake API: "
        f"{LATENCY * 1000:.0f} ms per request. Each load on a fresh database: "
        f"`{result.command}`, and the same without `--seed-from-dump`.",
        "",
        common.table(["first load", "API requests", "paging", "count checks",
                      "API MB", "dump MB", "wall (s)", "CLI CPU (s)", "peak RSS (MB)",
                      "rows new"],
                     [line("API only", api), line("dump + API catch-up", dump)]),
        "",
        f"API requests include {api.requests - api.schedule_a} look-up(s) on both lines "
        f"and, on the dump's, {dump.dump.get('requests', 0)} page(s) to compare the dump "
        f"with. Its count checks: {dump.probes} count probes and {dump.rescans} pages "
        f"re-reading receipt-date windows of {len(repaired)} unit(s) changed upstream since the "
        f"dump was taken, {widest} of them for one unit (fec/verify.py re-reads a whole unit "
        "or a wide window when its difference is large, as a report amended after the dump "
        "makes it). Everything but those re-reads comes to "
        f"{without_repairs} requests, {without_repairs / api.requests:.1%} of the API-only "
        "path's. "
        f"The dump path kept {spool / 1e6:.1f} MB in its temporary spool "
        f"({spool / max(dump.dump.get('rows', 1), 1):.0f} bytes per row) until the table "
        f"was read and checked. Databases: the live rows of the two are "
        f"**{'identical' if result.identical else 'DIFFERENT'}** (every stored column; "
        f"{result.differing} rows differ) and "
        f"{'equal' if result.exact else 'NOT equal'} to the fake's data.",
        "",
        f"Target: at most {TARGET_SHARE:.0%} of the API-only path's requests, under "
        f"{TARGET_MB} MB, an identical database: **{share:.1%}, "
        f"{dump.run.maxrss_mb:.0f} MB, {'identical' if result.identical else 'different'}"
        f", {'met' if met else 'missed'}**.",
    ])


if __name__ == "__main__":
    sys.exit(print(markdown(run())))
