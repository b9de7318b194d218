"""The reader and the fake writer against archives made by a real pg_dump 15.

The archives in tests/fake_dump/reference/ were made by make_reference.py from the rows of
reference_rows.py; each `.list` beside them is `pg_restore -l`, PostgreSQL's own reading.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fec.dump import iter_dump_rows
from fec.dump_archive import OFFSET_NOT_SET, OFFSET_SET, Archive, iter_block_data, read_archive
from fec.dump_copy import decode_row, iter_copy_lines, parse_copy_columns
from fec.dump_errors import DumpUnsupported
from fec.dump_source import FileSource
from tests.fake_dump.reference_rows import OTHER, TABLE_ROWS, WANTED
from tests.fake_dump.schema import COLUMN_NAMES, PARENT, child_table
from tests.fake_dump.writer import copy_escape, write_archive

REFERENCE = Path(__file__).resolve().parent / "fake_dump" / "reference"
GZIP, PLAIN, PIPED = (REFERENCE / f"pg15_sched_a{s}.dump" for s in ("", "_z0", "_piped"))


def load(path: Path) -> tuple[bytes, Archive]:
    blob = path.read_bytes()
    return blob, read_archive(lambda start, end: blob[start:end], path.name)


def table_text(blob: bytes, archive: Archive, table: str) -> bytes:
    entry = archive.table_data("disclosure", table)
    assert entry is not None
    end = archive.data_end(entry, len(blob))
    return b"".join(iter_block_data([blob[entry.offset:end]], archive.header, entry,
                                    end - entry.offset))


def listing(path: Path) -> dict[str, str]:
    text = path.with_suffix(".list").read_text()
    fields = dict(re.findall(r"^;\s+([^:\n]+?): (.*)$", text, re.MULTILINE))
    fields["created"] = re.search(r"Archive created at (.*) UTC", text).group(1)  # type: ignore[union-attr]
    return fields


@pytest.mark.parametrize("path", [GZIP, PLAIN, PIPED], ids=["gzip", "z0", "piped"])
def test_header_and_toc_match_pg_restore(path: Path) -> None:
    _, archive = load(path)
    header, expected = archive.header, listing(path)
    assert header.created.strftime("%Y-%m-%d %H:%M:%S") == expected["created"]
    assert header.database == expected["dbname"]
    assert len(archive.entries) == int(expected["TOC Entries"])
    assert str(header.compression_code) == expected["Compression"]
    assert "{}.{}-{}".format(*header.version) == expected["Dump Version"]
    assert f"{header.int_size} bytes" == expected["Integer"]
    assert f"{header.off_size} bytes" == expected["Offset"]
    assert header.server_version == expected["Dumped from database version"]
    assert header.dump_version == expected["Dumped by pg_dump version"]
    # every entry pg_restore lists: "id; tableoid oid DESC namespace tag owner"
    listed = re.findall(r"^(\d+); (\d+) (\d+) (.+)$", path.with_suffix(".list").read_text(),
                        re.MULTILINE)
    by_id = {e.dump_id: e for e in archive.entries}
    assert listed
    for dump_id, table_oid, oid, rest in listed:
        entry = by_id[int(dump_id)]
        assert (entry.table_oid, entry.oid) == (table_oid, oid)
        assert rest == f"{entry.desc} {entry.namespace or '-'} {entry.tag} {entry.owner}"


@pytest.mark.parametrize("path", [GZIP, PLAIN], ids=["gzip", "z0"])
def test_rows_read_back_exactly_as_inserted(path: Path) -> None:
    blob, archive = load(path)
    for table, rows in TABLE_ROWS.items():
        entry = archive.table_data("disclosure", table)
        assert entry is not None
        columns = parse_copy_columns(entry.copy_stmt, table)
        assert columns == COLUMN_NAMES
        text = table_text(blob, archive, table)
        lines = [line for batch in iter_copy_lines([text], table) for line in batch]
        decoded = [decode_row(line, len(columns), table) for line in lines]
        assert decoded == [[row[c] for c in columns] for row in rows]
    assert table_text(blob, archive, PARENT) == b"\\.\n\n\n"  # the parent holds no rows


def test_fake_escaping_writes_what_postgresql_writes() -> None:
    blob, archive = load(GZIP)
    text = table_text(blob, archive, child_table(2026))
    expected_lines = text[:-len(b"\\.\n\n\n")].decode().split("\n")[:-1]
    rows = TABLE_ROWS[child_table(2026)]
    assert ["\t".join(copy_escape(row[c]) for c in COLUMN_NAMES) for row in rows] == \
        expected_lines


@pytest.mark.parametrize("path", [GZIP, PLAIN], ids=["gzip", "z0"])
def test_fake_writer_rebuilds_the_archive_byte_for_byte(path: Path) -> None:
    blob, archive = load(path)
    data = {e.dump_id: table_text(blob, archive, e.tag or "") for e in archive.entries
            if e.desc == "TABLE DATA"}
    chunked = [e for e in archive.entries if e.desc == "TABLE DATA"]
    assert chunked and all(e.offset_state == OFFSET_SET for e in chunked)
    assert write_archive(archive.header, archive.entries, data) == blob


def test_fake_writer_rebuilds_a_piped_archive_without_offsets() -> None:
    blob, archive = load(GZIP)
    piped_blob, piped = load(PIPED)
    assert all(e.offset_state == OFFSET_NOT_SET for e in piped.entries if e.had_dumper)
    data = {e.dump_id: table_text(blob, archive, e.tag or "") for e in archive.entries
            if e.desc == "TABLE DATA"}
    assert write_archive(piped.header, piped.entries, data, set_offsets=False) == piped_blob


def test_gzip_table_spans_several_chunks_of_4096_bytes() -> None:
    blob, archive = load(GZIP)
    entry = archive.table_data("disclosure", child_table(2026))
    assert entry is not None
    pos, sizes = entry.offset + 6, []
    while (size := int.from_bytes(blob[pos + 1:pos + 5], "little")) != 0:
        sizes.append(size)
        pos += 5 + size
    assert len(sizes) >= 2 and set(sizes[:-1]) == {4096}


@pytest.mark.parametrize("path", [GZIP, PLAIN], ids=["gzip", "z0"])
def test_records_of_the_reference_archive(path: Path) -> None:
    rows = iter_dump_rows(FileSource(path), 2026, WANTED)
    records = {r["sub_id"]: r for r in rows}
    expected = {row["sub_id"] for row in TABLE_ROWS[child_table(2026)]
                if row["cmte_id"] in WANTED and row["two_year_transaction_period"] == "2026"}
    assert set(records) == expected
    assert "1051720250000000007" not in records  # odd period: the API never serves it
    assert not any(r["committee_id"] == OTHER for r in records.values())
    tab = records["4051720250000000002"]
    assert tab["contributor_name"] == "SMITH,\tJOHN"
    assert tab["memo_text"] == "LINE ONE\nLINE TWO"
    assert tab["contributor_street_2"] == ""
    assert tab["contribution_receipt_amount"] == -5.0
    assert tab["is_individual"] is False
    assert tab["load_date"] == "2025-05-17T04:08:30"
    odd = records["4051720250000000003"]
    assert (odd["contributor_employer"], odd["contributor_occupation"]) == ("C:\\PATH\\TO", "\\N")
    assert (odd["candidate_name"], odd["contributor_city"]) == ("\\.", "ENDS WITH\\")
    assert odd["contribution_receipt_date"] is None and odd["is_individual"] is None
    assert odd["load_date"] == "2025-01-01T00:00:00.000001"
    assert odd["memoed_subtotal"] is True and odd["memo_code"] == "X"
    spaces = records["4051720250000000004"]
    assert (spaces["contributor_first_name"], spaces["contributor_middle_name"]) == \
        ("  PADDED  ", "   ")
    assert (spaces["memo_text"], spaces["receipt_type_full"]) == ("CR\rONLY", "CRLF\r\nEND")
    assert spaces["contribution_receipt_amount"] == 1234567.89
    assert spaces["contribution_receipt_date"] == "2025-04-02"
    assert spaces["load_date"] == "2026-03-01T23:59:59.999999"
    wide = records["4051720250000000005"]
    assert (wide["contributor_city"], wide["contributor_employer"]) == ("北京市", "😀 DONOR")
    assert wide["memo_text"] == "CTRL\b\f\v\x01END"
    assert wide["contribution_receipt_amount"] is None and wide["contributor_aggregate_ytd"] is None
    assert wide["load_date"] == "2025-12-31T12:00:00.500000"
    plain = records["4051720250000000001"]
    assert plain["load_date"] == "2025-05-17T04:08:30.890000"
    assert (plain["contribution_receipt_amount"], plain["contributor_aggregate_ytd"]) == \
        (40.0, 250.0)
    assert (plain["report_year"], plain["file_number"], plain["link_id"]) == \
        (2025, 1801234, 4051720251234567890)
    assert (plain["sub_id"], plain["original_sub_id"]) == ("4051720250000000001", None)
    assert records["4051720250000000006"]["original_sub_id"] == "4051720250000000001"
    assert records["4051720250000000006"]["memo_text"] == "TAB\\tNOT A TAB"
    assert "committee" not in plain and "contributor" not in plain  # joined by the API
    assert rows.result is not None and rows.result.complete
    assert rows.result.rows_read == len(TABLE_ROWS[child_table(2026)])
    assert rows.result.snapshot_time.strftime("%Y-%m-%d %H:%M:%S") == listing(path)["created"]


def test_an_archive_written_to_a_pipe_is_refused() -> None:
    rows = iter_dump_rows(FileSource(PIPED), 2026, WANTED)
    with pytest.raises(DumpUnsupported) as caught:
        next(rows)
    assert str(caught.value) == (
        f"the dump file {PIPED} has no data offsets (pg_dump wrote it to a pipe), so one "
        "table cannot be read without reading everything before it")
