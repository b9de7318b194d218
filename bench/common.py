"""Shared pieces of the benchmark: the machine, running the real CLI, the ideal schedule.

Every case runs the product as users do (a `sync_donations.py` subprocess) against the
loopback fake API from tests/fake_openfec, or drives db.writer directly.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:  # at run time the cases import the fakes: case_dump's reader child must not
    from tests.fake_openfec import FakeOpenFec, Logged, World

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key-0123456789"
SCRIPT = ROOT / "sync_donations.py"
_CLEARED_ENV = ("OPENFEC_API_KEY", "DONATIONS_DB", "OPENFEC_API_URL", "LEGISLATORS_URL",
                "OPENFEC_RATE_LIMIT")


# --- the machine ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "CPU": cpu_model(),
        "cores": f"{os.cpu_count()} ({usable} usable by this process)",
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "SQLite": sqlite3.sqlite_version,
        "OS": f"{platform.system()} {platform.release()}",
    }


# --- the generated worlds ------------------------------------------------------------------


@dataclass(frozen=True)
class WorldSpec:
    """The arguments of the fake's generate_world that a case names in bench/RESULTS.md."""

    seed: int
    politicians: int
    cycles: tuple[int, ...]
    rows_scale: float

    def generate(self) -> World:
        # Imported on use: case_dump's reader child imports this module, and its peak RSS
        # must stay the reader's own.
        from tests.fake_openfec import generate_world

        return generate_world(self.seed, politicians=self.politicians, cycles=self.cycles,
                              rows_scale=self.rows_scale)


class NightLoad(TypedDict, total=False):
    """Keyword arguments of the fake's World.nightly_load: changes of each kind."""

    new: int
    late: int
    corrected: int
    amended_reports: int
    deleted: int


# --- the CLI's --json report, as far as the cases read it ---------------------------------


class RowCounts(TypedDict):
    inserted: int
    updated: int
    unchanged: int
    skipped_no_sub_id: int
    superseded: int


class RequestCounts(TypedDict):
    total: int
    schedule_a: int
    lookups: int
    retries: int
    rate_limited: int
    verification: int


class VerificationCounts(TypedDict):
    verified: int
    repaired: int
    unverified: int
    unchecked: int
    requests: int


class DumpCycle(TypedDict, total=False):
    spool_bytes: int


class DumpReport(TypedDict, total=False):
    """`dump` of the report (null without --seed-from-dump; the cases read it as {})."""

    bytes_downloaded: int
    requests: int
    rows: int
    cycles: list[DumpCycle]


class CliReport(TypedDict, total=False):
    """The last line of `--json`; empty when the CLI printed none (check() reports why)."""

    rows: RowCounts
    requests: RequestCounts
    elapsed_s: float
    verification: VerificationCounts
    dump: DumpReport | None


# --- running the CLI -----------------------------------------------------------------------


@dataclass
class CliRun:
    args: list[str]
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the CLI process
    maxrss_mb: float  # peak resident set size of the CLI process
    stdout: str
    stderr: str
    report: CliReport = field(default_factory=CliReport)

    def check(self, what: str) -> None:
        if self.returncode != 0:
            raise RuntimeError(f"{what}: exit {self.returncode}\n{self.stderr[-2000:]}")


def cli_args(fake: FakeOpenFec, db: Path, *extra: str) -> list[str]:
    return ["--db", str(db), "--api-url", fake.url, "--api-key", KEY,
            "--legislators", fake.legislators_url, *extra]


