"""Where the dump's bytes come from: the FEC's URL (ranged GETs) or a local file.

Both sources hand out byte ranges as iterators of pieces and remember what identifies the
file they started on, so that two files are never spliced together:

* HttpSource resolves the fec.gov link to its S3 object once (following the redirect),
  then asks that object for ranges with `If-Match: <ETag>`. A changed ETag (412, or a
  different ETag header) raises DumpReplaced. A network failure mid-range resumes from the
  next unread byte with the same ETag; 5xx answers are retried with backoff (urllib3, via
  fec.transport's retry policy, honouring Retry-After). Its session is its own: it never
  carries the OpenFEC key, which would otherwise follow a redirect to another host.
* FileSource reads a path and refuses to go on if the file's identity (inode, size,
  modification time) changes under it.
"""

from __future__ import annotations

import email.utils
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error

from fec.dump_errors import DumpCorrupt, DumpDownloadError, DumpReplaced
from fec.errors import Cancelled, one_line
from fec.transport import USER_AGENT, backoff_delay, make_retry, response_detail, root_cause

FEC_DUMP_URL = ("https://www.fec.gov/files/bulk-downloads/data-dump/schedules/"
                "fec_fitem_sched_a.dump")
PIECE = 256 << 10  # bytes handed out at a time
PAUSE_MAX = 30.0  # seconds before resuming a stalled download, at most (plus jitter)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_XML_ERROR = re.compile(r"<(?:Code|Message)>([^<]*)</(?:Code|Message)>")
# What a body that stops mid-way looks like through requests and urllib3 (OSError covers
# resets, timeouts and TLS failures on the socket).
_CUT = (requests.RequestException, Urllib3Error, OSError)

OnBytes = Callable[[int], None]


@dataclass(frozen=True)
class SourceInfo:
    location: str  # the URL answered from (after redirects), or the path
    size: int
    etag: str | None
    last_modified: datetime | None  # aware, UTC


class DumpSource(Protocol):
    name: str
    bytes_downloaded: int

    @property
    def info(self) -> SourceInfo | None: ...

    def read_range(self, start: int, end: int) -> Iterator[bytes]: ...


def read_at(source: DumpSource, start: int, end: int) -> bytes:
    """Bytes [start, end) of the source, fewer at the end of the file."""
    return b"".join(source.read_range(start, end))


class FileSource:
    def __init__(self, path: str | os.PathLike[str], *, on_bytes: OnBytes | None = None,
                 piece_size: int = PIECE) -> None:
        self.path = Path(path)
        self.name = f"the dump file {self.path}"
        self.on_bytes, self.piece_size = on_bytes, piece_size
        self.bytes_downloaded = 0  # read from disk, for a local file
        self._info: SourceInfo | None = None
        self._identity: tuple[int, ...] | None = None

    @property
    def info(self) -> SourceInfo | None:
        return self._info

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise DumpDownloadError(f"cannot open {self.name}: {exc.strerror}") from exc
        with handle:
            self._check_identity(os.fstat(handle.fileno()))
            handle.seek(start)
            left = max(0, min(end, self._info.size if self._info else end) - start)
            while left > 0:
                piece = handle.read(min(self.piece_size, left))
                if not piece:
                    raise DumpCorrupt(f"{self.name} ends before byte {end}")
                left -= len(piece)
                self.bytes_downloaded += len(piece)
                if self.on_bytes is not None:
                    self.on_bytes(len(piece))
                yield piece
            self._check_identity(os.stat(self.path))

    def _check_identity(self, st: os.stat_result) -> None:
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if self._identity is None:
            self._identity = identity
            modified = datetime.fromtimestamp(st.st_mtime, UTC)
            self._info = SourceInfo(str(self.path), st.st_size, None, modified)
        elif identity != self._identity:
            raise DumpReplaced(self.name, None, None)


