"""A reader of pg_dump's custom archive format: header, table of contents, data blocks.

Written from PostgreSQL's pg_backup_archiver.c (ReadHead, ReadToc, ReadInt, ReadStr,
ReadOffset), pg_backup_custom.c (_ReadExtraToc, _readBlockHeader, _CustomReadFunc) and
compress_gzip.c (ReadDataFromArchiveGzip). Only what a reader of table data needs:

* an `int` is a sign byte then `int_size` bytes little-endian; a `str` is an int length
  then that many bytes (-1: NULL); an offset is a state byte then `off_size` bytes;
* the header is "PGDMP", three version bytes, int_size, off_size, format (1 = custom),
  the compression (an int level up to 1.14, one algorithm byte from 1.15), seven ints of
  creation time, then the database name and the server and pg_dump versions;
* each TOC entry holds strings and ints in a fixed order (tableam from 1.14, relkind from
  1.16), its dependencies as strings ended by NULL, then the data offset;
* a data block is byte 1, the int dumpId, then chunks [int length][bytes] ended by int 0.
  With gzip the chunks are consecutive pieces of ONE zlib stream.

Archive versions 1.14 (pg_dump 15, what the FEC publishes) to 1.16 (pg_dump 17 and 18) are
read; the compressions read exactly are gzip and none. Anything else is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from fec.dump_errors import DumpCorrupt, DumpUnsupported

try:  # ISA-L inflates the same zlib streams much faster (bench/case_dump.py)
    from isal import isal_zlib
except ImportError:  # pragma: no cover - the standard library gives the same bytes
    isal_zlib = None  # type: ignore[assignment]

MAGIC = b"PGDMP"
FORMAT_CUSTOM = 1
BLOCK_DATA = 1
SUPPORTED_VERSIONS = ((1, 14), (1, 15), (1, 16))
OFFSET_NOT_SET, OFFSET_SET, OFFSET_NO_DATA = 1, 2, 3
# From 1.15 the header names the algorithm; before, an int level (0 = none, else zlib).
ALGORITHMS = {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}
READABLE = frozenset({"none", "gzip"})
HEAD_WINDOW = 1 << 20  # the FEC's whole TOC fits in its first MiB
MAX_CHUNK = 64 << 20  # pg_dump writes chunks of a few KiB; a huge length is corruption
_INFLATE_LIMIT = 4 << 20  # bound on the bytes one decompress call may return

ReadAt = Callable[[int, int], bytes]  # (start, end) -> bytes[start:end], shorter at the end


class Inflater(Protocol):
    """zlib's decompress object, or isal_zlib's: one zlib stream, fed piece by piece."""

    @property
    def eof(self) -> bool: ...

    @property
    def unconsumed_tail(self) -> bytes: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes: ...

    def flush(self, length: int = ..., /) -> bytes: ...


NewInflater = Callable[[], Inflater]
DEFAULT_INFLATER: NewInflater = (isal_zlib.decompressobj if isal_zlib is not None
                                 else zlib.decompressobj)
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,)
if isal_zlib is not None:  # its stub types `error` as an instance; it is the class
    _INFLATE_ERRORS += (cast(type[Exception], isal_zlib.error),)


@dataclass(frozen=True)
class ArchiveHeader:
    version: tuple[int, int, int]
    int_size: int
    off_size: int
    format: int
    compression_code: int  # the level (up to 1.14) or the algorithm byte (from 1.15)
    created_fields: tuple[int, ...]  # sec, min, hour, mday, mon (0-11), year-1900, isdst
    database: str | None
    server_version: str | None
    dump_version: str | None

    @property
    def compression(self) -> str:
        if self.version[:2] >= (1, 15):
            return ALGORITHMS.get(self.compression_code, f"unknown ({self.compression_code})")
        return "none" if self.compression_code == 0 else "gzip"

    @property
    def created(self) -> datetime:
        """When pg_dump started, in the dumping host's local time (no zone is recorded)."""
        sec, minute, hour, mday, mon, year = self.created_fields[:6]
        return datetime(year + 1900, mon + 1, mday, hour, minute, sec)


@dataclass(frozen=True)
class TocEntry:
    dump_id: int
    had_dumper: int
    table_oid: str | None
    oid: str | None
    tag: str | None
    desc: str | None
    section: int
    defn: str | None
    drop_stmt: str | None
    copy_stmt: str | None
    namespace: str | None
    tablespace: str | None
    tableam: str | None
    relkind: int | None  # only in 1.16 and later
    owner: str | None
    with_oids: str | None
    dependencies: tuple[str, ...]
    offset_state: int
    offset: int


