"""The custom-format reader on archives from the fake writer: versions, compressions, chunk
and piece boundaries anywhere, and every refusal, with the message a user sees."""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path
from typing import Any

import pytest

from fec.dump import iter_dump_rows, open_dump
from fec.dump_archive import isal_zlib, iter_block_data, read_archive
from fec.dump_errors import DumpCorrupt, DumpError, DumpSchemaChanged, DumpUnsupported
from fec.dump_source import FileSource
from tests.fake_dump.archive import fec_archive, fec_entries, make_header
from tests.fake_dump.reference_rows import ROWS_2024, ROWS_2026, WANTED, make_row
from tests.fake_dump.schema import COLUMN_NAMES, child_table
from tests.fake_dump.writer import block_bytes, copy_text, data_chunks

TABLE = child_table(2026)
ROWS = {2024: [[r[c] for c in COLUMN_NAMES] for r in ROWS_2024],
        2026: [[r[c] for c in COLUMN_NAMES] for r in ROWS_2026]}
DATA_ID = {e.tag: e.dump_id for e in fec_entries(ROWS) if e.desc == "TABLE DATA"}
INFLATERS = [pytest.param(zlib.decompressobj, id="zlib")] + (
    [pytest.param(isal_zlib.decompressobj, id="isal")] if isal_zlib is not None else [])


def write(tmp_path: Path, blob: bytes, name: str = "sched_a.dump") -> FileSource:
    path = tmp_path / name
    path.write_bytes(blob)
    return FileSource(path)


def read(source: FileSource, cycle: int = 2026) -> list[dict[str, Any]]:
    return list(iter_dump_rows(source, cycle, WANTED))


def refusal(source: FileSource, cycle: int = 2026,
            kind: type[DumpError] = DumpError) -> str:
    with pytest.raises(kind) as caught:
        read(source, cycle)
    return str(caught.value)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    records = read(write(tmp_path_factory.mktemp("base"), fec_archive(ROWS)))
    expected = [r["sub_id"] for r in ROWS_2026
                if r["cmte_id"] in WANTED and r["two_year_transaction_period"] == "2026"]
    assert [r["sub_id"] for r in records] == expected
    return records


@pytest.mark.parametrize("version", [(1, 14, 0), (1, 15, 0), (1, 16, 0)])
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_versions_and_compressions_read_alike(tmp_path: Path, baseline: list[dict[str, Any]],
                                              version: tuple[int, int, int],
                                              compression: str) -> None:
    source = write(tmp_path, fec_archive(ROWS, version=version, compression=compression))
    assert read(source) == baseline
    header = open_dump(source).archive.header
    assert (header.version, header.compression) == (version, compression)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 64, 1000])
def test_zlib_chunks_of_any_size(tmp_path: Path, baseline: list[dict[str, Any]],
                                 chunk_size: int) -> None:
    assert read(write(tmp_path, fec_archive(ROWS, chunk_size=chunk_size))) == baseline


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 13])
def test_uncompressed_chunks_cut_inside_escapes(tmp_path: Path, baseline: list[dict[str, Any]],
                                                cut: int) -> None:
    text = copy_text(ROWS[2026])
    assert b"\\\\" in text and b"\\t" in text and b"\\N" in text
    block = block_bytes(DATA_ID[TABLE], [text[i:i + cut] for i in range(0, len(text), cut)])
    blob = fec_archive(ROWS, compression="none", blocks={TABLE: block})
    assert read(write(tmp_path, blob)) == baseline


@pytest.mark.parametrize("piece_size", [1, 3, 4097])
def test_file_pieces_cut_anywhere(tmp_path: Path, baseline: list[dict[str, Any]],
                                  piece_size: int) -> None:
    path = tmp_path / "sched_a.dump"
    path.write_bytes(fec_archive(ROWS, chunk_size=100))
    assert read(FileSource(path, piece_size=piece_size)) == baseline


@pytest.mark.parametrize("inflater", INFLATERS)
def test_both_inflaters_check_the_stream_end_to_end(inflater: Any) -> None:
    header = make_header(fec_archive.__kwdefaults__["created"])
    entry = next(e for e in fec_entries(ROWS) if e.tag == TABLE)
    text = copy_text(ROWS[2026])
    stream = b"".join(data_chunks(text, header))

    def block_of(chunks: list[bytes]) -> bytes:
        return block_bytes(entry.dump_id, chunks)

    def inflate(block: bytes) -> bytes:
        return b"".join(iter_block_data([block], header, entry, len(block), inflater))

    assert inflate(block_of([stream])) == text
    flipped = stream[:200] + bytes([stream[200] ^ 0x55]) + stream[201:]
    with pytest.raises(DumpCorrupt, match=f"^the data of {TABLE} is not a valid zlib stream"):
        inflate(block_of([flipped]))
    with pytest.raises(DumpCorrupt) as caught:
        inflate(block_of([stream[:-30]]))
    assert str(caught.value) == f"the data of {TABLE} ends early: its zlib stream is incomplete"
    late = f"the data of {TABLE} continues after the end of its zlib stream"
    for chunks in ([stream, b"late"], [stream + b"late"]):
        with pytest.raises(DumpCorrupt) as caught:
            inflate(block_of(chunks))
        assert str(caught.value) == late


