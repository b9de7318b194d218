"""FakeOpenFec: a threaded loopback HTTP server that answers like api.open.fec.gov.

    with FakeOpenFec(generate_world(seed=1)) as fake:
        requests.get(fake.url + "/schedules/schedule_a/", headers={"X-Api-Key": "test-key"}, ...)

Every request is recorded in `fake.log`. Responses are HTTP/1.1 with Content-Length,
so keep-alive connections work and concurrent requests overlap (one thread each).

Tests drive the timing with `fake.hold(after=N)` (see gate.py) rather than with sleeps,
and `fake.reject_next()` / `echo_key_in_errors=True` make the error bodies a test needs.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import committees, schedule_a
from .control import control
from .gate import Gate
from .gateway import (
    GATEWAY_ERRORS,
    Fault,
    FaultInjector,
    FaultMode,
    Faults,
    RollingWindow,
    SlidingEstimate,
    api_key_of,
    check_key,
)
from .params import ApiError
from .world import World

_SCHEDULE_A = re.compile(r"/v1/schedules/schedule_a(?:/(?P<sub_id>[^/]+))?/?")
_COMMITTEES = re.compile(r"/v1/committees/?")
_CANDIDATE_COMMITTEES = re.compile(r"/v1/candidate/(?P<candidate>[^/]+)/committees/?")
_COMMITTEE_HISTORY = re.compile(
    r"/v1/committee/(?P<committee>[^/]+)/history(?:/(?P<cycle>[^/]+))?/?")
_CANDIDATE_HISTORY = re.compile(
    r"/v1/candidate/(?P<candidate>[^/]+)/committees/history(?:/(?P<cycle>[^/]+))?/?")
_LOOKUPS = (_COMMITTEES, _CANDIDATE_COMMITTEES, _COMMITTEE_HISTORY, _CANDIDATE_HISTORY)
JSON = "application/json"


@dataclass(frozen=True)
class Logged:
    path: str
    params: dict[str, list[str]]
    status: int  # 0 when the connection was reset instead of answered
    kind: str  # "schedule_a", "lookup", "legislators" or "other"
    fault: str | None = None
    api_key: str | None = None
    key_via: str | None = None  # "header", "query" or "basic"
    rows: int = 0  # result rows in the answer
    service_s: float = 0.0  # seconds from the request's arrival to its answer (API requests)
    next_index: str | None = None  # the answer's last_indexes.last_index (Schedule A pages)
    rate_remaining: int | None = None  # X-RateLimit-Remaining sent, when rate limited


def encode_success(body: Any) -> bytes:
    # ujson's defaults: compact, ASCII-only, forward slashes escaped, then a newline
    return (json.dumps(body, separators=(",", ":")).replace("/", "\\/") + "\n").encode()


def encode_answer(answer: schedule_a.Answer) -> bytes:
    """The page as encode_success would write it, with pre-encoded records spliced in."""
    if answer.results_json is None:
        return encode_success(answer.body)
    head = encode_success(answer.body).rstrip(b"\n")
    assert head.endswith(b'"results":[]}')
    records = ",".join(answer.results_json).encode()
    return head[: -len(b"]}")] + records + b"]}\n"


def encode_error(body: dict[str, Any]) -> bytes:
    # Flask's jsonify: sorted keys, compact, newline
    return (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()


def encode_gateway(code: str, message: str) -> bytes:
    return (json.dumps({"error": {"code": code, "message": message}}, indent=2) + "\n").encode()


def echo_key(body: bytes, key: str) -> bytes:
    """The error body with the key appended bare to its message, as a careless server might
    echo it: no `api_key=` or header name next to it for a pattern to catch."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.rstrip(b"\n") + f" (key {key})\n".encode()
    target = data.get("error", data) if isinstance(data, dict) else None
    if not isinstance(target, dict):
        return body
    target["message"] = f"{target.get('message')} (key {key})"
    return (json.dumps(data, sort_keys=True) + "\n").encode()


