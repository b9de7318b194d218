"""A writer of pg_dump custom-format archives, for tests: the fake side of fec.dump_archive.

It writes what pg_dump writes (checked byte for byte against a real pg_dump 15 archive in
tests/test_dump_reference.py): the header, the TOC (first with unset offsets, then again
with the data offsets, as pg_dump rewrites it in place), and the data blocks in TOC order.
With gzip a block's COPY text is ONE zlib stream cut into chunks of at most 4,096 bytes;
uncompressed, each row is its own chunk and so is the end marker.

Knobs that pg_dump does not have exist to build broken or unusual archives: chunk sizes,
archives without offsets, versions 1.15 and 1.16, and raw replacement blocks.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from fec.dump_archive import (
    OFFSET_NO_DATA,
    OFFSET_NOT_SET,
    OFFSET_SET,
    ArchiveHeader,
    TocEntry,
)

CHUNK = 4096  # pg_dump's DEFAULT_IO_BUFFER_SIZE (ZLIB_OUT_SIZE in pg_dump 15)
END_OF_DATA = b"\\.\n\n\n"
_ESCAPES = {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v"}
_NEEDS_ESCAPE = frozenset(_ESCAPES)
_LINES = re.compile(rb"[^\n]*\n|[^\n]+\Z")


def pack_int(value: int, size: int = 4) -> bytes:
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(size, "little")


def pack_str(text: str | None, size: int = 4) -> bytes:
    if text is None:
        return pack_int(-1, size)
    raw = text.encode("utf-8")
    return pack_int(len(raw), size) + raw


def copy_escape(value: str | None) -> str:
    """A value as PostgreSQL's COPY TO writes it (CopyAttributeOutText, tab delimiter)."""
    if value is None:
        return "\\N"
    if not _NEEDS_ESCAPE.intersection(value):
        return value
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def copy_text(rows: Iterable[Sequence[str | None]]) -> bytes:
    """COPY text of some rows, with pg_dump's end marker."""
    lines = ["\t".join(copy_escape(v) for v in row) + "\n" for row in rows]
    return "".join(lines).encode("utf-8") + END_OF_DATA


def header_bytes(header: ArchiveHeader) -> bytes:
    size = header.int_size
    out = bytearray(b"PGDMP")
    out += bytes([*header.version, header.int_size, header.off_size, header.format])
    if header.version[:2] >= (1, 15):
        out.append(header.compression_code)
    else:
        out += pack_int(header.compression_code, size)
    for value in header.created_fields:
        out += pack_int(value, size)
    for text in (header.database, header.server_version, header.dump_version):
        out += pack_str(text, size)
    return bytes(out)


def entry_bytes(entry: TocEntry, header: ArchiveHeader) -> bytes:
    size = header.int_size
    out = bytearray(pack_int(entry.dump_id, size) + pack_int(entry.had_dumper, size))
    for text in (entry.table_oid, entry.oid, entry.tag, entry.desc):
        out += pack_str(text, size)
    out += pack_int(entry.section, size)
    for text in (entry.defn, entry.drop_stmt, entry.copy_stmt, entry.namespace,
                 entry.tablespace, entry.tableam):
        out += pack_str(text, size)
    if header.version[:2] >= (1, 16):
        out += pack_int(entry.relkind or 0, size)
    out += pack_str(entry.owner, size) + pack_str(entry.with_oids, size)
    for dependency in entry.dependencies:
        out += pack_str(dependency, size)
    out += pack_str(None, size)
    out += bytes([entry.offset_state]) + entry.offset.to_bytes(header.off_size, "little")
    return bytes(out)


def data_chunks(text: bytes, header: ArchiveHeader, chunk_size: int = CHUNK) -> list[bytes]:
    """The chunks pg_dump writes for a table's COPY text."""
    if header.compression == "none":
        body, marker = ((text[:-len(END_OF_DATA)], [END_OF_DATA]) if text.endswith(END_OF_DATA)
                        else (text, []))
        return [*_LINES.findall(body), *marker]
    level = header.compression_code if header.version[:2] < (1, 15) else -1
    deflater = zlib.compressobj(level)
    stream = deflater.compress(text) + deflater.flush()
    return [stream[i:i + chunk_size] for i in range(0, len(stream), chunk_size)]


def block_bytes(dump_id: int, chunks: Iterable[bytes], int_size: int = 4,
                block_type: int = 1) -> bytes:
    out = bytearray([block_type]) + pack_int(dump_id, int_size)
    for chunk in chunks:
        out += pack_int(len(chunk), int_size) + chunk
    return bytes(out + pack_int(0, int_size))


def write_archive(header: ArchiveHeader, entries: Sequence[TocEntry],
                  data: Mapping[int, bytes], *, chunk_size: int = CHUNK,
                  set_offsets: bool = True, blocks: Mapping[int, bytes] | None = None) -> bytes:
    """A whole archive: `data` maps a TABLE DATA entry's dumpId to its COPY text; `blocks`
    replaces the written block of a dumpId with raw bytes (to build broken archives)."""
    head = header_bytes(header)
    unset = [_with_offset(e, OFFSET_NOT_SET if e.had_dumper else OFFSET_NO_DATA, 0)
             for e in entries]
    toc_size = sum(len(entry_bytes(e, header)) for e in unset) + len(pack_int(0, header.int_size))
    pos = len(head) + toc_size
    body = bytearray()
    placed: list[TocEntry] = []
    for entry in unset:
        if entry.had_dumper and entry.dump_id in data:
            block = (blocks or {}).get(entry.dump_id) or block_bytes(
                entry.dump_id, data_chunks(data[entry.dump_id], header, chunk_size),
                header.int_size)
            if set_offsets:
                entry = _with_offset(entry, OFFSET_SET, pos + len(body))
            body += block
        placed.append(entry)
    toc = pack_int(len(placed), header.int_size) + b"".join(entry_bytes(e, header) for e in placed)
    return head + toc + bytes(body)


def _with_offset(entry: TocEntry, state: int, offset: int) -> TocEntry:
    return replace(entry, offset_state=state, offset=offset)
