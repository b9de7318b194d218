"""`make demo`: sync a few hundred generated politicians from a local fake OpenFEC.

Starts the fake in-process on a free loopback port (50 ms per request by default),
runs the real `sync_donations.py` against it into demo.db (or $DONATIONS_DB), then
reports what the fake saw and whether the database holds exactly the expected rows.
The database is kept between runs, so a second `make demo` shows an incremental run;
pass --fresh to start over.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .server import FakeOpenFec
from .world import World, generate_world

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-key"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.fake_openfec.demo",
                                description=(__doc__ or "").splitlines()[0])
    p.add_argument("--db", default=os.environ.get("DONATIONS_DB", "demo.db"))
    p.add_argument("--politicians", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rows-scale", type=float, default=1.0)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--per-row-latency", type=float, default=0.0)
    p.add_argument("--cycle", type=int, action="append", dest="cycles",
                   help="a cycle to sync, repeatable (default 2026)")
    p.add_argument("--world-cycles", default="",
                   help="the cycles the world has, comma-separated (default: those synced)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--fresh", action="store_true", help="delete the database first")
    return p


def cli_command(args: argparse.Namespace, fake: FakeOpenFec) -> list[str]:
    return [
        sys.executable, str(ROOT / "sync_donations.py"),
        "--db", args.db, "--api-url", fake.url, "--api-key", KEY,
        "--legislators", fake.legislators_url,
        *[arg for cycle in args.cycles or [2026] for arg in ("--cycle", str(cycle))],
        "--batch-size", str(args.batch_size), "--concurrency", str(args.concurrency),
    ]


def cli_env() -> dict[str, str]:
    # The command line names everything; stray settings from the caller's shell must not win.
    skip = {"OPENFEC_API_KEY", "OPENFEC_API_URL", "LEGISLATORS_URL", "OPENFEC_RATE_LIMIT"}
    return {k: v for k, v in os.environ.items() if k not in skip}


def stored_sub_ids(db: str, cycles: list[int]) -> set[str]:
    if not Path(db).exists():
        return set()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT sub_id FROM donations WHERE two_year_transaction_period IN"
            f" ({', '.join('?' * len(cycles))})", cycles)
        return {r[0] for r in rows}
    except sqlite3.Error as exc:
        print(f"demo: cannot read {db}: {exc}", file=sys.stderr)
        return set()
    finally:
        conn.close()


def report(fake: FakeOpenFec, world: World, db: str, cycles: list[int], elapsed: float) -> None:
    stats = fake.stats()
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(stats["by_kind"].items()))
    print(f"\nfake OpenFEC saw {stats['total']} requests ({kinds}); statuses {stats['by_status']}")
    print(f"wall time {elapsed:.1f} s")
    histories = sum(1 for e in fake.log if e.kind == "lookup" and "/history" in e.path)
    print(f"look-ups: {stats['by_kind'].get('lookup', 0)}, of which {histories} committee "
          "histories")
    want = world.expected_sub_ids(cycles=cycles)
    got = stored_sub_ids(db, cycles)
    verdict = ("exact match" if got == want
               else f"missing {len(want - got)}, unexpected {len(got - want)}")
    label = ", ".join(map(str, cycles))
    print(f"rows in {db} for {label}: {len(got)}; expected {len(want)}: {verdict}")


def prepare(args: argparse.Namespace) -> list[int]:
    """Settle the parsed arguments (an absolute --db, --fresh, the cycles to sync) and
    return the cycles the world is generated for."""
    args.db = str(Path(args.db).resolve())  # the CLI runs from the repository root
    if args.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(args.db + suffix).unlink(missing_ok=True)
    print(f"generating {args.politicians} politicians (seed {args.seed})...", flush=True)
    args.cycles = sorted(set(args.cycles or [2026]))
    world_cycles = [int(c) for c in args.world_cycles.split(",") if c.strip()] or args.cycles
    return world_cycles


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    world_cycles = prepare(args)
    world = generate_world(args.seed, politicians=args.politicians, cycles=world_cycles,
                           rows_scale=args.rows_scale)
    fake = FakeOpenFec(world, api_keys=(KEY,), latency=args.latency,
                       per_row_latency=args.per_row_latency)
    with fake:
        latency_ms = args.latency * 1000
        print(f"fake OpenFEC at {fake.url} ({world.row_count} rows, "
              f"{latency_ms:.0f} ms per request)", flush=True)
        command = cli_command(args, fake)
        print("running:", " ".join(command[1:]), flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run(command, cwd=ROOT, env=cli_env(), check=False).returncode
        except KeyboardInterrupt:
            code = 130
        elapsed = time.monotonic() - started
        report(fake, world, args.db, args.cycles, elapsed)
    print(f"sync_donations.py exited with {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
