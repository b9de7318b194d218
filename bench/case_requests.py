"""Case 2, request efficiency: requests spent against the keyset minimum.

A full sync, then incremental re-runs (`--refresh-after 0`) with nothing new and with a
few late filings. Requests are counted twice: by the CLI (`--json`) and by the fake.
"""

from __future__ import annotations

import math
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from bench import common
except ImportError:  # run as a script: python bench/case_requests.py
    import common  # type: ignore[no-redef]

from tests.fake_openfec import FakeOpenFec, generate_world

PER_PAGE = 100
CYCLES = (2024, 2026)
WORLD = {"seed": 5, "politicians": 120, "rows_scale": 1.0}
LATE_FILINGS = 25
TARGET = 1.0
MAX_COMMITTEES = 10  # committee_id values one Schedule A request may carry


@dataclass
class Row:
    name: str
    cli_schedule_a: int
    cli_lookups: int
    fake_schedule_a: int
    fake_lookups: int
    minimum: int  # keyset minimum of what had to be read
    minimum_note: str
    units: int
    rows_inserted: int
    rows_seen: int

    @property
    def ratio(self) -> float:
        return self.cli_schedule_a / self.minimum if self.minimum else math.nan


def _per_unit_rows(log: list[Any]) -> dict[tuple[tuple[str, ...], str], int]:
    rows: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
    for entry in log:
        if entry.kind == "schedule_a":
            rows[common.unit_of(entry)] += entry.rows
    return rows


def _row(name: str, result: common.CliRun, log: list[Any], minimum: int, note: str,
         units: int) -> Row:
    requests = result.report["requests"]
    rows = result.report["rows"]
    return Row(name, requests["schedule_a"], requests["lookups"],
               sum(1 for e in log if e.kind == "schedule_a"),
               sum(1 for e in log if e.kind == "lookup"), minimum, note, units,
               rows["inserted"], rows["inserted"] + rows["updated"] + rows["unchanged"])


def run() -> dict[str, Any]:
    world = generate_world(WORLD["seed"], politicians=WORLD["politicians"], cycles=CYCLES,
                           rows_scale=WORLD["rows_scale"])
    sizes = common.unit_sizes(world, CYCLES)
    out: list[Row] = []
    args = ["--cycle", "2024", "--cycle", "2026", "--batch-size", str(PER_PAGE),
            "--concurrency", "8", "--quiet", "--json"]
    with FakeOpenFec(world, api_keys=(common.KEY,)) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "requests.db"
        full = common.run_cli(fake, db, *args)
        full.check("full sync")
        minimum = common.keyset_minimum(sizes.values(), PER_PAGE)
        out.append(_row("full sync (fresh database)", full, fake.log, minimum,
                        "sum over units of ceil(rows/100), +1 where the last page is full",
                        len(sizes)))
        command = common.command_text(full, fake)

        for name, late in (("incremental, nothing new", 0),
                           (f"incremental, {LATE_FILINGS} late filings", LATE_FILINGS)):
            if late:
                world.add_late_filings(late)
            fake.reset_log()
            result = common.run_cli(fake, db, *args, "--refresh-after", "0")
            result.check(name)
            if result.report["rows"]["inserted"] != late:
                raise RuntimeError(f"{name}: {result.report['rows']['inserted']} new rows")
            log = fake.log
            # What the chosen filter (min_load_date = watermark - overlap) had to read:
            # the keyset minimum over the rows each unit's pass returned.
            per_unit = _per_unit_rows(log)
            unit_min = common.keyset_minimum(per_unit.values(), PER_PAGE)
            out.append(_row(name, result, log, unit_min,
                            "keyset minimum of the rows the incremental filter returned",
                            len(per_unit)))
    return {"rows": out, "units": len(sizes), "total_rows": sum(sizes.values()),
            "command": command}


def markdown(result: dict[str, Any]) -> str:
    rows: list[Row] = result["rows"]
    full = rows[0]
    batched = math.ceil(full.units / MAX_COMMITTEES)
    out = [
        "## 2. Request efficiency",
        "",
        f"World: `generate_world(seed={WORLD['seed']}, politicians={WORLD['politicians']}, "
        f"cycles={CYCLES}, rows_scale={WORLD['rows_scale']})`: {result['units']} units, "
        f"{result['total_rows']:,} rows; fake without latency. Command: `{result['command']}`; "
        f"the re-runs add `--refresh-after 0` on the same database (the second after "
        f"`world.add_late_filings({LATE_FILINGS})`).",
        "",
        common.table(
            ["run", "Schedule A requests (--json)", "(fake's log)", "reference", "ratio",
             "look-ups (--json / log)", "units paged", "rows read", "rows new"],
            [(r.name, r.cli_schedule_a, r.fake_schedule_a, f"{r.minimum} ({r.minimum_note})",
              f"**{r.ratio:.2f}x**", f"{r.cli_lookups} / {r.fake_lookups}", r.units,
              f"{r.rows_seen:,}", f"{r.rows_inserted:,}") for r in rows],
        ),
        "",
        f"An incremental pass costs at least one request per unit ({full.units}) with one "
        f"unit per request; requests carrying up to {MAX_COMMITTEES} `committee_id` values "
        f"could bring a re-run with nothing new down to about {batched}.",
        "",
        f"Target: {TARGET:.2f}x of the keyset minimum on a full sync: "
        f"**{full.ratio:.2f}x, {'met' if full.ratio <= TARGET else 'missed'}**.",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(run()))
