"""fec.errors: the key is redacted from every message, and each message is one exact line."""

from __future__ import annotations

from typing import Any

import pytest

from fec.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    CircuitOpen,
    RateLimited,
    RequestLimitReached,
    flatten_message,
    format_epoch,
    redact,
)

KEY = "Zq7-key-0123456789"


@pytest.mark.parametrize(("text", "expected"), [
    # bare, as a careless server echoes it: only the exact-key replacement catches this
    (f"invalid key {KEY} (key {KEY})", "invalid key *** (key ***)"),
    (f"GET /v1/x?api_key={KEY}&per_page=5", "GET /v1/x?api_key=***&per_page=5"),
    ("GET /v1/x?API_KEY=other-key-999#top", "GET /v1/x?API_KEY=***#top"),
    ("{'X-Api-Key': 'other-key-999', 'Accept': '*/*'}", "{'X-Api-Key': '***', 'Accept': '*/*'}"),
    ('x-api-key: other-key-999, next', 'x-api-key: ***, next'),
    ("nothing secret here", "nothing secret here"),
])
def test_redact_removes_the_key_and_anything_shaped_like_one(text: str, expected: str) -> None:
    assert redact(text, KEY) == expected


def test_keys_shorter_than_six_characters_are_not_searched_for() -> None:
    # a one-letter test key would otherwise mangle every message
    assert redact("abcde fghijk abcdef", "abcde") == "abcde fghijk abcdef"
    assert redact("abcde fghijk abcdef", "abcdef") == "abcde fghijk ***"
    assert redact("plain text", None) == "plain text"
    assert redact("plain text", "") == "plain text"


@pytest.mark.parametrize(("message", "expected"), [
    ("Invalid  date.\n   Use YYYY-MM-DD.", "Invalid date. Use YYYY-MM-DD."),
    ({"query": {"per_page": ["Not a valid integer.", "Too big."]}},
     "query.per_page: Not a valid integer. Too big."),
    (["top level", ["nested", {"deep": ["x"]}]], "top level; nested; deep: x"),
    (["two", "words"], "two words"),
    ({"query": ["a", {"sort": ["b"]}, ["c"]]}, "query: a; query.sort: b; query: c"),
    ({"a": None, "b": "   ", "c": 0}, "c: 0"),
    ({"a": None}, "(no error message)"),
    (None, "(no error message)"),
    (42, "42"),
])
def test_flatten_message_makes_one_line(message: Any, expected: str) -> None:
    assert flatten_message(message) == expected


def test_format_epoch_is_utc() -> None:
    assert format_epoch(1_700_000_000.0) == "2023-11-14 22:13:20 UTC"


def test_auth_errors_without_a_known_code() -> None:
    assert AuthError("", None).code == "UNKNOWN"
    assert str(AuthError("", None)) == (
        "The OpenFEC API refused access (HTTP 403). Check the API key: get one at "
        "https://api.data.gov/signup/ and pass it with --api-key or the OPENFEC_API_KEY "
        "environment variable.")
    assert str(AuthError("ODD", "Go away. .")).startswith(
        "The OpenFEC API refused access (HTTP 403, ODD): Go away. Check the API key")
    assert str(AuthError("ODD", "Ask BOX")).startswith(
        "The OpenFEC API refused access (HTTP 403, ODD): Ask BOX. Check the API key")


def test_the_other_errors_say_exactly_what_happened() -> None:
    assert str(RateLimited()) == "The OpenFEC API answered 429 Too Many Requests."
    assert str(RateLimited(30.4)) == (
        "The OpenFEC API answered 429 Too Many Requests and asked to wait 30 s.")
    assert RateLimited(30.4).retry_after == 30.4
    assert str(BadRequest(404, "Not  found")) == (
        "The OpenFEC API rejected the request (HTTP 404): Not found")
    limit = RequestLimitReached(25)
    assert limit.limit == 25 and str(limit) == (
        "Stopped safely after 25 API requests (--max-requests); re-run to resume.")
    assert str(RequestLimitReached(1)) == (
        "Stopped safely after 1 API request (--max-requests); re-run to resume.")
    circuit = CircuitOpen(5)
    assert circuit.failures == 5 and str(circuit) == (
        "Stopped safely: 5 API requests in a row failed. The API looks unhealthy; re-run "
        "later to resume.")
    assert str(CircuitOpen(6, "HTTP 503")).startswith(
        "Stopped safely: 6 API requests in a row failed (last: HTTP 503). ")
    assert str(Cancelled()) == "Stopped on request; no further API requests were sent."
    assert str(Cancelled("interrupted by SIGINT")) == "interrupted by SIGINT"
