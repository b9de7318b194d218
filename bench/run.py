"""`make bench`: measure the performance budget of design §7 and write bench/RESULTS.md.

Every case runs against the loopback fake API (tests/fake_openfec) or drives the writer
thread directly, and reports its figure next to a reference measured in the same run,
with the ratio. Nothing here asserts a time: the numbers are for people to read.

    python bench/run.py            # all six cases (about 15 minutes on 2 cores)
    python bench/run.py --quick    # without the 1M-row memory case
    python bench/case_writer.py    # one case (or: python -m bench.case_writer)

bench/ is a package, and its modules import one another, the product and the fakes by
their full names (`from bench import common`, `from tests.fake_openfec import ...`), from
the checkout's root. `python -m bench.<module>` (from the root) finds them as it is; a
module run as a script (`python bench/<module>.py`, as `make bench` does) first puts the
root on sys.path (the `if not __package__` lines at its top).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # run as a script: bench.* and the product from the checkout's root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    case_dump,
    case_latency,
    case_memory,
    case_requests,
    case_seed,
    case_writer,
    common,
)

ROOT = common.ROOT
RESULTS = ROOT / "bench" / "RESULTS.md"


def code_version() -> str:
    """The commit measured, and any product file that differed from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", "sync_donations.py", "fec", "db").splitlines()
    if not changed:
        return f"commit {commit}"
    return f"commit {commit} with local changes to {', '.join(c[3:] for c in changed)}"


def machine_section(command: str, started: str, took: float) -> str:
    rows = [(name, value) for name, value in common.machine().items()]
    rows.append(("code", code_version()))
    return "\n".join([
        "# Benchmark results",
        "",
        f"Written by `{command}` on {started} UTC (the whole run took {took / 60:.1f} min). "
        "Every ratio compares two figures measured in this same run. The machine is shared "
        "and noisy: re-runs agree within roughly 10%, not to the digit.",
        "",
        common.table(["machine", ""], rows),
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1M-row memory case")
    args = parser.parse_args()
    command = "python bench/run.py" + (" --quick" if args.quick else "")
    started_wall = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    started = time.perf_counter()
    sections = [
        case_latency.markdown(case_latency.run()),
        case_requests.markdown(case_requests.run()),
        case_writer.markdown(case_writer.run()),
        case_memory.markdown(case_memory.run(
            ("10k", "100k") if args.quick else tuple(case_memory.SIZES)
        )),
        case_dump.markdown(case_dump.run()),
        case_seed.markdown(case_seed.run()),
    ]
    took = time.perf_counter() - started
    text = "\n\n".join([machine_section(command, started_wall, took), *sections]) + "\n"
    RESULTS.write_text(text)
    common.say(f"wrote {RESULTS.relative_to(ROOT)} in {took:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
