"""Reading the dump over real loopback HTTP: the redirect, ranged GETs pinned by ETag,
resuming after cuts and resets, 503s, the weekly replacement, and a local file."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from fec.dump import DumpProgress, iter_dump_rows, open_dump
from fec.dump_archive import read_archive
from fec.dump_errors import DumpDownloadError, DumpReplaced
from fec.dump_source import FileSource, HttpSource
from tests.fake_dump.archive import fec_archive
from tests.fake_dump.reference_rows import ROWS_2024, ROWS_2026, WANTED, make_row
from tests.fake_dump.schema import COLUMN_NAMES, child_table
from tests.fake_dump.server import FakeDumpServer
from tests.support import closed_port

TABLE = child_table(2026)
ROWS = {2024: [[r[c] for c in COLUMN_NAMES] for r in ROWS_2024],
        2026: [[r[c] for c in COLUMN_NAMES] for r in ROWS_2026]}
BLOB = fec_archive(ROWS, chunk_size=700)
ALLOWED_HEADERS = {"Host", "User-Agent", "Accept-Encoding", "Accept", "Connection", "Range",
                   "If-Match"}


def table_span(blob: bytes) -> tuple[int, int, list[int]]:
    """The table's block (start, end) and where each of its chunks starts, in the file."""
    archive = read_archive(lambda s, e: blob[s:e])
    entry = archive.table_data("disclosure", TABLE)
    assert entry is not None
    start, end = entry.offset, archive.data_end(entry, len(blob))
    pos, boundaries = start + 6, []
    while True:
        boundaries.append(pos)
        size = int.from_bytes(blob[pos + 1:pos + 5], "little")
        if size == 0:
            return start, end, boundaries
        pos += 5 + size


def source(server: FakeDumpServer, **options: Any) -> HttpSource:
    return HttpSource(server.url, backoff_factor=0.001, timeout=10, **options)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("base") / "sched_a.dump"
    path.write_bytes(BLOB)
    return list(iter_dump_rows(FileSource(path), 2026, WANTED))


def test_redirect_once_then_ranges_pinned_by_etag(baseline: list[dict[str, Any]]) -> None:
    with FakeDumpServer(BLOB) as server:
        http = source(server)
        rows = iter_dump_rows(http, 2026, WANTED)
        assert list(rows) == baseline
        log = server.log
    start, end, _ = table_span(BLOB)
    assert [(r.host, r.status, r.range) for r in log] == [
        ("fec", 302, "bytes=0-1048575"), ("s3", 206, "bytes=0-1048575"),
        ("s3", 206, f"bytes={start}-{end - 1}")]
    assert "If-Match" not in log[1].headers and log[2].headers["If-Match"] == server.etag
    assert all(set(r.headers) <= ALLOWED_HEADERS for r in log), [r.headers for r in log]
    assert all(r.headers["Accept-Encoding"] == "identity" for r in log)
    result = rows.result
    assert result is not None and result.complete
    assert (result.location, result.etag) == (server.s3_url, server.etag)
    assert result.last_modified == server.last_modified
    assert result.bytes_downloaded == len(BLOB) + end - start == http.bytes_downloaded


def test_resume_from_the_next_unread_byte_at_every_chunk_boundary(
        baseline: list[dict[str, Any]]) -> None:
    start, end, boundaries = table_span(BLOB)
    assert len(boundaries) > 5
    for cut in [start + 1, *boundaries, end - 1]:
        with FakeDumpServer(BLOB) as server:
            server.cut_next(len(BLOB), cut - start)  # the head whole, the table cut there
            http = source(server)
            assert list(iter_dump_rows(http, 2026, WANTED)) == baseline
            s3 = server.s3_requests()
        assert [(r.range, r.sent, r.fault) for r in s3[1:]] == [
            (f"bytes={start}-{end - 1}", cut - start, "cut"),
            (f"bytes={cut}-{end - 1}", end - cut, None)], cut
        assert http.bytes_downloaded == len(BLOB) + end - start