@dataclass(frozen=True)
class Archive:
    header: ArchiveHeader
    entries: tuple[TocEntry, ...]

    def table_data(self, namespace: str, table: str) -> TocEntry | None:
        for entry in self.entries:
            if entry.desc == "TABLE DATA" and entry.namespace == namespace and entry.tag == table:
                return entry
        return None

    def encoding(self) -> str | None:
        for entry in self.entries:
            if entry.desc == "ENCODING" and entry.defn and entry.defn.count("'") >= 2:
                return entry.defn.split("'")[1]
        return None

    def data_end(self, entry: TocEntry, size: int) -> int:
        """Where the entry's data block ends: pg_dump writes the blocks back to back in TOC
        order, so at the next larger data offset, or at the end of the file."""
        later = [e.offset for e in self.entries
                 if e.offset_state == OFFSET_SET and e.offset > entry.offset]
        return min(later, default=size)


class _Cursor:
    """Reads the archive's primitives from the head of the file, fetching more on demand."""

    def __init__(self, read_at: ReadAt, where: str) -> None:
        self.read_at, self.where = read_at, where
        self.buf = b""
        self.pos = 0
        self.int_size = 4
        self.off_size = 8

    def take(self, n: int) -> bytes:
        while len(self.buf) < self.pos + n:
            more = self.read_at(len(self.buf), len(self.buf) + max(HEAD_WINDOW, n))
            if not more:
                raise DumpCorrupt(f"{self.where} ends inside its header or table of contents")
            self.buf += more
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def read_byte(self) -> int:
        return self.take(1)[0]

    def read_int(self) -> int:
        sign = self.read_byte()
        value = int.from_bytes(self.take(self.int_size), "little")
        return -value if sign else value

    def read_str(self) -> str | None:
        length = self.read_int()
        if length < 0:
            return None
        raw = self.take(length)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DumpCorrupt(f"{self.where} has a TOC string that is not UTF-8") from exc

    def read_offset(self) -> tuple[int, int]:
        state = self.read_byte()
        if state not in (OFFSET_NOT_SET, OFFSET_SET, OFFSET_NO_DATA):
            raise DumpCorrupt(f"{self.where} has an unknown data offset state {state}")
        return state, int.from_bytes(self.take(self.off_size), "little")


def read_archive(read_at: ReadAt, where: str = "the dump") -> Archive:
    """Header and TOC of a custom-format archive; refuses what it cannot read exactly."""
    cursor = _Cursor(read_at, where)
    header = _read_header(cursor)
    count = cursor.read_int()
    if count < 0:
        raise DumpCorrupt(f"{where} claims {count} TOC entries")
    entries = tuple(_read_entry(cursor, header.version) for _ in range(count))
    return Archive(header, entries)


def _read_header(cursor: _Cursor) -> ArchiveHeader:
    where = cursor.where
    if cursor.take(5) != MAGIC:
        raise DumpUnsupported(f"{where} is not a pg_dump custom-format archive (no PGDMP header)")
    version = (cursor.read_byte(), cursor.read_byte(), cursor.read_byte())
    if version[:2] not in SUPPORTED_VERSIONS:
        raise DumpUnsupported(
            f"{where} is a pg_dump archive of version {version[0]}.{version[1]}; this reader "
            "reads versions 1.14 to 1.16 (pg_dump 15 to 18) only")
    cursor.int_size, cursor.off_size = cursor.read_byte(), cursor.read_byte()
    if not (1 <= cursor.int_size <= 8 and 1 <= cursor.off_size <= 8):
        raise DumpCorrupt(f"{where} has impossible integer sizes "
                          f"({cursor.int_size}, {cursor.off_size})")
    fmt = cursor.read_byte()
    if fmt != FORMAT_CUSTOM:
        raise DumpUnsupported(f"{where} is a pg_dump archive in format {fmt}, not custom (1)")
    compression = cursor.read_byte() if version[:2] >= (1, 15) else cursor.read_int()
    created = tuple(cursor.read_int() for _ in range(7))
    header = ArchiveHeader(version, cursor.int_size, cursor.off_size, fmt, compression,
                           created, cursor.read_str(), cursor.read_str(), cursor.read_str())
    if header.compression not in READABLE:
        raise DumpUnsupported(f"{where} is compressed with {header.compression}; this reader "
                              "reads gzip and uncompressed archives only")
    return header


def _read_entry(cursor: _Cursor, version: tuple[int, int, int]) -> TocEntry:
    dump_id = cursor.read_int()
    if dump_id <= 0:
        raise DumpCorrupt(f"{cursor.where} has a TOC entry with id {dump_id}")
    had_dumper, table_oid, oid = cursor.read_int(), cursor.read_str(), cursor.read_str()
    tag, desc, section = cursor.read_str(), cursor.read_str(), cursor.read_int()
    defn, drop_stmt, copy_stmt = cursor.read_str(), cursor.read_str(), cursor.read_str()
    namespace, tablespace, tableam = cursor.read_str(), cursor.read_str(), cursor.read_str()
    relkind = cursor.read_int() if version[:2] >= (1, 16) else None
    owner, with_oids = cursor.read_str(), cursor.read_str()
    dependencies: list[str] = []
    while (dep := cursor.read_str()) is not None:
        dependencies.append(dep)
    state, offset = cursor.read_offset()
    return TocEntry(dump_id, had_dumper, table_oid, oid, tag, desc, section, defn, drop_stmt,
                    copy_stmt, namespace, tablespace, tableam, relkind, owner, with_oids,
                    tuple(dependencies), state, offset)