def test_block_framing_refusals(tmp_path: Path) -> None:
    where = f"the data of {TABLE}"
    header = make_header(fec_archive.__kwdefaults__["created"])
    chunks = data_chunks(copy_text(ROWS[2026]), header)
    cases = {
        block_bytes(9999, chunks):
            f"{where} is block 9999, not {DATA_ID[TABLE]}: the TOC and the data disagree",
        block_bytes(DATA_ID[TABLE], chunks, block_type=3):
            f"{where} starts with block type 3, not table data",
        block_bytes(DATA_ID[TABLE], []): f"{where} ends early: its zlib stream is incomplete",
        block_bytes(DATA_ID[TABLE], chunks) + b"\x00\x07":
            f"{where} has 2 bytes after its end marker",
        block_bytes(DATA_ID[TABLE], chunks)[:-5]:
            f"{where} is cut short: the block ends before its end marker",
        block_bytes(DATA_ID[TABLE], chunks)[:-5] + b"\x01\x05\x00\x00\x00":
            f"{where} has a chunk of impossible length -5",
    }
    for i, (block, message) in enumerate(cases.items()):
        source = write(tmp_path, fec_archive(ROWS, blocks={TABLE: block}), f"b{i}.dump")
        assert refusal(source, kind=DumpCorrupt) == message


def test_empty_tables_read_as_no_rows(tmp_path: Path) -> None:
    source = write(tmp_path, fec_archive({2024: [], 2026: []}))
    rows = iter_dump_rows(source, 2026, WANTED)
    assert list(rows) == []
    assert rows.result is not None and rows.result.complete
    assert (rows.result.rows_read, rows.result.rows_kept) == (0, 0)


def copy_refusal(tmp_path: Path, text: bytes, name: str) -> str:
    return refusal(write(tmp_path, fec_archive(ROWS, texts={TABLE: text}), name),
                   kind=DumpCorrupt)


def test_copy_text_refusals(tmp_path: Path) -> None:
    where = f"disclosure.{TABLE} in the dump file {tmp_path}"
    good = copy_text(ROWS[2026][:3])
    row = "\t".join(v or "\\N" for v in ROWS[2026][0])
    assert copy_refusal(tmp_path, good[:-6], "a.dump") == \
        f"{where}/a.dump ends without COPY's end-of-data marker (\\.)"
    assert copy_refusal(tmp_path, good + b"X\n", "b.dump") == \
        f"{where}/b.dump has data after COPY's end-of-data marker"
    short = (row.rsplit("\t", 1)[0] + "\n").encode() + b"\\.\n\n\n"
    assert copy_refusal(tmp_path, short, "c.dump") == \
        f"{where}/c.dump has a row of 80 columns where its COPY statement names 81"
    carriage = (row.replace("DOE, JANE", "DOE,\rJANE", 1) + "\n").encode() + b"\\.\n\n\n"
    assert copy_refusal(tmp_path, carriage, "d.dump") == \
        f"{where}/d.dump has a raw carriage return in a row, which COPY never writes"
    lone = (row.replace("DOE, JANE", "DOE, JANE\\", 1) + "\n").encode() + b"\\.\n\n\n"
    assert copy_refusal(tmp_path, lone, "e.dump") == (
        f"{where}/e.dump has a value ending in a lone backslash (a backslash before a tab or "
        "a newline), which pg_dump never writes")
    latin1 = (row.replace("DOE, JANE", "DOÉ", 1) + "\n").encode("latin-1") + b"\\.\n\n\n"
    assert copy_refusal(tmp_path, latin1, "f.dump") == \
        f"{where}/f.dump has a row that is not valid UTF-8"


def test_octal_and_hex_escapes_give_bytes(tmp_path: Path) -> None:
    values = [make_row("4051720250000000001", WANTED[0], "2026")[c] for c in COLUMN_NAMES]
    row = "\t".join(v or "\\N" for v in values)
    escaped = row.replace("DOE, JANE", "JOS\\303\\251 \\x41\\x4a\\x \\8\\\\101", 1)
    [record] = read(write(tmp_path, fec_archive(ROWS, texts={
        TABLE: (escaped + "\n").encode() + b"\\.\n\n\n"})))
    assert record["contributor_name"] == "JOSé AJx 8\\101"


