"""Case 4, memory: peak RSS of the CLI process syncing ~10k, ~100k and ~1M rows.

The fake answers without latency. Peak RSS is the CLI process's own ru_maxrss, read
with os.wait4 on that one child (RUSAGE_CHILDREN would keep the largest of all runs).
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from bench import common
except ImportError:  # run as a script: python bench/case_memory.py
    import common  # type: ignore[no-redef]

from tests.fake_openfec import FakeOpenFec, generate_world

CYCLES = (2024, 2026)
CONCURRENCY = 8
TARGET_MB = 100.0
RATE_LIMIT = "1000000"  # a 1M-row sync takes ~10,000 requests, past a real key's hour
# Many committees rather than a few huge ones: the fake sorts a committee's rows on every
# request, so a 100k-row committee would measure the fake, not the sync.
SIZES: dict[str, dict[str, Any]] = {
    "10k": {"seed": 21, "politicians": 30, "rows_scale": 1.0},
    "100k": {"seed": 22, "politicians": 150, "rows_scale": 2.0},
    "1M": {"seed": 23, "politicians": 1500, "rows_scale": 3.0},
}


@dataclass
class Row:
    name: str
    world: dict[str, Any]
    units: int
    rows: int
    largest_unit: int
    peak_rss_mb: float
    wall_s: float
    cpu_s: float
    generate_s: float
    db_mb: float


def measure(name: str) -> Row:
    spec = SIZES[name]
    started = time.perf_counter()
    world = generate_world(spec["seed"], politicians=spec["politicians"], cycles=CYCLES,
                           rows_scale=spec["rows_scale"])
    sizes = common.unit_sizes(world, CYCLES)
    generate_s = time.perf_counter() - started
    common.say(f"memory {name}: {sum(sizes.values()):,} rows in {len(sizes)} units "
               f"(generated in {generate_s:.1f}s)")
    with FakeOpenFec(world, api_keys=(common.KEY,)) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / f"memory-{name}.db"
        result = common.run_cli(fake, db, "--cycle", "2024", "--cycle", "2026",
                                "--batch-size", "100", "--concurrency", str(CONCURRENCY),
                                "--rate-limit", RATE_LIMIT, "--quiet", "--json")
        result.check(f"sync of {name}")
        inserted = result.report["rows"]["inserted"]
        if inserted != sum(sizes.values()):
            raise RuntimeError(f"{name}: {inserted} rows synced, want {sum(sizes.values())}")
        db_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
    common.say(f"  peak RSS {result.maxrss_mb:.1f} MB, wall {result.wall_s:.1f}s")
    return Row(name, spec, len(sizes), inserted, max(sizes.values()), result.maxrss_mb,
               result.wall_s, result.cpu_s, generate_s, db_mb)


def run(names: tuple[str, ...] = tuple(SIZES)) -> dict[str, Any]:
    floor = common.run_process([sys.executable, str(common.SCRIPT), "--help"])
    return {"rows": [measure(name) for name in names], "help_rss_mb": floor.maxrss_mb}


def markdown(result: dict[str, Any]) -> str:
    rows: list[Row] = result["rows"]
    peak = max(r.peak_rss_mb for r in rows)
    smallest = min(r.peak_rss_mb for r in rows)
    out = [
        "## 4. Memory",
        "",
        f"Peak RSS of the CLI process (`os.wait4` rusage of that child), fake without latency,"
        f" `--cycle 2024 --cycle 2026 --batch-size 100 --concurrency {CONCURRENCY} "
        f"--rate-limit {RATE_LIMIT} --quiet --json`, fresh database each. "
        "Reference: the same interpreter running "
        f"`sync_donations.py --help` peaks at {result['help_rss_mb']:.1f} MB.",
        "",
        common.table(
            ["rows", "world", "units", "largest unit", "peak RSS (MB)", "vs --help",
             "wall (s)", "CLI CPU (s)", "database (MB)"],
            [(f"{r.rows:,}", f"seed={r.world['seed']} politicians={r.world['politicians']} "
              f"rows_scale={r.world['rows_scale']}", r.units, f"{r.largest_unit:,}",
              f"**{r.peak_rss_mb:.1f}**", f"{r.peak_rss_mb / result['help_rss_mb']:.2f}x",
              f"{r.wall_s:.1f}", f"{r.cpu_s:.1f}", f"{r.db_mb:.0f}") for r in rows],
        ),
        "",
        f"Target: flat (largest peak within 25% of the smallest) and under {TARGET_MB:.0f} MB: "
        f"**{smallest:.1f} to {peak:.1f} MB, "
        f"{'met' if peak < TARGET_MB and peak - smallest < 0.25 * smallest else 'missed'}**"
        + ("" if "1M" in {r.name for r in rows} else " (without the 1M case: --quick)") + ".",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    names = ("10k", "100k") if "--quick" in sys.argv else tuple(SIZES)
    print(markdown(run(names)))