def run_process(cmd: Sequence[str], timeout: float = 1800.0,
                on_start: Callable[[int], None] | None = None) -> CliRun:
    """Run `cmd`; wall time from spawn to exit, and this child's own rusage (os.wait4).

    `on_start` gets the launcher's pid (the command is its only child) once it runs."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        launcher = [sys.executable, str(ROOT / "bench" / "maxrss.py")]
        proc = subprocess.Popen([*launcher, *cmd], stdout=out, stderr=err, env=env, cwd=ROOT)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        if on_start is not None:
            on_start(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    # CPU: the launcher's children (the command); peak RSS: the command's own, which the
    # launcher reports last on stderr (in KiB on Linux).
    stderr, _, last = stderr.rstrip("\n").rpartition("\n")
    if not last.startswith("maxrss_kb "):
        stderr, last = f"{stderr}\n{last}", "maxrss_kb 0"
    return CliRun(list(cmd), proc.returncode, wall, usage.ru_utime + usage.ru_stime,
                  int(last.split()[1]) / 1024, stdout, stderr)


def run_cli(fake: FakeOpenFec, db: Path, *extra: str, timeout: float = 1800.0,
            on_start: Callable[[int], None] | None = None) -> CliRun:
    run = run_process([sys.executable, str(SCRIPT), *cli_args(fake, db, *extra)], timeout,
                      on_start)
    if run.stdout.strip():
        with contextlib.suppress(ValueError):  # no JSON: check() reports the exit code
            run.report = json.loads(run.stdout.strip().splitlines()[-1])
    return run


def startup_floor(repeat: int = 5) -> float:
    """Median wall of `sync_donations.py --help`: interpreter, imports, click."""
    walls = []
    for _ in range(repeat):
        run = run_process([sys.executable, str(SCRIPT), "--help"], timeout=60)
        run.check("--help")
        walls.append(run.wall_s)
    return statistics.median(walls)


def command_text(run: CliRun, fake: FakeOpenFec) -> str:
    """The command as run, with the loopback URLs and the database made generic."""
    parts = ["python" if a == sys.executable else a for a in run.args]
    parts[1] = "sync_donations.py"
    if "--db" in parts:
        parts[parts.index("--db") + 1] = "<db>"
    text = " ".join(parts)
    return (text.replace(fake.url, "<fake.url>").replace(fake.legislators_url, "<legislators>")
            .replace(KEY, "<key>"))


# --- the fake's log: units, request latencies, the ideal schedule -------------------------


@dataclass
class Schedule:
    lookups_s: float  # the look-up requests, one after another
    longest_chain_s: float  # the longest chain of Schedule A requests, each needing the last
    total_schedule_a_s: float  # every Schedule A request, end to end
    concurrency: int
    requests: int

    @property
    def schedule_a_s(self) -> float:
        return max(self.longest_chain_s, self.total_schedule_a_s / self.concurrency)

    @property
    def ideal_s(self) -> float:
        return self.lookups_s + self.schedule_a_s


def ideal_schedule(log: Iterable[Logged], concurrency: int, *, latency: float | None = None,
                   per_row: float = 0.0) -> Schedule:
    """The best any scheduler could do with these requests on `concurrency` connections.

    A Schedule A request that sends a cursor cannot start before the request that returned
    that cursor has answered: chains of such requests (through splits, too) are followed
    through the fake's log, and the longest one bounds the wall time.

    With `latency` given, a request costs latency + per_row x rows it returned (what the
    fake was told to wait); without, it costs the service time the fake measured.
    """
    def cost(entry: Logged) -> float:
        if latency is None:
            return float(entry.service_s)
        return latency + (per_row * entry.rows if entry.rows else 0.0)

    lookups = total = longest = 0.0
    ends: dict[str, float] = {}  # a cursor's last_index -> the chain's cost up to its answer
    requests = 0
    for entry in log:  # in answer order: a cursor's answer is logged before its use
        if entry.kind == "lookup":
            lookups += cost(entry)
        elif entry.kind == "schedule_a":
            sent = next(iter(entry.params.get("last_index", [])), None)
            path = ends.get(sent, 0.0) + cost(entry) if sent else cost(entry)
            if entry.next_index:
                ends[entry.next_index] = max(ends.get(entry.next_index, 0.0), path)
            longest = max(longest, path)
            total += cost(entry)
            requests += 1
    return Schedule(lookups, longest, total, concurrency, requests)


def keyset_minimum(unit_rows: Iterable[int], per_page: int) -> int:
    """Requests a keyset scan needs: ceil(rows / per_page), plus one empty page after a full
    last page (an empty unit needs that one request too)."""
    return sum(math.ceil(n / per_page) + (1 if n % per_page == 0 else 0) for n in unit_rows)


def unit_sizes(world: World, cycles: Sequence[int]) -> dict[tuple[str, int], int]:
    sizes = dict.fromkeys(world.campaign_units(cycles), 0)
    for row in world.snapshot([cid for cid, _ in sizes]):
        if (row.committee_id, row.cycle) in sizes:
            sizes[(row.committee_id, row.cycle)] += 1
    return sizes


# --- output --------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)
