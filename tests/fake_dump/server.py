"""FakeDumpServer: the FEC's dump link and the S3 object behind it, on loopback HTTP.

Two servers, like the real thing: "fec" answers the published path with a 302 to "s3",
which serves the file with byte ranges (206, Content-Range, Accept-Ranges), an ETag and
Last-Modified, and honours If-Match (412 when the file has changed). Faults for tests:

    server.cut_next(100, 4096)   # the next two S3 answers stop after that many body bytes
                                 # (the connection closes; reset=True sends a TCP reset,
                                 # which may also drop bytes already sent)
    server.fail_next(2, 503)     # the next two S3 requests get 503 SlowDown
    server.replace(new_bytes)    # the weekly replacement: new content, ETag, Last-Modified
    server.replace_after(3, b)   # ... once 3 more S3 requests have been answered (calls
                                 # queue up: each counts from when the one before it fired)
    server.hold_next(5000, skip=1)  # the second S3 answer from now pauses after 5000 body
                                 # bytes: server.held is set, and it goes on at release()

Every request is logged with its headers (server.log), so tests can count requests and
check what was sent where.
"""

from __future__ import annotations

import hashlib
import re
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

PATH = "/files/bulk-downloads/data-dump/schedules/fec_fitem_sched_a.dump"
S3_PATH = "/cg-fec-bulk/bulk-downloads/data-dump/schedules/fec_fitem_sched_a.dump"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_SLOW_DOWN = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
              b"<Message>Please reduce your request rate.</Message></Error>")


@dataclass(frozen=True)
class DumpRequest:
    host: str  # "fec" or "s3"
    path: str
    headers: dict[str, str]
    status: int  # 0 when the answer was cut by a reset
    range: str | None
    sent: int  # body bytes written
    fault: str | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def do_GET(self) -> None:
        self.server.fake.handle(self, self.server.role)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeDumpServer, role: str) -> None:
        self.fake, self.role = fake, role
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on purpose in these tests


