"""`make demo-dump`: a first load from the FEC's weekly dump, offline.

Generates the demo's world (the one `make demo` syncs), takes its weekly dump, lets a week
of FEC loads happen after it (new and late filings, corrections, amended reports,
deletions), then serves the world as the fake OpenFEC and the dump as the fake fec.gov link
and its S3 object, and runs the real `sync_donations.py --seed-from-dump` against both
into demo-dump.db (or $DONATIONS_DB). It reports what each fake served and whether the
database holds exactly the expected rows. Run it again for an incremental run (the dump is
not needed then); pass --fresh to start over.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, timedelta
from pathlib import Path

from tests.fake_openfec import FakeOpenFec, World, generate_world
from tests.fake_openfec.demo import KEY, ROOT, build_parser, cli_command, cli_env, prepare

from .archive import world_archive
from .server import FakeDumpServer

WEEK_AFTER = {"new": 400, "late": 60, "corrected": 40, "amended_reports": 8, "deleted": 20}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.prog = "python -m tests.fake_dump.demo"
    parser.description = (__doc__ or "").splitlines()[0]
    parser.set_defaults(db=os.environ.get("DONATIONS_DB", "demo-dump.db"))
    args = parser.parse_args(argv)
    world_cycles = prepare(args)
    world = generate_world(args.seed, politicians=args.politicians, cycles=world_cycles,
                           rows_scale=args.rows_scale)
    snapshot = world.dump_snapshot()
    content = world_archive(world, snapshot)
    night = world.nightly_load(**WEEK_AFTER)
    print(f"weekly dump of {len(snapshot.rows):,} rows ({len(content) / 1e6:.1f} MB), then a "
          f"week of loads: {', '.join(f'{len(v)} {k}' for k, v in night.items())}", flush=True)
    published = snapshot.taken_at.replace(tzinfo=UTC) + timedelta(hours=18)
    fake = FakeOpenFec(world, api_keys=(KEY,), latency=args.latency,
                       per_row_latency=args.per_row_latency)
    with fake, FakeDumpServer(content, last_modified=published) as dump:
        print(f"fake OpenFEC at {fake.url} ({args.latency * 1000:.0f} ms per request), "
              f"fake dump at {dump.url}", flush=True)
        command = [*cli_command(args, fake), "--seed-from-dump", dump.url]
        print("running:", " ".join(command[1:]), flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run(command, cwd=ROOT, env=cli_env(), check=False).returncode
        except KeyboardInterrupt:
            code = 130
        elapsed = time.monotonic() - started
        report(fake, dump, world, args.db, args.cycles, elapsed)
    print(f"sync_donations.py exited with {code}")
    return code


def report(fake: FakeOpenFec, dump: FakeDumpServer, world: World, db: str, cycles: list[int],
           elapsed: float) -> None:
    stats = fake.stats()
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(stats["by_kind"].items()))
    served = dump.s3_requests()
    print(f"\nfake OpenFEC saw {stats['total']} requests ({kinds}); fake dump served "
          f"{len(served)} ranged GETs, {sum(r.sent for r in served) / 1e6:.1f} MB")
    print(f"wall time {elapsed:.1f} s")
    live, gone = stored(db, cycles)
    want = world.expected_sub_ids(cycles=cycles)
    verdict = ("exact match" if live == want
               else f"missing {len(want - live)}, unexpected {len(live - want)}")
    label = ", ".join(map(str, cycles))
    print(f"live rows in {db} for {label}: {len(live)}; expected {len(want)}: {verdict} "
          f"({gone} rows gone upstream since the dump are kept, marked superseded)")


def stored(db: str, cycles: list[int]) -> tuple[set[str], int]:
    """The live sub_ids of the cycles, and how many rows are marked superseded."""
    if not Path(db).exists():
        return set(), 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT sub_id, superseded_at FROM donations"
                            " WHERE two_year_transaction_period IN"
                            f" ({', '.join('?' * len(cycles))})", cycles).fetchall()
    except sqlite3.Error as exc:
        print(f"demo: cannot read {db}: {exc}", file=sys.stderr)
        return set(), 0
    finally:
        conn.close()
    return {sub_id for sub_id, gone in rows if gone is None}, sum(1 for _, g in rows if g)


if __name__ == "__main__":
    sys.exit(main())