def test_a_tcp_reset_mid_block_is_survived(baseline: list[dict[str, Any]]) -> None:
    start, end, _ = table_span(BLOB)
    with FakeDumpServer(BLOB) as server:
        server.cut_next(len(BLOB), (end - start) // 2, 10, reset=True)
        assert list(iter_dump_rows(source(server), 2026, WANTED)) == baseline
        s3 = server.s3_requests()
    assert [r.fault for r in s3] == [None, "reset", "reset", None]
    assert all(r.headers["If-Match"] == s3[0].headers.get("If-Match", server.etag)
               for r in s3[1:])


def test_503_answers_are_retried_then_reported(baseline: list[dict[str, Any]]) -> None:
    with FakeDumpServer(BLOB) as server:
        server.fail_next(2, 503, retry_after="0")
        assert list(iter_dump_rows(source(server, max_retries=3), 2026, WANTED)) == baseline
        assert [r.status for r in server.s3_requests()] == [503, 503, 206, 206]
    with FakeDumpServer(BLOB) as server:
        server.fail_next(10, 503)
        with pytest.raises(DumpDownloadError) as caught:
            list(iter_dump_rows(source(server, max_retries=2), 2026, WANTED))
        assert str(caught.value) == (
            f"could not download the dump at {server.url}: the server answered HTTP 503 "
            "(SlowDown: Please reduce your request rate.)")
        assert len(server.s3_requests()) == 3


def test_giving_up_when_no_byte_arrives() -> None:
    with FakeDumpServer(BLOB) as server:
        server.cut_next(*[0] * 10)
        with pytest.raises(DumpDownloadError) as caught:
            open_dump(source(server, max_retries=3))
        assert str(caught.value) == (
            f"could not download the dump at {server.url}: the answer ended early "
            "(4 attempts in a row without progress)")
        assert len(server.s3_requests()) == 4


class RecordingStop(threading.Event):
    """A stop event that is never set and records the waits asked of it, without waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0.0))
        return False


def test_the_wait_between_stalls_doubles() -> None:
    stop = RecordingStop()
    with FakeDumpServer(BLOB) as server:
        server.cut_next(*[0] * 10)
        with pytest.raises(DumpDownloadError):
            open_dump(HttpSource(server.url, max_retries=3, backoff_factor=0.5, stop=stop))
    low = [0.5, 1.0, 2.0]  # factor x 2**(n-1), plus up to the factor of jitter
    assert all(w <= got <= w + 0.5 for w, got in zip(low, stop.waits, strict=True))


@pytest.mark.parametrize("honor_if_match", [True, False])
@pytest.mark.parametrize("newer_rows", [20, 400], ids=["shorter", "longer"])
def test_the_file_replaced_mid_read_is_never_spliced(honor_if_match: bool,
                                                     newer_rows: int) -> None:
    sub_id = COLUMN_NAMES.index("sub_id")
    more = [[f"4{i:018d}" if c == sub_id else v for c, v in enumerate(ROWS[2026][i % 150])]
            for i in range(newer_rows)]
    newer = fec_archive({**ROWS, 2026: more})
    start, end, _ = table_span(BLOB)
    with FakeDumpServer(BLOB) as server:
        server.honor_if_match = honor_if_match
        old = server.etag
        server.replace_after(2, newer)  # after the head and the first table request
        server.cut_next(len(BLOB), (end - start) // 2)
        rows = iter_dump_rows(source(server), 2026, WANTED)
        with pytest.raises(DumpReplaced) as caught:
            list(rows)
        assert str(caught.value) == (
            f"the dump at {server.url} was replaced while it was being read (ETag {old} "
            f"became {server.etag}); nothing from the two files is mixed: start the load "
            "again to read the new file")
        assert rows.result is not None and not rows.result.complete
        answered = server.s3_requests()[-1].status
    # S3 checks If-Match first; a server that ignores it is caught by its ETag or its size
    assert answered == 412 if honor_if_match else answered in (206, 416)
    assert len(newer) < len(BLOB) if newer_rows == 20 else len(newer) > len(BLOB)


def test_weekly_replacement_between_two_reads(baseline: list[dict[str, Any]]) -> None:
    extra = make_row("4110120260000000999", WANTED[0], "2026", contbr_nm="NEW, WEEK")
    newer = fec_archive({**ROWS, 2026: [*ROWS[2026], [extra[c] for c in COLUMN_NAMES]]})
    with FakeDumpServer(BLOB) as server:
        first = source(server)
        opened = open_dump(first)
        assert list(iter_dump_rows(first, 2026, WANTED, opened=opened)) == baseline
        old = server.etag
        server.replace(newer)
        second = source(server)
        records = list(iter_dump_rows(second, 2026, WANTED))
        assert records[-1]["contributor_name"] == "NEW, WEEK" and records[:-1] == baseline
        assert second.info is not None and second.info.etag == server.etag != old
        with pytest.raises(DumpReplaced):  # the first read goes on with another cycle
            list(iter_dump_rows(first, 2024, WANTED, opened=opened))


def test_http_errors_are_one_line() -> None:
    with FakeDumpServer(BLOB) as server:
        missing = server.url + ".gone"
        with pytest.raises(DumpDownloadError) as caught:
            open_dump(HttpSource(missing, backoff_factor=0.001))
        assert str(caught.value) == (
            f"could not download the dump at {missing}: the server answered HTTP 404 "
            "(an empty body)")
    closed = f"http://127.0.0.1:{closed_port()}/fec_fitem_sched_a.dump"
    with pytest.raises(DumpDownloadError, match=f"^could not download the dump at {closed}: "):
        open_dump(HttpSource(closed, max_retries=1, backoff_factor=0.001))


def test_progress_in_bytes_and_rows() -> None:
    seen: list[DumpProgress] = []
    pieces: list[int] = []
    with FakeDumpServer(BLOB) as server:
        http = source(server, on_bytes=pieces.append, piece_size=512)
        rows = iter_dump_rows(http, 2026, WANTED, on_progress=seen.append)
        kept = sum(1 for _ in rows)
    start, end, _ = table_span(BLOB)
    assert len(seen) > 3
    assert [p.bytes_read for p in seen] == sorted(p.bytes_read for p in seen)
    assert seen[-1] == DumpProgress(end - start, end - start, len(ROWS[2026]), kept)
    assert sum(pieces) == http.bytes_downloaded
    assert rows.result is not None and rows.result.rows_kept == kept


def test_a_local_file(tmp_path: Path, baseline: list[dict[str, Any]]) -> None:
    path = tmp_path / "fec_fitem_sched_a.dump"
    path.write_bytes(BLOB)
    rows = iter_dump_rows(FileSource(path), 2026, WANTED)
    assert list(rows) == baseline
    assert rows.result is not None and rows.result.location == str(path)
    assert rows.result.etag is None and rows.result.last_modified is not None
    rows = iter_dump_rows(FileSource(path), 2026, WANTED)
    next(rows)
    replacement = tmp_path / "new.dump"
    replacement.write_bytes(BLOB + b"")
    os.replace(replacement, path)  # a new download landed under the same name
    with pytest.raises(DumpReplaced):
        list(rows)
    gone = tmp_path / "missing.dump"
    with pytest.raises(DumpDownloadError) as caught:
        open_dump(FileSource(gone))
    assert str(caught.value) == f"cannot open the dump file {gone}: No such file or directory"