def kind_of(path: str) -> str:
    if _SCHEDULE_A.fullmatch(path):
        return "schedule_a"
    if any(pattern.fullmatch(path) for pattern in _LOOKUPS):
        return "lookup"
    return "other"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection is dropped after this
    # Headers and body go out in two writes; with Nagle's algorithm the body would wait for
    # the client's delayed ACK of the headers, ~40 ms per request that no real server adds.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "openresty"  # what API Umbrella answers as

    def do_GET(self) -> None:
        self.server.fake.handle(self, "GET")  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self.server.fake.handle(self, "POST")  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeOpenFec) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # clients hang up; that is their business
        super().handle_error(request, client_address)


class FakeOpenFec:
    """`rate_limit` (limit, seconds) is enforced per key as an exact rolling window, or with
    `rate_model="sliding"` as api.data.gov's gateway does it (a sliding estimate whose
    Remaining can rise), on `rate_clock` if given. `schedule_a_latency` slows Schedule A
    pages only (deep pages of the real API take tens of seconds)."""

    def __init__(self, world: World, *, api_keys: Sequence[str] = ("test-key",),
                 disabled_keys: Sequence[str] = (), rate_limit: tuple[int, float] | None = None,
                 rate_model: str = "rolling", send_retry_after: bool = True,
                 latency: float = 0.0, per_row_latency: float = 0.0,
                 schedule_a_latency: float = 0.0, faults: Faults | None = None, seed: int = 0,
                 exact_count_limit: int = schedule_a.EXACT_COUNT_LIMIT,
                 host: str = "127.0.0.1", port: int = 0, echo_key_in_errors: bool = False,
                 rate_clock: Callable[[], float] | None = None) -> None:
        self.world = world
        self.api_keys = frozenset(api_keys)
        self.disabled_keys = frozenset(disabled_keys)
        self.rate_limit = rate_limit
        self.send_retry_after = send_retry_after
        self.latency = latency
        self.per_row_latency = per_row_latency
        self.exact_count_limit = exact_count_limit  # above it, `count` is an estimate
        self.schedule_a_latency = schedule_a_latency
        self.echo_key_in_errors = echo_key_in_errors
        if rate_model not in ("rolling", "sliding"):
            raise ValueError(f"rate_model must be 'rolling' or 'sliding', not {rate_model!r}")
        limiter = SlidingEstimate if rate_model == "sliding" else RollingWindow
        clock = {"clock": rate_clock} if rate_clock is not None else {}
        self._window = limiter(rate_limit[0], rate_limit[1], **clock) if rate_limit else None
        self._faults = FaultInjector(faults, seed)
        self._gate: Gate | None = None
        self._rejections: deque[tuple[str | None, int, str]] = deque()
        self._rejections_lock = threading.Lock()
        self._log: list[Logged] = []
        self._log_lock = threading.Lock()
        self._address = (host, port)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeOpenFec:
        if self._httpd is None:
            self._httpd = _Server(self._address, self)
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="fake-openfec", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._gate is not None:
            self._gate.release()  # held requests must not outlive the server
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join()
            self._httpd = self._thread = None

    def __enter__(self) -> FakeOpenFec:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake is not running: use it in a with block or call start()")
        return int(self._httpd.server_address[1])

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    @property
    def legislators_url(self) -> str:
        return f"{self.root}/legislators-current.json"

    # ---- what happened -------------------------------------------------------------
    @property
    def log(self) -> list[Logged]:
        with self._log_lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def busiest_window(self, key: str) -> int:
        """The most requests of `key` accepted within any one window of the rate limit."""
        return self._window.busiest(key) if self._window is not None else 0

    def count(self, kind: str | None = None, status: int | None = None) -> int:
        return sum(1 for e in self.log
                   if (kind is None or e.kind == kind) and (status is None or e.status == status))

    def stats(self) -> dict[str, Any]:
        entries = self.log
        by_kind_status: dict[str, Counter[str]] = {}
        for e in entries:
            by_kind_status.setdefault(e.kind, Counter())[str(e.status)] += 1
        return {
            "total": len(entries),
            "by_kind": dict(Counter(e.kind for e in entries)),
            "by_status": dict(Counter(str(e.status) for e in entries)),
            "by_kind_status": {k: dict(v) for k, v in by_kind_status.items()},
            "faults": dict(Counter(e.fault for e in entries if e.fault)),
        }

    def _record(self, entry: Logged) -> None:
        with self._log_lock:
            self._log.append(entry)

    # ---- faults ----------------------------------------------------------------------
    def set_faults(self, faults: Faults | None = None, **changes: Any) -> None:
        """Replace the random fault rates: set_faults(Faults(...)) or set_faults(p_5xx=0.1)."""
        self._faults.configure(faults if faults is not None else Faults(**changes))

    def fail_next(self, n: int = 1, kind: str | None = None, mode: FaultMode = "5xx",
                  status: int | None = None) -> None:
        """The next n API requests (of `kind`, or any) fail: 5xx (JSON, or the router's HTML
        page for 502), 5xx_html, reset, truncated or html."""
        self._faults.fail_next(n, kind, mode, status)

    # ---- timing and rejections -------------------------------------------------------
    def hold(self, after: int = 0, kind: str | None = "schedule_a") -> Gate:
        """From now on, let `after` API requests of `kind` (None: any) through, then hold the
        rest until the returned gate is released. Replaces (and releases) an earlier gate."""
        previous, self._gate = self._gate, Gate(after, kind)
        if previous is not None:
            previous.release()
        return self._gate

    @property
    def gate(self) -> Gate | None:
        return self._gate

    def reject_next(self, n: int = 1, kind: str | None = None, status: int = 422,
                    message: str = "Invalid request") -> None:
        """The next n API requests (of `kind`, or any) get OpenFEC's error body with this
        status and message instead of their answer; a client must not retry them."""
        if not 400 <= status < 500:
            raise ValueError(f"a rejection is a 4xx status, not {status}")
        with self._rejections_lock:
            self._rejections.extend((kind, status, message) for _ in range(n))

    def _rejection(self, kind: str) -> tuple[int, bytes] | None:
        with self._rejections_lock:
            for index, (wanted, status, message) in enumerate(self._rejections):
                if wanted is None or wanted == kind:
                    del self._rejections[index]
                    return status, encode_error({"message": message, "status": status})
        return None

    # ---- request handling ----------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(h.path)
        params = parse_qs(split.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        path = split.path
        h.echo_key = None  # type: ignore[attr-defined]  # set per API request by _api
        if path.startswith("/_control/"):
            status, body = control(self, method, path, params)
            data = encode_error(body) if status >= 400 else encode_success(body)
            self._send(h, status, data, JSON)
        elif method != "GET":
            self._send(h, 405, encode_error({"message": "Method Not Allowed", "status": 405}), JSON)
        elif path == "/legislators-current.json":
            self._record(Logged(path, params, 200, "legislators"))
            self._send(h, 200, json.dumps(self.world.legislators_json()).encode(), JSON)
        elif path == "/v1" or path.startswith("/v1/"):
            self._api(h, path, params)
        else:
            self._record(Logged(path, params, 404, "other"))
            self._send(h, 404, encode_error({"message": "Not found", "status": 404}), JSON)

    def _api(self, h: BaseHTTPRequestHandler, path: str, params: dict[str, list[str]]) -> None:
        kind = kind_of(path)
        gate = self._gate
        if gate is not None:
            gate.enter(kind)
        arrived = time.monotonic()
        key, via = api_key_of(h.headers, params)
        remaining: list[int] = []

        def log(status: int, fault: str | None = None, rows: int = 0,
                next_index: str | None = None) -> None:
            self._record(Logged(path, params, status, kind, fault, key, via, rows,
                                time.monotonic() - arrived, next_index,
                                remaining[0] if remaining else None))

        h.echo_key = key if self.echo_key_in_errors else None  # type: ignore[attr-defined]

        refused = check_key(key, self.api_keys, self.disabled_keys)
        if refused:
            status, message = GATEWAY_ERRORS[refused]
            log(status)
            self._send(h, status, encode_gateway(refused, message), JSON)
            return
        headers: dict[str, str] = {}
        if self._window is not None and key:
            accepted, left, wait = self._window.hit(key)
            remaining.append(left)
            headers = {"X-RateLimit-Limit": str(self._window.limit),
                       "X-RateLimit-Remaining": str(left)}
            if not accepted:
                if self.send_retry_after:
                    headers["Retry-After"] = str(RollingWindow.retry_after(wait))
                log(429)
                over = encode_gateway("OVER_RATE_LIMIT", GATEWAY_ERRORS["OVER_RATE_LIMIT"][1])
                self._send(h, 429, over, JSON, headers)
                return
        rejected = self._rejection(kind)
        if rejected is not None:
            log(rejected[0], "rejected")
            self._send(h, rejected[0], rejected[1], JSON, headers)
            return
        fault = self._faults.draw(kind)
        if self.latency:
            time.sleep(self.latency)
        if self.schedule_a_latency and kind == "schedule_a":
            time.sleep(self.schedule_a_latency)
        if fault is not None and fault.mode != "truncated":
            self._fail(h, fault, headers, log)
            return
        status, body, rows, next_index = self._route(path, params)
        if rows and self.per_row_latency:
            time.sleep(self.per_row_latency * rows)
        log(status, fault.mode if fault else None, rows, next_index)
        self._send(h, status, body, JSON, headers, truncate=fault is not None)

    def _fail(self, h: BaseHTTPRequestHandler, fault: Fault, headers: dict[str, str],
              log: Callable[..., None]) -> None:
        if fault.mode == "reset":
            log(0, "reset")
            # SO_LINGER 0 turns close() into a TCP RST: the client sees "connection reset"
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            h.connection.close()
            return
        body, content_type = fault.body()
        log(fault.status, fault.mode)
        self._send(h, fault.status, body, content_type, headers)

    def _route(self, path: str,
               params: dict[str, list[str]]) -> tuple[int, bytes, int, str | None]:
        try:
            match = _SCHEDULE_A.fullmatch(path)
            if match:
                sub_id = match.group("sub_id")
                if sub_id == "efile":
                    raise ApiError("The e-filing view is not simulated", 404)
                answer = schedule_a.search(self.world, params, sub_id,
                                           exact_limit=self.exact_count_limit)
                return 200, encode_answer(answer), answer.rows, answer.next_index
            if _COMMITTEES.fullmatch(path):
                found = committees.committee_list(self.world, params)
                return 200, encode_success(found), 0, None
            match = _CANDIDATE_COMMITTEES.fullmatch(path)
            if match:
                found = committees.candidate_committees(self.world, match["candidate"], params)
                return 200, encode_success(found), 0, None
            found = self._history(path, params)
            if found is not None:
                return 200, encode_success(found), 0, None
            raise ApiError("Not found", 404)
        except ApiError as exc:
            return exc.status, encode_error(exc.body()), 0, None
        except ValueError:
            error = {"message": "Internal Server Error", "status": 500}
            return 500, encode_error(error), 0, None

    def _history(self, path: str, params: dict[str, list[str]]) -> dict[str, Any] | None:
        for pattern, view in ((_COMMITTEE_HISTORY, committees.committee_history),
                              (_CANDIDATE_HISTORY, committees.candidate_history)):
            match = pattern.fullmatch(path)
            if match is None:
                continue
            cycle = match["cycle"]
            if cycle is not None and not cycle.isdigit():
                raise ApiError("Not found", 404)  # Flask's <int:cycle> does not match
            return view(self.world, match[1], int(cycle) if cycle else None, params)
        return None

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None, *, truncate: bool = False) -> None:
        """Always with Content-Length; `truncate` sends half the body and hangs up."""
        echo = getattr(h, "echo_key", None)
        if echo and status >= 400:
            body = echo_key(body, echo)
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(body[: len(body) // 2] if truncate else body)
            if truncate:
                h.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
