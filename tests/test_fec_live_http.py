"""The client over real sockets on 127.0.0.1, so urllib3's own retry path runs (responses
replays status retries itself and never exercises connection handling or Retry.sleep)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fec.budget import RateBudget
from fec.client import FecClient
from fec.errors import RequestLimitReached, TransientError

KEY = "live-key-0123456789abcdef"
Reply = tuple[int, bytes, dict[str, str]]


class FakeApi(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handlers, so no socket outlives the test

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.replies: list[Reply] = []
        self.seen: list[tuple[str, str | None]] = []
        self.answer = threading.Event()  # cleared: handlers hang until the test ends
        self.answer.set()
        self.cut_off = False


class Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("X-Api-Key")))
        self.server.answer.wait(30)
        status, body, headers = (
            self.server.replies.pop(0) if self.server.replies else (200, b'{"ok": true}', {})
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) + (50 if self.server.cut_off else 0)))
        self.end_headers()
        self.wfile.write(body)
        if self.server.cut_off:
            self.close_connection = True


@pytest.fixture
def server() -> Iterator[FakeApi]:
    api = FakeApi()
    thread = threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield api
    api.answer.set()
    api.shutdown()
    thread.join()
    api.server_close()


def make_client(server: FakeApi, **options: Any) -> FecClient:
    budget = RateBudget(1000, max_requests=options.pop("max_requests", None))
    base = f"http://127.0.0.1:{server.server_port}/v1"
    return FecClient(KEY, base, budget=budget, backoff_factor=0.001, **options)


def test_5xx_retried_by_urllib3_then_success(server: FakeApi) -> None:
    server.replies = [(503, b'{"message": "busy"}', {"Retry-After": "0"}), (502, b"<html>", {})]
    client = make_client(server, max_retries=3)
    try:
        assert client.get_json("/x/", {"q": "1"}, kind="lookup") == {"ok": True}
    finally:
        client.close()
    assert server.seen == [("/v1/x/?q=1", KEY)] * 3
    assert (client.stats.total, client.stats.retries, client.budget.requests_made) == (3, 2, 3)


def test_a_retry_after_no_date_can_hold_is_ignored_not_a_crash(server: FakeApi) -> None:
    server.replies = [(503, b"{}", {"Retry-After": "Mon, 01 Jan 10000 00:00:00 GMT"})]
    client = make_client(server, max_retries=1)
    try:
        assert client.get_json("/x/", {}, kind="lookup") == {"ok": True}
    finally:
        client.close()
    assert len(server.seen) == 2


def test_a_refused_retry_ends_the_request_cleanly(server: FakeApi) -> None:
    server.replies = [(503, b"{}", {})] * 5
    client = make_client(server, max_retries=4, max_requests=2)
    try:
        with pytest.raises(RequestLimitReached):
            client.get_json("/x/", {}, kind="lookup")
    finally:
        client.close()
    assert len(server.seen) == 2


def test_a_body_cut_off_mid_way_is_retried_then_transient(server: FakeApi) -> None:
    server.cut_off = True
    server.replies = [(200, json.dumps({"results": [1, 2]}).encode(), {})] * 2
    client = make_client(server, max_retries=1)
    try:
        with pytest.raises(TransientError) as info:
            client.get_json("/x/", {}, kind="schedule_a")
    finally:
        client.close()
    assert str(info.value) == (
        "The response to /x/ was cut off (ChunkedEncodingError) (2 times in a row)."
    )
    assert client.stats.failures_in_a_row == 1


def test_a_read_timeout_is_retried_then_transient(server: FakeApi) -> None:
    server.answer.clear()  # no answer ever comes: only the read timeout can end a request
    client = make_client(server, max_retries=1, timeout=(2.0, 0.05))
    try:
        with pytest.raises(TransientError) as info:
            client.get_json("/x/", {}, kind="schedule_a")
    finally:
        client.close()
    port = server.server_port
    assert str(info.value) == (
        f"Could not get /x/ from 127.0.0.1:{port}: no answer within 0.05 s after 1 retry."
    )
    assert client.stats.retries == 1