class HttpSource:
    def __init__(self, url: str = FEC_DUMP_URL, *, timeout: float = 60.0,
                 max_retries: int = 5, backoff_factor: float = 1.0,
                 stop: threading.Event | None = None, on_bytes: OnBytes | None = None,
                 piece_size: int = PIECE) -> None:
        self.url = url
        self.name = f"the dump at {url}"
        self.timeout, self.max_retries = timeout, max_retries
        self.backoff_factor, self.stop = backoff_factor, stop
        self.on_bytes, self.piece_size = on_bytes, piece_size
        self.bytes_downloaded = 0
        self.requests = 0  # ranged GETs sent (urllib3's own retries not included)
        self._info: SourceInfo | None = None
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        adapter = HTTPAdapter(max_retries=make_retry(max_retries, backoff_factor, stop=stop))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    @property
    def info(self) -> SourceInfo | None:
        return self._info

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        pos, stalls = start, 0
        while pos < self._clamp(end):
            response = self._open(pos, self._clamp(end))
            got = 0
            try:
                for piece in _body(response, self.piece_size):
                    got += len(piece)
                    pos += len(piece)
                    self.bytes_downloaded += len(piece)
                    if self.on_bytes is not None:
                        self.on_bytes(len(piece))
                    yield piece
                reason = "the answer ended early"
            except _CUT as exc:
                reason = one_line(str(root_cause(exc))) or type(exc).__name__
            finally:
                response.close()
            if pos >= self._clamp(end):
                break
            stalls = 0 if got else stalls + 1
            if stalls > self.max_retries:
                raise DumpDownloadError(f"could not download {self.name}: {reason} "
                                        f"({stalls} attempts in a row without progress)")
            self._pause(stalls)

    def _clamp(self, end: int) -> int:
        return min(end, self._info.size) if self._info is not None else end

    def _pause(self, attempt: int) -> None:
        factor = self.backoff_factor
        delay = backoff_delay(max(0, attempt - 1), base=factor, cap=PAUSE_MAX, jitter=factor)
        if self.stop is not None:
            if self.stop.wait(delay):
                raise Cancelled("stopped while resuming the dump download")
        else:
            time.sleep(delay)

    def _open(self, start: int, end: int) -> requests.Response:
        headers = {"Range": f"bytes={start}-{end - 1}"}
        if self._info is not None and self._info.etag is not None:
            headers["If-Match"] = self._info.etag
        url = self._info.location if self._info is not None else self.url
        self.requests += 1
        try:
            response = self.session.get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DumpDownloadError(f"could not download {self.name}: "
                                    f"{one_line(str(root_cause(exc)))}") from exc
        try:
            self._check(response, start, end)
        except BaseException:
            response.close()
            raise
        return response

    def _check(self, response: requests.Response, start: int, end: int) -> None:
        status = response.status_code
        etag = response.headers.get("ETag")
        before = self._info.etag if self._info else None
        if status == 412:
            raise DumpReplaced(self.name, before, etag)
        unsatisfiable = re.fullmatch(r"bytes \*/(\d+)", response.headers.get("Content-Range", ""))
        if status == 416 and self._info and unsatisfiable and (
                int(unsatisfiable.group(1)) != self._info.size):
            raise DumpReplaced(self.name, before, etag)  # a server ignoring If-Match
        if status == 200:
            raise DumpDownloadError(f"could not download {self.name}: the server ignored the "
                                    "byte range (HTTP 200), and this reader needs ranges")
        if status != 206:
            raise DumpDownloadError(f"could not download {self.name}: the server answered "
                                    f"HTTP {status} ({_error_detail(response.content)})")
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match is None or match.group(3) == "*" or int(match.group(1)) != start:
            raise DumpDownloadError(f"could not download {self.name}: the server answered "
                                    f"another range ({response.headers.get('Content-Range')})")
        size = int(match.group(3))
        modified = _http_date(response.headers.get("Last-Modified"))
        if self._info is None:
            self._info = SourceInfo(response.url, size, etag, modified)
        elif (etag, size) != (self._info.etag, self._info.size) or (
                self._info.etag is None and modified != self._info.last_modified):
            raise DumpReplaced(self.name, self._info.etag, etag)
        if int(match.group(2)) != min(end, size) - 1:
            raise DumpDownloadError(f"could not download {self.name}: the server answered "
                                    f"another range ({response.headers.get('Content-Range')})")


def _body(response: requests.Response, piece_size: int) -> Iterator[bytes]:
    """The raw body in pieces. A body cut short ends quietly after its last byte instead of
    raising (urllib3 would drop the bytes it had buffered for the failing read): the
    caller sees how far it got and resumes from there."""
    raw = response.raw
    raw.enforce_content_length = False
    while piece := raw.read(piece_size, decode_content=False):
        yield piece


def _error_detail(content: bytes) -> str:
    """S3's XML error (<Code>, <Message>), or the start of whatever else came back."""
    if not content.strip():
        return "an empty body"
    text = content.decode("utf-8", errors="replace")
    found = [one_line(m) for m in _XML_ERROR.findall(text)]
    return ": ".join(found) if found else response_detail(content)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None
