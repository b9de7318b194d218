"""Schedule A records of some committees for one cycle, read from the FEC's weekly dump.

    source = HttpSource()                       # or FileSource("fec_fitem_sched_a.dump")
    rows = iter_dump_rows(source, 2026, ["C00123456", ...], on_progress=print)
    for record in rows:                         # dicts exactly as the API serializes them
        ...
    rows.result                                 # rows, bytes, ETag, snapshot time, watermarks

Reading a cycle costs one ranged GET for the table of contents (the first MiB) and one for
the cycle's table (`disclosure.fec_fitem_sched_a_<cycle-1>_<cycle>`), streamed through
zlib and filtered as it arrives: memory stays flat whatever the table's size. Rows are
kept when their committee is asked for and their two_year_transaction_period equals the
cycle (the table also admits the odd year, which the API never serves).

Any DumpError means: load this cycle through the API instead. Records already yielded are
correct rows of the snapshot, but the set is complete only when `result.complete` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fec.dump_archive import OFFSET_NO_DATA, OFFSET_SET, Archive, iter_block_data, read_archive
from fec.dump_copy import iter_copy_lines, parse_copy_columns
from fec.dump_errors import DumpSchemaChanged, DumpUnsupported
from fec.dump_records import RowConverter, committee_prefixes
from fec.dump_source import DumpSource, SourceInfo, read_at

SCHEMA = "disclosure"
WATERMARK_MARGIN = timedelta(days=2)  # fec-dump.md §4: the snapshot predates Last-Modified


@dataclass(frozen=True)
class DumpProgress:
    bytes_read: int  # of the cycle's table
    bytes_total: int
    rows_read: int  # every row of the table so far
    rows_kept: int  # those of the committees asked for, in the cycle


@dataclass
class DumpResult:
    location: str  # the URL the file came from (after the redirect), or its path
    table: str
    etag: str | None
    last_modified: datetime | None  # of the file, UTC
    snapshot_time: datetime  # when pg_dump started, the dumping host's local time
    archive_version: str
    server_version: str | None
    table_bytes: int  # the size of the cycle's data block
    bytes_downloaded: int = 0  # all the source fetched so far: TOC, tables, resumed pieces
    rows_read: int = 0
    rows_kept: int = 0
    rows_by_committee: dict[str, int] = field(default_factory=dict)
    max_load_date: dict[str, str] = field(default_factory=dict)  # committee -> load_date
    complete: bool = False  # the whole table was read and checked

    def watermark(self, committee_id: str) -> str | None:
        """The date the API catch-up of a committee can start from: its latest load_date in
        the dump minus two days (None if the dump has no row of it)."""
        latest = self.max_load_date.get(committee_id)
        if latest is None:
            return None
        return (date.fromisoformat(latest[:10]) - WATERMARK_MARGIN).isoformat()


@dataclass(frozen=True)
class OpenedDump:
    archive: Archive
    info: SourceInfo


def open_dump(source: DumpSource) -> OpenedDump:
    """The archive's header and table of contents, checked to be readable."""
    archive = read_archive(lambda start, end: read_at(source, start, end), source.name)
    encoding = archive.encoding()
    if encoding != "UTF8":
        raise DumpUnsupported(f"{source.name} holds text in encoding {encoding or 'unknown'}, "
                              "not UTF8")
    if source.info is None:  # every source knows its file once it has read from it
        raise DumpUnsupported(f"{source.name} did not say what file it read")
    return OpenedDump(archive, source.info)


def table_name(cycle: int) -> str:
    return f"fec_fitem_sched_a_{cycle - 1}_{cycle}"


ProgressCallback = Callable[[DumpProgress], None]


class DumpRows(Iterator[dict[str, Any]]):
    """The records, read lazily; `result` is set once the table is found."""

    def __init__(self, source: DumpSource, cycle: int, committee_ids: Iterable[str],
                 on_progress: ProgressCallback | None = None,
                 opened: OpenedDump | None = None) -> None:
        self.source, self.cycle = source, cycle
        self.prefixes = committee_prefixes(committee_ids)
        self.on_progress = on_progress
        self.result: DumpResult | None = None
        self._opened = opened
        self._read = 0  # bytes of the table received so far
        self._rows = self._generate()

    def __next__(self) -> dict[str, Any]:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()

    def _generate(self) -> Generator[dict[str, Any], None, None]:
        opened = self._opened or open_dump(self.source)
        archive, table = opened.archive, table_name(self.cycle)
        where = f"{SCHEMA}.{table} in {self.source.name}"
        entry = archive.table_data(SCHEMA, table)
        if entry is None:
            raise DumpSchemaChanged(f"{self.source.name} has no table {SCHEMA}.{table} for "
                                    f"the {self.cycle} cycle")
        if entry.offset_state != OFFSET_SET:
            raise DumpUnsupported(
                f"{where} has no data" if entry.offset_state == OFFSET_NO_DATA else
                f"{self.source.name} has no data offsets (pg_dump wrote it to a pipe), so "
                "one table cannot be read without reading everything before it")
        converter = RowConverter(parse_copy_columns(entry.copy_stmt, where), where)
        end = archive.data_end(entry, opened.info.size)
        header = archive.header
        result = self.result = DumpResult(
            opened.info.location, f"{SCHEMA}.{table}", opened.info.etag,
            opened.info.last_modified, header.created,
            f"{header.version[0]}.{header.version[1]}", header.server_version,
            end - entry.offset)
        pieces = self._counted(self.source.read_range(entry.offset, end))
        lines = iter_copy_lines(iter_block_data(pieces, header, entry, end - entry.offset), where)
        yield from self._filter(lines, converter, result)
        result.complete = True
        result.bytes_downloaded = self.source.bytes_downloaded
        self._report(result)

    def _counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self._read += len(piece)
            yield piece

    def _filter(self, batches: Iterator[list[bytes]], converter: RowConverter,
                result: DumpResult) -> Iterator[dict[str, Any]]:
        prefixes, cycle = self.prefixes, self.cycle
        at = converter.committee_at
        by_committee, latest = result.rows_by_committee, result.max_load_date
        for lines in batches:
            result.rows_read += len(lines)
            if at == 0:  # the FEC's layout: a row of ours starts with "C00123456\t"
                ours = [line for line in lines if line[:10] in prefixes]
            else:
                ours = [line for line in lines
                        if line.split(b"\t", at + 1)[at] + b"\t" in prefixes]
            for line in ours:
                record = converter.convert(line)
                if record["two_year_transaction_period"] != cycle:
                    continue
                committee = record["committee_id"]
                by_committee[committee] = by_committee.get(committee, 0) + 1
                loaded = record["load_date"]
                if loaded is not None and loaded > latest.get(committee, ""):
                    latest[committee] = loaded
                result.rows_kept += 1
                yield record
            result.bytes_downloaded = self.source.bytes_downloaded
            self._report(result)

    def _report(self, result: DumpResult) -> None:
        if self.on_progress is not None:
            self.on_progress(DumpProgress(self._read, result.table_bytes, result.rows_read,
                                          result.rows_kept))


def iter_dump_rows(source: DumpSource, cycle: int, committee_ids: Iterable[str],
                   on_progress: ProgressCallback | None = None,
                   opened: OpenedDump | None = None) -> DumpRows:
    """The API records of `committee_ids` for `cycle` in the dump (see the module doc);
    pass `opened` to read several cycles from one table of contents."""
    return DumpRows(source, cycle, committee_ids, on_progress, opened)
