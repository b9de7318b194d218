"""Whether a weekly dump may be loaded: fresh enough, and equal to what the API serves.

Before a cycle's rows are written, one real API page of the units to load (the sample) is
compared with the dump's rows of the same sub_ids, as the database would store them. A
dump is a snapshot, so a sample row loaded after it was taken may be missing from it, or
hold older values there; only rows loaded safely before the snapshot must be in it and
equal. "Safely before" is decided from the dump's own data, with no time zone to guess:
two days before the newest load_date of the loaded units in the dump (the margin of the
watermark), or of the dump's creation time when it holds no row of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from db.donations import COLUMNS, map_record, sub_id_of
from fec.dump import WATERMARK_MARGIN, DumpResult
from fec.dump_errors import DumpMismatch, DumpStale

# The dump is replaced every Sunday; one older than two weeks means the FEC's job is
# lagging (fec-dump.md §5), and the API catch-up after it would grow with every week.
MAX_AGE = timedelta(days=14)


def check_fresh(snapshot: datetime, last_modified: datetime | None, now: datetime,
                where: str) -> None:
    """Refuse a dump taken, or published, more than MAX_AGE before `now` (aware, UTC).
    The snapshot time is the dumping host's local time: hours off at most, days never."""
    taken = snapshot.replace(tzinfo=UTC) if snapshot.tzinfo is None else snapshot
    oldest = min(taken, last_modified or taken)
    if now - oldest > MAX_AGE:
        published = (f", published {last_modified:%Y-%m-%d %H:%M} UTC"
                     if last_modified is not None else "")
        raise DumpStale(
            f"{where} was taken on {snapshot:%Y-%m-%d %H:%M}{published}, "
            f"{(now - oldest).days} days ago: a weekly dump older than {MAX_AGE.days} days "
            "means the FEC's job is lagging")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SampleCheck:
    """The API's page against the dump's rows with the same sub_ids. Rows are compared as
    they stream by (a difference stops the read at once); `finish` then judges the sample
    rows that were missing, or that had another load_date in the dump."""

    def __init__(self, cycle: int, page: Sequence[Mapping[str, Any]], where: str) -> None:
        self.cycle, self.where = cycle, where
        self.expected = {sub_id: row for row in page
                         if (sub_id := sub_id_of(row)) is not None}
        self.found: set[str] = set()
        self.reloaded: set[str] = set()  # in the dump with another load_date than the API's
        self.compared = 0

    def see(self, record: Mapping[str, Any]) -> None:
        sub_id = str(record["sub_id"])
        api = self.expected.get(sub_id)
        if api is None:
            return
        self.found.add(sub_id)
        if record.get("load_date") != api.get("load_date"):
            self.reloaded.add(sub_id)  # loaded again after the snapshot, or a format drift
            return
        ours, theirs = map_record(record, None), map_record(api, None)
        if ours != theirs:
            column, mine, yours = next((name, a, b) for name, a, b in zip(
                COLUMNS, ours, theirs, strict=True) if a != b)
            raise DumpMismatch(
                f"{self.where}: row {sub_id} ({record.get('committee_id')} {self.cycle}) "
                f"differs from the API's in {column}: {_show(mine)} in the dump, "
                f"{_show(yours)} from the API")
        self.compared += 1

    def finish(self, result: DumpResult) -> None:
        horizon = self.horizon(result)
        for sub_id, api in sorted(self.expected.items()):
            loaded = str(api.get("load_date") or "")
            if loaded[:10] > horizon:
                continue  # loaded too close to the snapshot to be sure it is in it
            if sub_id not in self.found:
                raise DumpMismatch(
                    f"{self.where} lacks row {sub_id} ({api.get('committee_id')} "
                    f"{self.cycle}), which the API serves as loaded on {loaded[:10]}, before "
                    "the dump was taken")
            if sub_id in self.reloaded:
                raise DumpMismatch(
                    f"{self.where}: row {sub_id} ({api.get('committee_id')} {self.cycle}) has "
                    f"another load_date in the dump than the API's {_show(loaded)}")
        if self.compared == 0 and result.rows_kept:
            why = ("every one was loaded after it was taken" if self.expected else
                   f"the page is empty, yet the dump holds {result.rows_kept:,} of their rows")
            raise DumpMismatch(f"none of the rows of the API's page for {self.cycle} could be "
                               f"compared with {self.where}: {why}")

    @staticmethod
    def horizon(result: DumpResult) -> str:
        """The last load day surely in the snapshot (YYYY-MM-DD)."""
        newest = max(result.max_load_date.values(), default=None)
        taken = result.snapshot_time.date()
        if newest is not None:
            taken = min(taken, datetime.fromisoformat(newest[:10]).date())
        return (taken - WATERMARK_MARGIN).isoformat()