def test_schema_changes(tmp_path: Path, baseline: list[dict[str, Any]]) -> None:
    where = f"disclosure.{TABLE} in the dump file {tmp_path}"
    without = [c for c in COLUMN_NAMES if c not in ("pg_date", "cmte_id")]
    missing = {cycle: [[r[COLUMN_NAMES.index(c)] for c in without] for r in rows]
               for cycle, rows in ROWS.items()}
    assert refusal(write(tmp_path, fec_archive(missing, columns=without), "a.dump"),
                   kind=DumpSchemaChanged) == (
        f"{where}/a.dump lacks the column(s) cmte_id, pg_date that the API's records are made "
        "of; its schema has changed")
    drifted = [[*r] for r in ROWS[2026]]
    for r in drifted:
        r[COLUMN_NAMES.index("pg_date")] = "2025-05-17 04:08:30+00"
    source = write(tmp_path, fec_archive({2026: drifted}), "b.dump")
    assert refusal(source, kind=DumpSchemaChanged) == (
        f"{where}/b.dump holds '2025-05-17 04:08:30+00' in column pg_date, which the API "
        "serves as load_date: the column's type has changed")
    assert refusal(write(tmp_path, fec_archive(ROWS), "c.dump"), 2022, DumpSchemaChanged) == \
        f"the dump file {tmp_path}/c.dump has no table disclosure.fec_fitem_sched_a_2021_2022 " \
        "for the 2022 cycle"


def test_columns_in_another_order_or_missing_an_optional_one(
        tmp_path: Path, baseline: list[dict[str, Any]]) -> None:
    shuffled = sorted(COLUMN_NAMES, reverse=True)  # cmte_id is no longer the first column
    tables = {cycle: [[r[COLUMN_NAMES.index(c)] for c in shuffled] for r in rows]
              for cycle, rows in ROWS.items()}
    assert read(write(tmp_path, fec_archive(tables, columns=shuffled), "a.dump")) == baseline
    fewer = [c for c in COLUMN_NAMES if c != "increased_limit"]
    tables = {cycle: [[r[COLUMN_NAMES.index(c)] for c in fewer] for r in rows]
              for cycle, rows in ROWS.items()}
    records = read(write(tmp_path, fec_archive(tables, columns=fewer), "b.dump"))
    assert records == [{k: v for k, v in r.items() if k != "increased_limit"}
                       for r in baseline]


def test_archive_refusals(tmp_path: Path) -> None:
    blob = fec_archive(ROWS)
    name = f"the dump file {tmp_path}"
    supported = "this reader reads versions 1.14 to 1.16 (pg_dump 15 to 18) only"
    cases = {
        blob[:5] + bytes([1, 13, 0]) + blob[8:]:
            f"is a pg_dump archive of version 1.13; {supported}",
        blob[:5] + bytes([1, 17, 0]) + blob[8:]:
            f"is a pg_dump archive of version 1.17; {supported}",
        b"NOTPG" + blob[5:]: "is not a pg_dump custom-format archive (no PGDMP header)",
        blob[:10] + bytes([5]) + blob[11:]: "is a pg_dump archive in format 5, not custom (1)",
        fec_archive(ROWS, version=(1, 15, 0), compression="lz4"):
            "is compressed with lz4; this reader reads gzip and uncompressed archives only",
        fec_archive(ROWS, version=(1, 16, 0), compression="zstd"):
            "is compressed with zstd; this reader reads gzip and uncompressed archives only",
        fec_archive(ROWS, encoding="LATIN1"): "holds text in encoding LATIN1, not UTF8",
    }
    for i, (data, message) in enumerate(cases.items()):
        assert refusal(write(tmp_path, data, f"{i}.dump"), kind=DumpUnsupported) == \
            f"{name}/{i}.dump {message}"
    assert refusal(write(tmp_path, blob[:300], "cut.dump"), kind=DumpCorrupt) == \
        f"{name}/cut.dump ends inside its header or table of contents"


def test_a_table_without_data_is_refused(tmp_path: Path) -> None:
    source = write(tmp_path, fec_archive(ROWS))
    opened = open_dump(source)
    entries = tuple(dataclasses.replace(e, offset_state=3, offset=0) if e.tag == TABLE and
                    e.desc == "TABLE DATA" else e for e in opened.archive.entries)
    changed = dataclasses.replace(opened, archive=dataclasses.replace(opened.archive,
                                                                      entries=entries))
    with pytest.raises(DumpUnsupported) as caught:
        list(iter_dump_rows(source, 2026, WANTED, opened=changed))
    assert str(caught.value) == f"disclosure.{TABLE} in {source.name} has no data"


def test_committee_ids_are_checked() -> None:
    with pytest.raises(ValueError, match="'C123' is not an FEC committee id"):
        iter_dump_rows(FileSource("unused"), 2026, ["C123"])


def test_only_the_head_and_the_table_are_read(tmp_path: Path) -> None:
    blob = fec_archive(ROWS)
    source = write(tmp_path, blob)
    archive = read_archive(lambda s, e: blob[s:e])
    entry = archive.table_data("disclosure", TABLE)
    assert entry is not None
    rows = iter_dump_rows(source, 2026, WANTED)
    list(rows)
    assert rows.result is not None
    assert rows.result.table_bytes == archive.data_end(entry, len(blob)) - entry.offset
    assert source.bytes_downloaded == len(blob) + rows.result.table_bytes  # head read whole
