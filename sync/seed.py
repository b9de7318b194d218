"""First loads from the FEC's weekly dump (--seed-from-dump), through the one writer thread.

For each requested cycle, the units that have never completed a pass and were never
seeded are loaded from the cycle's table of the dump instead of being paged:

1. one API page of up to 10 of them is fetched first: the sample (sync.seed_check);
2. the table is read once (fec.dump), filtered to their committees and compared with the
   sample as it streams; its rows go to a spool file (sync.spool), not to the database;
3. once the whole table was read and the sample matched, the writer thread writes the
   rows, a batch per transaction, then marks the units seeded in ONE transaction, with
   `date(max load_date) - 2 days` of each as the watermark of its first API pass.

The sync then plans again: a seeded unit gets an incremental API pass from its watermark
(the usual overlap on top) and a count check like every other unit, so a first load ends
proven exact: rows loaded after the snapshot come from the API, rows deleted after it are
found by the check and marked superseded.

Nothing is written before the table has been read and checked, so a refusal (any
DumpError: an archive this reader cannot read exactly, a stale snapshot, a difference from
the API's page, a download that failed for good) leaves the database as it was and the
cycle's units are paged through the API instead. A file replaced while it is read (the
weekly replacement) is read again from its start, once. A kill at any instant leaves rows
committed batch by batch but the units not seeded: the next run reads the table again and
rewrites what was committed, unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from db.writer import DONE, CommitResult, SeedDone, SeededUnit, SeedRows, SQLiteWriter
from fec.client import FecClient
from fec.dump import DumpProgress, DumpResult, OpenedDump, iter_dump_rows, open_dump
from fec.dump_errors import DumpError, DumpReplaced
from fec.dump_source import DumpSource, FileSource, HttpSource
from fec.errors import BadRequest, Cancelled, InvalidUnit, PaginationError
from fec.schedule_a import MAX_COMMITTEES, iter_pages
from sync.seed_check import SampleCheck, check_fresh
from sync.seed_progress import SeedProgress, human_bytes
from sync.spool import BATCH_ROWS, RowSpool

logger = logging.getLogger(__name__)

Unit = tuple[str, int]  # (committee_id, cycle)
QUEUE_BATCHES = 4  # spooled batches waiting for the writer


@dataclasses.dataclass
class CycleLoad:
    """What the dump did for one cycle."""

    cycle: int
    units: int  # never-synced units asked of the dump
    status: str = "stopped"  # "loaded" (rows and watermarks committed) or "not used"
    rows: int = 0
    reason: str | None = None  # why it was not used
    restarts: int = 0  # reads started over because the file was replaced
    etag: str | None = None  # of the file loaded
    snapshot_time: str | None = None
    spool_bytes: int = 0  # temporary disk space the rows took until the table was checked


@dataclasses.dataclass
class SeedReport:
    """What came from the dump, for the summary and --json."""

    source: str  # as given: the FEC's URL, another URL, or a path
    location: str | None = None  # where the file was read (after the redirect)
    etag: str | None = None
    last_modified: str | None = None
    snapshot_time: str | None = None  # when pg_dump started (the FEC host's local time)
    bytes_downloaded: int = 0
    requests: int = 0  # API pages fetched to compare the dump with
    cycles: list[CycleLoad] = dataclasses.field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(load.rows for load in self.cycles)

    def loaded(self) -> bool:
        return any(load.status == "loaded" for load in self.cycles)

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rows"] = self.rows
        return data

    def summary_lines(self) -> list[str]:
        if not self.cycles:
            return ["dump: not needed: every requested unit has completed a pass or was "
                    "loaded from a dump before"]
        lines = []
        for load in self.cycles:
            if load.status == "loaded":
                again = (f", read again {load.restarts}x after a replacement"
                         if load.restarts else "")
                lines.append(f"dump {load.cycle}: {load.rows:,} rows of {load.units} unit(s) "
                             f"loaded from the snapshot of {load.snapshot_time} (ETag "
                             f"{load.etag or 'none'}{again}); the API pass from its "
                             "watermark follows")
            elif load.status == "not used":
                lines.append(f"dump {load.cycle}: not used ({load.reason}); its {load.units} "
                             "unit(s) are paged through the API instead")
            else:
                lines.append(f"dump {load.cycle}: stopped before its rows were all written; "
                             "the next run with --seed-from-dump reads it again")
        lines.append(f"dump: {human_bytes(self.bytes_downloaded)} read from "
                     f"{self.location or self.source}; {self.requests} API request(s) to "
                     "compare it with")
        return lines


def is_dump_url(spec: str) -> bool:
    """How make_source tells a URL from a path."""
    return spec.startswith(("http://", "https://"))


def make_source(spec: str, stop: threading.Event, backoff_factor: float) -> DumpSource:
    if is_dump_url(spec):
        return HttpSource(spec, stop=stop, backoff_factor=backoff_factor)
    return FileSource(spec)


class Seeder:
    """Load never-synced units from the dump, cycle by cycle (see the module doc)."""

    def __init__(self, db_path: str, source: str, client: FecClient, *,
                 stop: threading.Event, per_page: int, quiet: bool,
                 backoff_factor: float = 1.0, batch_rows: int = BATCH_ROWS,
                 on_commit: Callable[[CommitResult], None] | None = None,
                 interruptible: Callable[[], contextlib.AbstractContextManager[Any]] = (
                     contextlib.nullcontext)) -> None:
        self.client, self.stop, self.per_page = client, stop, per_page
        self.backoff_factor, self.on_commit = backoff_factor, on_commit
        self.interruptible, self.batch_rows = interruptible, batch_rows
        self.report = SeedReport(source)
        self.progress = SeedProgress(quiet)
        self.spool_dir = Path(db_path).resolve().parent
        self.messages: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.writer = SQLiteWriter(db_path, self.messages, stop=stop, on_commit=self._committed)
        self._source: DumpSource | None = None
        self._opened: OpenedDump | DumpError | None = None
        self._spent = 0  # bytes read from files given up on (replaced)

    def run(self, units: Sequence[Unit]) -> SeedReport:
        by_cycle: dict[int, list[str]] = {}
        for committee_id, cycle in sorted(set(units)):
            by_cycle.setdefault(cycle, []).append(committee_id)
        logger.info("dump: loading %d never-synced unit(s) of %s from %s", len(units),
                    ", ".join(map(str, by_cycle)), self.report.source)
        self.writer.start()
        try:
            for cycle, committee_ids in by_cycle.items():
                load = CycleLoad(cycle, len(committee_ids))
                self.report.cycles.append(load)
                self._load_cycle(load, committee_ids)
        finally:
            self.messages.put(DONE)  # the writer commits everything queued, then exits
            self.writer.join()
            self._count_bytes()
        if self.writer.error is not None:
            raise self.writer.error
        return self.report

    # --- one cycle --------------------------------------------------------------------

    def _load_cycle(self, load: CycleLoad, committee_ids: list[str]) -> None:
        try:
            with self.interruptible():
                sample = self._sample(load.cycle, committee_ids)
            try:
                self._load(load, committee_ids, sample)
            except DumpReplaced as exc:
                logger.warning("dump %s: %s was replaced while it was being read (ETag %s "
                               "became %s); reading the new file from the start", load.cycle,
                               self._name(), exc.before, exc.after)
                load.restarts += 1
                self._forget_file()
                try:
                    self._load(load, committee_ids, sample)
                except DumpReplaced as again:
                    raise DumpError(f"{self._name()} was replaced again while it was being "
                                    f"read (ETag {again.before} became {again.after})") from again
        except DumpError as exc:
            load.status, load.reason = "not used", str(exc)
            logger.warning("dump %s: not used (%s); its %d unit(s) are paged through the API "
                           "instead", load.cycle, exc, load.units)

    def _sample(self, cycle: int, committee_ids: list[str]) -> list[dict[str, Any]]:
        """The API's first page of up to 10 of the units, oldest receipts first."""
        self.report.requests += 1
        try:
            page = next(iter_pages(self.client, committee_ids[:MAX_COMMITTEES], cycle,
                                   per_page=self.per_page))
        except (BadRequest, InvalidUnit, PaginationError) as exc:
            raise DumpError(f"the API's page to compare the dump with could not be read: "
                            f"{exc}") from exc
        return page.rows

    def _load(self, load: CycleLoad, committee_ids: list[str],
              sample: list[dict[str, Any]]) -> None:
        opened = self._open()
        check = SampleCheck(load.cycle, sample, self._name())
        with RowSpool(self.spool_dir, self.batch_rows) as spool:
            result = self._read(load.cycle, committee_ids, opened, check, spool)
            check.finish(result)
            logger.info("dump %s: %s read (%s rows), %s rows of %d unit(s) kept; they match "
                        "the API's page", load.cycle, result.table, f"{result.rows_read:,}",
                        f"{result.rows_kept:,}", len(committee_ids))
            self._write(load, committee_ids, spool, result)

    def _read(self, cycle: int, committee_ids: list[str], opened: OpenedDump,
              check: SampleCheck, spool: RowSpool) -> DumpResult:
        source = self._require_source()
        rows = iter_dump_rows(source, cycle, committee_ids, on_progress=self._on_progress,
                              opened=opened)
        try:
            with self.interruptible(), self.progress.reading(cycle):
                for record in rows:
                    check.see(record)
                    spool.add(record)
        finally:
            rows.close()
        result = rows.result
        if result is None or not result.complete:  # the loop above ends only at the end
            raise DumpError(f"{self._name()}: the {cycle} table was not read to its end")
        return result

    def _write(self, load: CycleLoad, committee_ids: list[str], spool: RowSpool,
               result: DumpResult) -> None:
        with self.progress.writing(load.cycle, spool.rows):
            for batch in spool.batches():
                if self.stop.is_set():
                    raise Cancelled("stopped while writing the dump's rows")
                self._put(SeedRows(load.cycle, batch))
            units = tuple(SeededUnit(c, result.rows_by_committee.get(c, 0),
                                     result.watermark(c)) for c in committee_ids)
            done: Future[None] = Future()
            snapshot = result.snapshot_time.isoformat(sep=" ")
            self._put(SeedDone(load.cycle, units, snapshot, done))
            self._wait(done)
        load.status, load.rows, load.spool_bytes = "loaded", spool.rows, spool.bytes
        load.etag, load.snapshot_time = result.etag, snapshot
        logger.info("dump %s: %s rows of %d unit(s) written", load.cycle, f"{spool.rows:,}",
                    len(units))

    # --- the file ---------------------------------------------------------------------

    def _open(self) -> OpenedDump:
        """The table of contents, read once for every cycle (a failure too)."""
        if isinstance(self._opened, DumpError):
            raise self._opened
        if self._opened is None:
            try:
                self._opened = self._open_new()
            except DumpError as exc:
                self._opened = exc
                raise
        return self._opened

    def _open_new(self) -> OpenedDump:
        source = self._source = make_source(self.report.source, self.stop, self.backoff_factor)
        with self.interruptible():
            opened = open_dump(source)
        created, info = opened.archive.header.created, opened.info
        check_fresh(created, info.last_modified, datetime.now(UTC), source.name)
        report = self.report
        report.location, report.etag = info.location, info.etag
        report.last_modified = (info.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")
                                if info.last_modified else None)
        report.snapshot_time = created.isoformat(sep=" ")
        return opened

    def _forget_file(self) -> None:
        """Start over on the file now published: a new source, a new table of contents."""
        self._spent += self._source.bytes_downloaded if self._source else 0
        self._source, self._opened = None, None

    def _require_source(self) -> DumpSource:
        if self._source is None:
            raise RuntimeError("the dump is read before it was opened")
        return self._source

    def _name(self) -> str:
        return self._source.name if self._source is not None else self.report.source

    def _count_bytes(self) -> None:
        current = self._source.bytes_downloaded if self._source is not None else 0
        self.report.bytes_downloaded = self._spent + current

    def _on_progress(self, progress: DumpProgress) -> None:
        if self.stop.is_set():
            raise Cancelled("stopped while reading the dump")
        self.progress.read(progress)

    # --- the writer -------------------------------------------------------------------

    def _committed(self, result: CommitResult) -> None:
        """In the writer thread, after each commit."""
        if isinstance(result.message, SeedRows):
            self.progress.wrote(len(result.message.rows))
        if self.on_commit is not None:
            self.on_commit(result)

    def _put(self, message: object) -> None:
        if not self.writer.put(message):
            raise self._writer_gone()

    def _wait(self, done: Future[None]) -> None:
        while True:
            try:
                done.result(timeout=0.5)
                return
            except FutureTimeout:
                if not self.writer.is_alive():
                    raise self._writer_gone() from None

    def _writer_gone(self) -> BaseException:
        return self.writer.error or Cancelled("the database writer stopped")
