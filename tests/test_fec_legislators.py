"""load_legislators: congress-legislators JSON from a file or URL, and malformed input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from fec.errors import LegislatorsError, TransientError
from fec.legislators import Politician, load_legislators

SENATOR = {
    "id": {"bioguide": "S000001", "fec": ["H2WA01054", "s8wa00194", "H2WA01054"]},
    "name": {"first": "Sam", "last": "Senator", "official_full": "Samantha Q. Senator"},
    "terms": [
        {"type": "rep", "start": "2013-01-03", "state": "WA", "party": "Independent"},
        {"type": "sen", "start": "2019-01-03", "state": "WA", "party": "Democrat"},
    ],
}
REP = {
    "id": {"bioguide": "R000002", "fec": ["H4TX00002"]},
    "name": {"first": "Rita", "last": "Rep"},
    "terms": [{"type": "rep", "start": "2023-01-03", "state": "TX", "party": "Republican"}],
}
NO_FEC = {
    "id": {"bioguide": "A000003"},
    "name": {"official_full": "Alan Armstrong"},
    "terms": [{"type": "sen", "start": "2025-01-03", "state": "OK", "party": "Republican"}],
}


def write(tmp_path: Path, content: Any, raw: bool = False) -> str:
    path = tmp_path / "legislators-current.json"
    path.write_text(content if raw else json.dumps(content), encoding="utf-8")
    return str(path)


def test_loads_politicians_with_all_their_fec_ids(tmp_path: Path) -> None:
    source = write(tmp_path, [SENATOR, REP, NO_FEC])
    assert load_legislators(source) == [
        Politician("S000001", "Samantha Q. Senator", "Democrat", "WA", "senate",
                   ("H2WA01054", "S8WA00194")),
        Politician("R000002", "Rita Rep", "Republican", "TX", "house", ("H4TX00002",)),
        Politician("A000003", "Alan Armstrong", "Republican", "OK", "senate", ()),
    ]


def test_duplicate_entries_keep_the_first(tmp_path: Path) -> None:
    source = write(tmp_path, [REP, {**REP, "name": {"first": "Other"}}])
    assert [p.name for p in load_legislators(source)] == ["Rita Rep"]


def test_missing_terms_and_names_fall_back(tmp_path: Path) -> None:
    source = write(tmp_path, [{"id": {"bioguide": "X000001", "fec": "H0XX00001"}}])
    assert load_legislators(source) == [
        Politician("X000001", "X000001", None, None, None, ("H0XX00001",))
    ]


def test_downloads_from_a_url() -> None:
    url = "https://unitedstates.example.test/legislators-current.json"
    with responses.RequestsMock() as api:
        api.get(url, json=[REP])
        assert [p.bioguide_id for p in load_legislators(url, timeout=5)] == ["R000002"]
        assert api.calls[0].request.req_kwargs["timeout"] == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON (Expecting property name enclosed in double quotes "
                      "at line 1 column 2)"),
        ("", "is not valid JSON (Expecting value at line 1 column 1)"),
        (json.dumps({"S000001": SENATOR}), "is not a congress-legislators file: expected a JSON "
                                           "list of legislators, got a JSON object"),
        ("[]", "is not a congress-legislators file: it lists no legislators"),
        (json.dumps([REP, {"id": {"govtrack": 1}}]),
         ": entry 2 has no id.bioguide; is this a congress-legislators file?"),
        (json.dumps(["R000002"]), ": entry 1 has no id.bioguide; is this a congress-legislators "
                                  "file?"),
        (json.dumps([{"id": {"bioguide": "  "}}]), ": entry 1 has no id.bioguide; is this a "
                                                   "congress-legislators file?"),
    ],
)
def test_malformed_files_get_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    source = write(tmp_path, content, raw=True)
    with pytest.raises(LegislatorsError) as info:
        load_legislators(source)
    assert str(info.value) == source + (" " if message[0].isalpha() else "") + message


def test_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(LegislatorsError) as info:
        load_legislators(str(missing))
    assert str(info.value) == f"Cannot read legislators file {missing}: No such file or directory"


@pytest.mark.parametrize(
    ("reply", "message", "passes"),
    [
        ({"status": 404}, "HTTP 404", False),
        ({"status": 403}, "HTTP 403", False),
        ({"status": 503}, "HTTP 503", True),
        ({"status": 429}, "HTTP 429", True),
        ({"body": requests.ConnectionError("refused")}, "ConnectionError", True),
        ({"body": requests.ConnectionError("Failed to establish a new connection: [Errno 111] "
                                           "Connection refused')")},
         "ConnectionError ([Errno 111] Connection refused)", True),
        ({"body": requests.ReadTimeout("read timed out")}, "ReadTimeout", True),
        ({"status": 408}, "HTTP 408", True),
        ({"body": requests.exceptions.ChunkedEncodingError("cut")}, "ChunkedEncodingError",
         True),
        ({"body": requests.exceptions.SSLError("certificate verify failed")}, "SSLError",
         False),
        ({"body": requests.TooManyRedirects("Exceeded 30 redirects.")}, "TooManyRedirects",
         False),
    ],
)
def test_download_failures(reply: dict[str, Any], message: str, passes: bool) -> None:
    # `passes`: the failure is the network's or the server's for now, so the run stops
    # safely (a TransientError, exit 75) rather than failing (exit 1)
    url = "https://unitedstates.example.test/legislators-current.json"
    with responses.RequestsMock() as api:
        api.get(url, **reply)
        with pytest.raises(LegislatorsError) as info:
            load_legislators(url)
    assert str(info.value) == f"Could not download legislators from {url}: {message}"
    assert isinstance(info.value, TransientError) is passes