def iter_block_data(pieces: Iterable[bytes], header: ArchiveHeader, entry: TocEntry,
                    length: int, inflater: NewInflater = DEFAULT_INFLATER) -> Iterator[bytes]:
    """The decompressed bytes of one data block, read from `pieces` (the file's bytes from
    the block's offset, `length` bytes in all).

    The block must carry the entry's dumpId, its zlib stream must end exactly at its end
    marker, and the end marker must be the block's last byte: anything else is corrupt."""
    where = f"the data of {entry.tag}"
    parser = _BlockParser(header, entry.dump_id, where, inflater)
    seen = 0
    for piece in pieces:
        seen += len(piece)
        if seen > length:
            raise DumpCorrupt(f"{where} is longer than the space before the next block")
        yield from parser.feed(piece)
    if not parser.ended:
        raise DumpCorrupt(f"{where} is cut short: the block ends before its end marker")
    if parser.pending or seen != length:
        raise DumpCorrupt(f"{where} has {length - parser.consumed} bytes after its end marker")


class _BlockParser:
    """The chunk framing of one data block, fed with bytes as they arrive."""

    def __init__(self, header: ArchiveHeader, dump_id: int, where: str,
                 inflater: NewInflater) -> None:
        self.int_size = header.int_size
        self.dump_id, self.where = dump_id, where
        self.inflater = inflater() if header.compression == "gzip" else None
        self.buf = b""
        self.started = self.ended = False
        self.consumed = 0  # bytes of the block parsed so far

    @property
    def pending(self) -> bool:
        return bool(self.buf)

    def _int_at(self, pos: int) -> int:
        value = int.from_bytes(self.buf[pos + 1:pos + 1 + self.int_size], "little")
        return -value if self.buf[pos] else value

    def feed(self, data: bytes) -> Iterator[bytes]:
        self.buf = self.buf + data if self.buf else data
        if self.ended:
            return
        size = 1 + self.int_size
        pos = 0
        if not self.started:
            if len(self.buf) < 1 + size:
                return
            self._check_block_header()
            pos, self.started = 1 + size, True
        payloads: list[bytes] = []
        while len(self.buf) >= pos + size:
            length = self._int_at(pos)
            if length == 0:
                pos += size
                self.ended = True
                break
            if not 0 < length <= MAX_CHUNK:
                raise DumpCorrupt(f"{self.where} has a chunk of impossible length {length}")
            if len(self.buf) < pos + size + length:
                break
            payloads.append(self.buf[pos + size:pos + size + length])
            pos += size + length
        self.buf = self.buf[pos:]
        self.consumed += pos
        if payloads:
            yield from self._inflate(b"".join(payloads))
        if self.ended:
            yield from self._finish()

    def _check_block_header(self) -> None:
        if self.buf[0] != BLOCK_DATA:
            raise DumpCorrupt(f"{self.where} starts with block type {self.buf[0]}, "
                              "not table data")
        found = self._int_at(1)
        if found != self.dump_id:
            raise DumpCorrupt(f"{self.where} is block {found}, not {self.dump_id}: the TOC "
                              "and the data disagree")

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        if self.inflater is None:
            yield data
            return
        if self.inflater.eof:
            raise DumpCorrupt(f"{self.where} continues after the end of its zlib stream")
        try:
            out = self.inflater.decompress(data, _INFLATE_LIMIT)
            while True:
                if out:
                    yield out
                if not self.inflater.unconsumed_tail:
                    break
                out = self.inflater.decompress(self.inflater.unconsumed_tail, _INFLATE_LIMIT)
        except _INFLATE_ERRORS as exc:
            raise DumpCorrupt(f"{self.where} is not a valid zlib stream ({exc})") from exc
        if self.inflater.unused_data:
            raise DumpCorrupt(f"{self.where} continues after the end of its zlib stream")

    def _finish(self) -> Iterator[bytes]:
        if self.inflater is None:
            return
        try:
            tail = self.inflater.flush()
        except _INFLATE_ERRORS as exc:
            raise DumpCorrupt(f"{self.where} is not a valid zlib stream ({exc})") from exc
        if tail:
            yield tail
        if not self.inflater.eof:
            raise DumpCorrupt(f"{self.where} ends early: its zlib stream is incomplete")