class FakeDumpServer:
    def __init__(self, content: bytes, *, last_modified: datetime | None = None,
                 piece: int = 16384) -> None:
        self.piece = piece
        self.honor_if_match = True  # False: a server that ignores If-Match (it still says ETag)
        self._lock = threading.Lock()
        self._log: list[DumpRequest] = []
        self._cuts: deque[tuple[int, bool]] = deque()
        self._failures: deque[tuple[int, str | None]] = deque()
        self._pending: deque[list[Any]] = deque()  # [S3 answers left, content]
        self._hold: tuple[int, int] | None = None  # (S3 answers to let pass first, bytes)
        self.held, self._release = threading.Event(), threading.Event()
        self._set(content, last_modified or datetime(2026, 11, 1, 22, 5, tzinfo=UTC))
        self._servers = {role: _Server(self, role) for role in ("fec", "s3")}
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                                          name=f"fake-dump-{role}", daemon=True)
                         for role, s in self._servers.items()]

    # ---- lifecycle and addresses -----------------------------------------------------
    def __enter__(self) -> FakeDumpServer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()

    def _root(self, role: str) -> str:
        return f"http://127.0.0.1:{self._servers[role].server_address[1]}"

    @property
    def url(self) -> str:
        """The published link (it redirects to the S3 object)."""
        return self._root("fec") + PATH

    @property
    def s3_url(self) -> str:
        return self._root("s3") + S3_PATH

    # ---- the file and its faults -------------------------------------------------------
    def _set(self, content: bytes, modified: datetime) -> None:
        self.content = content
        self.etag = f'"{hashlib.md5(content).hexdigest()}-{len(content) % 997 + 1}"'
        self.last_modified = modified

    def replace(self, content: bytes) -> None:
        with self._lock:
            self._set(content, self.last_modified + timedelta(days=7))

    def replace_after(self, requests: int, content: bytes) -> None:
        with self._lock:
            self._pending.append([requests, content])

    def cut_next(self, *sent: int, reset: bool = False) -> None:
        with self._lock:
            self._cuts.extend((n, reset) for n in sent)

    def hold_next(self, after: int, skip: int = 0) -> None:
        with self._lock:
            self._hold = (skip, after)
            self.held.clear()
            self._release.clear()

    def release(self) -> None:
        self._release.set()

    def fail_next(self, n: int = 1, status: int = 503, retry_after: str | None = None) -> None:
        with self._lock:
            self._failures.extend([(status, retry_after)] * n)

    @property
    def log(self) -> list[DumpRequest]:
        with self._lock:
            return list(self._log)

    def s3_requests(self) -> list[DumpRequest]:
        return [r for r in self.log if r.host == "s3"]

    # ---- serving -----------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, role: str) -> None:
        headers = dict(h.headers.items())
        path = h.path.split("?")[0]
        if role == "fec":
            status = 302 if path == PATH else 404
            self._record(DumpRequest(role, h.path, headers, status, h.headers.get("Range"), 0))
            extra = {"Location": self.s3_url} if status == 302 else {}
            self._answer(h, status, b"", extra)
            return
        with self._lock:
            content, etag, modified = self.content, self.etag, self.last_modified
            failure = self._failures.popleft() if self._failures else None
            cut = self._cuts.popleft() if self._cuts and failure is None else None
            self._count_towards_replacement()
            hold = self._take_hold() if failure is None else None
        wanted = h.headers.get("Range")
        if failure is not None:
            status, retry_after = failure
            self._record(DumpRequest(role, h.path, headers, status, wanted, 0, f"{status}"))
            self._answer(h, status, _SLOW_DOWN, {"Retry-After": retry_after} if retry_after
                         else {})
            return
        if_match = h.headers.get("If-Match") if self.honor_if_match else None
        status, body, extra = self._select(path, wanted, if_match, content, etag)
        extra.update({"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True),
                      "Accept-Ranges": "bytes"})
        # Logged before answering, so that a test reading the log right after its client
        # got the answer finds it there.
        sent = len(body) if cut is None else min(cut[0], len(body))
        fault = None if sent == len(body) else "reset" if cut and cut[1] else "cut"
        self._record(DumpRequest(role, h.path, headers, 0 if fault else status, wanted, sent,
                                 fault))
        self._answer(h, status, body, extra, cut, hold)

    def _take_hold(self) -> int | None:
        if self._hold is None:
            return None
        skip, after = self._hold
        if skip:
            self._hold = (skip - 1, after)
            return None
        self._hold = None
        return after

    def _count_towards_replacement(self) -> None:
        if self._pending:
            self._pending[0][0] -= 1
            if self._pending[0][0] <= 0:
                self._set(self._pending.popleft()[1], self.last_modified + timedelta(days=7))

    @staticmethod
    def _select(path: str, wanted: str | None, if_match: str | None, content: bytes,
                etag: str) -> tuple[int, bytes, dict[str, str]]:
        if path != S3_PATH:
            return 404, b"<Error><Code>NoSuchKey</Code></Error>", {}
        if if_match is not None and if_match != etag:
            return 412, b"<Error><Code>PreconditionFailed</Code></Error>", {}
        if wanted is None:
            return 200, content, {}
        match = _RANGE.fullmatch(wanted.strip())
        size = len(content)
        if match is None or int(match.group(1)) >= size:
            return 416, b"<Error><Code>InvalidRange</Code></Error>", {
                "Content-Range": f"bytes */{size}"}
        first = int(match.group(1))
        last = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        return 206, content[first:last + 1], {"Content-Range": f"bytes {first}-{last}/{size}"}

    def _answer(self, h: BaseHTTPRequestHandler, status: int, body: bytes,
                headers: dict[str, str], cut: tuple[int, bool] | None = None,
                hold: int | None = None) -> None:
        sent = 0
        try:
            h.send_response(status)
            h.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                h.send_header(name, value)
            h.end_headers()
            limit = len(body) if cut is None else min(cut[0], len(body))
            while sent < limit:
                stop = min(limit, sent + self.piece, hold if hold and hold > sent else limit)
                piece = body[sent:stop]
                h.wfile.write(piece)
                sent += len(piece)
                if hold is not None and sent >= hold:
                    h.wfile.flush()
                    hold = None
                    self.held.set()
                    self._release.wait(timeout=60)
            if limit < len(body):
                h.close_connection = True  # fewer bytes than Content-Length, then FIN
                if cut is not None and cut[1]:
                    # SO_LINGER 0 turns close() into a TCP RST
                    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                            struct.pack("ii", 1, 0))
                    h.connection.close()
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    def _record(self, entry: DumpRequest) -> None:
        with self._lock:
            self._log.append(entry)
