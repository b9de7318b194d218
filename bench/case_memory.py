"""Case 4, memory: peak RSS of the CLI process syncing ~10k, ~100k and ~1M rows.

The fake answers without latency. Peak RSS is the CLI process's own ru_maxrss, read
with os.wait4 on that one child (RUSAGE_CHILDREN would keep the largest of all runs).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

if not __package__:  # run as a script: bench.* and the product from the checkout's root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from tests.fake_openfec import FakeOpenFec

CYCLES = (2024, 2026)
CONCURRENCY = 8
TARGET_MB = 100.0
SAMPLE_S = 2.0
RATE_LIMIT = "1000000"  # a 1M-row sync takes ~10,000 requests, past a real key's hour
# Many committees rather than a few huge ones: the fake sorts a committee's rows on every
# request, so a 100k-row committee would measure the fake, not the sync.
SIZES = {
    "10k": common.WorldSpec(seed=21, politicians=30, cycles=CYCLES, rows_scale=1.0),
    "100k": common.WorldSpec(seed=22, politicians=150, cycles=CYCLES, rows_scale=2.0),
    "1M": common.WorldSpec(seed=23, politicians=1500, cycles=CYCLES, rows_scale=3.0),
}


@dataclass
class Row:
    name: str
    world: common.WorldSpec
    units: int
    rows: int
    largest_unit: int
    peak_rss_mb: float
    wall_s: float
    cpu_s: float
    generate_s: float
    db_mb: float
    # (share of the Schedule A pages done, the CLI's peak RSS so far in MB), sampled
    samples: list[tuple[float, float]] = field(default_factory=list)

    def peak_at(self, share: float) -> float | None:
        """The peak RSS once `share` of the pages were done (first sample past it)."""
        return next((mb for done, mb in self.samples if done >= share), None)


class Sampler(threading.Thread):
    """Every SAMPLE_S, the CLI's VmHWM (peak RSS so far) and the share of pages served."""

    def __init__(self, fake: FakeOpenFec, pages: int) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.fake, self.pages = fake, pages
        self.launcher: int | None = None
        self.samples: list[tuple[float, float]] = []
        self.finished = threading.Event()

    def start_for(self, launcher_pid: int) -> None:
        self.launcher = launcher_pid
        self.start()

    def _peak_kb(self) -> int | None:
        try:
            children = Path(f"/proc/{self.launcher}/task/{self.launcher}/children").read_text()
            status = Path(f"/proc/{children.split()[0]}/status").read_text()
        except (OSError, IndexError):
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def run(self) -> None:
        while not self.finished.wait(SAMPLE_S):
            peak = self._peak_kb()
            if peak is not None:
                done = self.fake.count(kind="schedule_a") / self.pages
                self.samples.append((done, peak / 1024))


def measure(name: str) -> Row:
    spec = SIZES[name]
    started = time.perf_counter()
    world = spec.generate()
    sizes = common.unit_sizes(world, CYCLES)
    generate_s = time.perf_counter() - started
    common.say(f"memory {name}: {sum(sizes.values()):,} rows in {len(sizes)} units "
               f"(generated in {generate_s:.1f}s)")
    with FakeOpenFec(world, api_keys=(common.KEY,)) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / f"memory-{name}.db"
        sampler = Sampler(fake, common.keyset_minimum(sizes.values(), 100))
        try:
            result = common.run_cli(fake, db, "--cycle", "2024", "--cycle", "2026",
                                    "--batch-size", "100", "--concurrency", str(CONCURRENCY),
                                    "--rate-limit", RATE_LIMIT, "--quiet", "--json",
                                    on_start=sampler.start_for)
        finally:
            sampler.finished.set()
        result.check(f"sync of {name}")
        inserted = result.report["rows"]["inserted"]
        if inserted != sum(sizes.values()):
            raise RuntimeError(f"{name}: {inserted} rows synced, want {sum(sizes.values())}")
        db_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
    common.say(f"  peak RSS {result.maxrss_mb:.1f} MB, wall {result.wall_s:.1f}s")
    return Row(name, spec, len(sizes), inserted, max(sizes.values()), result.maxrss_mb,
               result.wall_s, result.cpu_s, generate_s, db_mb, sampler.samples)


@dataclass(frozen=True)
class MemoryResult:
    rows: list[Row]
    help_rss_mb: float  # the reference: peak RSS of `sync_donations.py --help`


def run(names: tuple[str, ...] = tuple(SIZES)) -> MemoryResult:
    floor = common.run_process([sys.executable, str(common.SCRIPT), "--help"])
    return MemoryResult([measure(name) for name in names], floor.maxrss_mb)


FLAT = 0.10  # the peak may grow by at most this much from 10% of the pages to the end


def verdict(rows: list[Row]) -> str:
    """Under the cap, and flat within the largest sync: its peak once a tenth of the pages
    were done against its peak at the end (nine tenths of the rows later)."""
    peak = max(r.peak_rss_mb for r in rows)
    largest = max(rows, key=lambda r: r.rows)
    early = largest.peak_at(0.1)
    if early is None:
        return f"**peak {peak:.1f} MB, {'met' if peak < TARGET_MB else 'missed'}** (no samples)"
    growth = largest.peak_rss_mb / early - 1
    met = peak < TARGET_MB and growth <= FLAT
    return (f"**peak {peak:.1f} MB; over the last 90% of the {largest.rows:,}-row sync the "
            f"peak grew {growth:+.0%} ({early:.1f} -> {largest.peak_rss_mb:.1f} MB), "
            f"{'met' if met else 'missed'}**")


def _at(row: Row, share: float) -> str:
    mb = row.peak_at(share)
    return "-" if mb is None else f"{mb:.1f}"


def markdown(result: MemoryResult) -> str:
    rows = result.rows
    out = [
        "## 4. Memory",
        "",
        f"Peak RSS of the CLI process (`os.wait4` rusage of that child), fake without latency,"
        f" `--cycle 2024 --cycle 2026 --batch-size 100 --concurrency {CONCURRENCY} "
        f"--rate-limit {RATE_LIMIT} --quiet --json`, fresh database each. "
        "Reference: the same interpreter running "
        f"`sync_donations.py --help` peaks at {result.help_rss_mb:.1f} MB.",
        "",
        common.table(
            ["rows", "world", "units", "largest unit", "peak RSS (MB)", "vs --help",
             "peak by 10% of pages", "by 50%", "wall (s)", "CLI CPU (s)", "database (MB)"],
            [(f"{r.rows:,}", f"seed={r.world.seed} politicians={r.world.politicians} "
              f"rows_scale={r.world.rows_scale}", r.units, f"{r.largest_unit:,}",
              f"**{r.peak_rss_mb:.1f}**", f"{r.peak_rss_mb / result.help_rss_mb:.2f}x",
              _at(r, 0.1), _at(r, 0.5),
              f"{r.wall_s:.1f}", f"{r.cpu_s:.1f}", f"{r.db_mb:.0f}") for r in rows],
        ),
        "",
        f"The peak so far (VmHWM) is sampled every {SAMPLE_S:.0f} s with the share of the "
        "Schedule A pages (keyset minimum) served. Short syncs end before the pipeline is full "
        "(C pages in flight plus 2C queued, each about 1 MB once parsed). Flat means the "
        f"largest sync's peak grows by at most {FLAT:.0%} after its first tenth of pages.",
        "",
        f"Target: flat and under {TARGET_MB:.0f} MB: {verdict(rows)}.",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    names = ("10k", "100k") if "--quick" in sys.argv else tuple(SIZES)
    print(markdown(run(names)))
