"""The fake OpenFEC judges the product, so it is tested against the spec (openfec-api.md).

Keyset paging is checked against an independent oracle: the rows loaded into SQLite and
queried with the SQL the spec describes (§2.2), page by page, cursor echoed each time.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from http.client import HTTPConnection
from typing import Any

import pytest
import requests

from tests.fake_openfec import FakeOpenFec, Faults, World, generate_world
from tests.fake_openfec.demo import build_parser, cli_command

KEY = "test-key"
SCHED_A = "/schedules/schedule_a/"
YEAR = date.today().year
CURRENT_CYCLE = YEAR + YEAR % 2
GAP = " " * 20
LAST_INDEX_MESSAGE = (
    "When paginating through results, both values from the " + GAP + "previous page's "
    "`last_indexes` object are needed. For more information, " + GAP + "see "
    "https://api.open.fec.gov/developers/. Please add one of the following " + GAP + "filters to "
    "your query: `sort_null_only`=True, `last_contribution_receipt_date`, "
    "`last_contribution_receipt_amount`"
)
SECONDARY_MESSAGE = (
    "Please choose a single `two_year_transaction_period` or add one of the following filters to "
    "your query: `committee_id`, `contributor_id`, `contributor_name`, `contributor_city`, "
    "`contributor_zip`, `contributor_employer`, `contributor_occupation`, `image_number`"
)
COMMITTEE_MESSAGE = ("Invalid committee_id. A valid committee_id begins with a 'C' followed by 8 "
                     "digits. For example: C00100005.")
DATE_MESSAGE = "Invalid date. Date must be formatted as MM/DD/YYYY or YYYY-MM-DD."
SORT_MESSAGE = ('Cannot sort on value "contributor_aggregate_ytd". Instead choose one of: '
                '"contribution_receipt_date", "contribution_receipt_amount"')
LINE_MESSAGE = ("Invalid line_number detected. A valid line_number is using the following format:"
                "\n'FORM-LINENUMBER'.  For example an argument such as 'F3X-16' would filter down "
                "to all schedule a entries\nfrom form F3X line number 16.")
CANDIDATE_MESSAGE = ("Invalid candidate_id. A valid candidate_id begins with a 'P' or 'H' or 'S' "
                     "followed by 8 letters or numbers. For example: P00000034, S6MI00103, "
                     "H0LA01087.")
PERIOD_ODD = ("Invalid two_year_transaction period. A valid two_year_transaction_period should be "
              f"an even year between 1976 and {CURRENT_CYCLE}.")
PERIOD_404 = ("two_year_transaction_period not found. Data exists for two_year_transaction_periods "
              f"between 1976 and {CURRENT_CYCLE}.")
SIGNUP, CONTACT = "https://api.data.gov/signup/", "https://api.data.gov/contact/"
SCHEDULE_A_KEYS = {  # openfec-api.md §3, group by group
    "committee_id", "committee_name", "committee", "recipient_committee_type",
    "recipient_committee_org_type", "recipient_committee_designation",
    "report_year", "report_type", "filing_form", "link_id", "line_number", "line_number_label",
    "transaction_id", "file_number", "image_number", "pdf_url", "amendment_indicator",
    "amendment_indicator_desc", "schedule_type", "schedule_type_full", "load_date", "sub_id",
    "original_sub_id", "back_reference_transaction_id", "back_reference_schedule_name",
    "entity_type", "entity_type_desc", "is_individual", "contributor_id", "unused_contbr_id",
    "contributor", "contributor_name", "contributor_prefix", "contributor_first_name",
    "contributor_middle_name", "contributor_last_name", "contributor_suffix",
    "contributor_street_1", "contributor_street_2", "contributor_city", "contributor_state",
    "contributor_zip", "contributor_employer", "contributor_occupation",
    "receipt_type", "receipt_type_desc", "receipt_type_full", "memo_code", "memo_code_full",
    "memo_text", "memoed_subtotal", "contribution_receipt_date", "contribution_receipt_amount",
    "contributor_aggregate_ytd", "increased_limit",
    "candidate_id", "candidate_name", "candidate_first_name", "candidate_last_name",
    "candidate_middle_name", "candidate_prefix", "candidate_suffix", "candidate_office",
    "candidate_office_full", "candidate_office_state", "candidate_office_state_full",
    "candidate_office_district",
    "conduit_committee_id", "conduit_committee_name", "conduit_committee_street1",
    "conduit_committee_street2", "conduit_committee_city", "conduit_committee_state",
    "conduit_committee_zip", "donor_committee_name", "national_committee_nonfederal_account",
    "election_type", "election_type_full", "fec_election_type_desc", "fec_election_year",
    "two_year_transaction_period",
}


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(seed=5, politicians=10, rows_scale=0.6)


@pytest.fixture(scope="module")
def fake(world: World) -> Iterator[FakeOpenFec]:
    keys = (KEY, "DEMO_KEY")
    with FakeOpenFec(world, api_keys=keys, disabled_keys=("old-key",)) as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["X-Api-Key"] = KEY
        yield session


@pytest.fixture
def small() -> World:
    """A world of its own for tests that change it."""
    return generate_world(seed=9, politicians=6, rows_scale=0.3)


Json = dict[str, Any]


def sched(http: requests.Session, fake: FakeOpenFec, params: Any) -> tuple[int, Any]:
    with http.get(fake.url + SCHED_A, params=params) as response:
        return response.status_code, response.json()


def scan(http: requests.Session, fake: FakeOpenFec, base: Json, limit: int = 500) -> list[Json]:
    """All pages, echoing every key of last_indexes, until an empty page."""
    pages, cursor = [], {}
    for _ in range(limit):
        status, body = sched(http, fake, {**base, **cursor})
        assert status == 200, body
        pages.append(body)
        if not body["results"]:
            assert body["pagination"]["last_indexes"] is None
            return pages
        cursor = body["pagination"]["last_indexes"]
    raise AssertionError(f"no empty page after {limit} requests")


def unit(committee_id: str, cycle: int, **extra: Any) -> Json:
    return {"committee_id": committee_id, "two_year_transaction_period": cycle, **extra}


# ---- an independent oracle: the spec's SQL over the same rows -------------------------------
def oracle(world: World, committee_id: str, cycle: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE a (sub_id INTEGER PRIMARY KEY, contribution_receipt_date TEXT,"
                 " contribution_receipt_amount REAL)")
    rows = world.expected_rows(committee_ids=[committee_id], cycles=[cycle]).values()
    conn.executemany("INSERT INTO a VALUES (?, ?, ?)", [
        (int(r["sub_id"]), r["contribution_receipt_date"], r["contribution_receipt_amount"])
        for r in rows
    ])
    return conn


def oracle_page(conn: sqlite3.Connection, params: Json) -> list[str]:
    sort = params.get("sort", "-contribution_receipt_date")
    col, asc = sort.lstrip("-"), not sort.startswith("-")
    hide = params.get("sort_hide_null") == "true"
    nulls_last = params.get("sort_nulls_last") == "true" and not hide
    value = params.get(f"last_{col}")
    where, args, lhs = ["1 = 1"], [], []
    if hide:
        where.append(f"{col} IS NOT NULL")
    if not value and params.get("sort_null_only") in (True, "true") and asc:
        where.append(f"{col} IS NULL")
        value = None
    if value is not None:
        dated = col.endswith("date") and not hide
        lhs.append(f"COALESCE({col}, '9999-12-31')" if dated else col)
        args.append(value)
    if params.get("last_index") is not None:
        lhs.append("sub_id")
        args.append(int(params["last_index"]))
    if lhs:
        marks = ", ".join("?" * len(lhs))
        where.append(f"({', '.join(lhs)}) {'>' if asc else '<'} ({marks})")
    nulls = "NULLS LAST" if (asc or nulls_last) else "NULLS FIRST"
    direction = "ASC" if asc else "DESC"
    sql = (f"SELECT sub_id FROM a WHERE {' AND '.join(where)}"
           f" ORDER BY {col} {direction} {nulls}, sub_id {direction}"
           f" LIMIT {int(params['per_page'])}")
    return [str(r[0]) for r in conn.execute(sql, args)]


# ---- keyset paging ------------------------------------------------------------------------
def test_ascending_scan_returns_every_row_exactly_once(world: World, fake, http) -> None:
    units = world.campaign_units()
    assert len(units) > 10
    nulls_seen = 0
    for committee_id, cycle in sorted(units):
        base = unit(committee_id, cycle, per_page=100, sort="contribution_receipt_date")
        pages = scan(http, fake, base)
        got = [row for page in pages for row in page["results"]]
        want = world.expected_rows(committee_ids=[committee_id], cycles=[cycle])
        assert len(got) == len(want) and {r["sub_id"]: r for r in got} == want
        assert {p["pagination"]["count"] for p in pages} == {len(want)}
        for page in pages[:-1]:
            last = page["pagination"]["last_indexes"]
            assert isinstance(last["last_index"], str)
            assert last["last_index"] == page["results"][-1]["sub_id"]
        nulls = sum(1 for r in got if r["contribution_receipt_date"] is None)
        nulls_seen = max(nulls_seen, nulls)
    assert nulls_seen > 100


def test_null_dated_rows_are_paged_through_sort_null_only(world: World, fake, http) -> None:
    committee_id = world.specials.null_heavy_committee
    base = unit(committee_id, 2026, per_page=100, sort="contribution_receipt_date")
    pages = scan(http, fake, base)
    cursors = [p["pagination"]["last_indexes"] for p in pages[:-1]]
    null_cursors = [c for c in cursors if c.get("sort_null_only")]
    assert len(null_cursors) >= 2  # more NULL-date rows than one page holds
    assert all(c == {"last_index": c["last_index"], "sort_null_only": True} for c in null_cursors)
    dated = [c for c in cursors if not c.get("sort_null_only")]
    assert all(set(c) == {"last_index", "last_contribution_receipt_date"} for c in dated)
    status, body = sched(http, fake, {**base, "sort_null_only": "true"})
    want = world.expected_rows([committee_id], [2026]).values()
    nulls = sorted(int(r["sub_id"]) for r in want if r["contribution_receipt_date"] is None)
    assert status == 200 and [int(r["sub_id"]) for r in body["results"]] == nulls[:100]
    assert body["pagination"]["count"] == len(want)  # counted before the NULL-only narrowing


@pytest.mark.parametrize("extra", [
    {"sort": "contribution_receipt_date"},
    {"sort": "-contribution_receipt_date"},
    {},
    {"sort": "contribution_receipt_amount"},
    {"sort": "-contribution_receipt_amount"},
    {"sort": "-contribution_receipt_date", "sort_nulls_last": "true"},
    {"sort": "-contribution_receipt_date", "sort_hide_null": "true"},
    {"sort": "contribution_receipt_date", "sort_null_only": "true"},
    {"sort": "-contribution_receipt_date", "sort_null_only": "true"},
], ids=lambda e: "&".join(f"{k}={v}" for k, v in e.items()) or "default")
def test_every_page_matches_the_spec_sql(world: World, fake, http, extra: Json) -> None:
    committee_id = world.specials.null_heavy_committee
    conn = oracle(world, committee_id, 2026)
    base = unit(committee_id, 2026, per_page=40, **extra)
    cursor: Json = {}
    for _ in range(60):
        status, body = sched(http, fake, {**base, **cursor})
        assert status == 200
        assert [r["sub_id"] for r in body["results"]] == oracle_page(conn, {**base, **cursor})
        cursor = body["pagination"]["last_indexes"]
        if cursor is None:
            break
    conn.close()


def test_descending_sort_skips_rows_after_a_null_boundary(world: World, fake, http) -> None:
    """§2.5: page 1 ends on a NULL row X; page 2 applies only sub_id < X, so dated rows
    with a larger sub_id are never returned."""
    committee_id = world.specials.null_heavy_committee
    want = world.expected_rows(committee_ids=[committee_id], cycles=[2026])
    null_ids = (int(s) for s, r in want.items() if r["contribution_receipt_date"] is None)
    nulls = sorted(null_ids, reverse=True)
    pages = scan(http, fake, unit(committee_id, 2026, per_page=100))  # default sort: DESC date
    first = pages[0]
    assert [int(r["sub_id"]) for r in first["results"]] == nulls[:100]
    boundary = nulls[99]
    cursor = first["pagination"]["last_indexes"]
    assert cursor == {"last_index": str(boundary), "sort_null_only": True}
    second = pages[1]["results"]
    assert [int(r["sub_id"]) for r in second[: len(nulls) - 100]] == nulls[100:]
    assert all(int(r["sub_id"]) < boundary for r in second)
    got = {r["sub_id"] for page in pages for r in page["results"]}
    lost = set(want) - got
    assert lost and not got - set(want)
    for sub_id in lost:
        assert want[sub_id]["contribution_receipt_date"] is not None and int(sub_id) > boundary


def test_page_parameter_is_ignored(world: World, fake, http) -> None:
    base = {"committee_id": world.specials.null_heavy_committee, "per_page": 10}
    _, one = sched(http, fake, base)
    _, two = sched(http, fake, {**base, "page": 2})
    _, junk = sched(http, fake, {**base, "cycle": 2018, "data_type": "processed"})
    assert one == two == junk
    assert one["pagination"]["per_page"] == 10 and "page" not in one["pagination"]


def test_defaults_and_filters(world: World, fake, http) -> None:
    committee_id = world.specials.null_heavy_committee
    everything = world.expected_rows([committee_id], world.cycles)
    status, body = sched(http, fake, {"committee_id": committee_id.lower()})
    assert status == 200 and len(body["results"]) == 20 and body["api_version"] == "1.0"
    assert body["pagination"]["count"] == len(everything)
    # NULLs come first under the default descending sort
    assert body["results"][0]["contribution_receipt_date"] is None
    _, dated = sched(http, fake, {"committee_id": committee_id, "min_date": "01/01/2020"})
    with_dates = sum(1 for r in everything.values() if r["contribution_receipt_date"])
    assert dated["pagination"]["count"] == with_dates
    _, hidden = sched(http, fake, {"committee_id": committee_id, "sort_hide_null": "true"})
    assert hidden["pagination"]["count"] == with_dates
    _, others = sched(http, fake, unit(f"-{committee_id}", 2024))
    assert committee_id not in {r["committee_id"] for r in others["results"]}
    _, empty = sched(http, fake, {"committee_id": "C99999999"})
    assert empty["pagination"] == {"count": 0, "is_count_exact": True, "pages": 0,
                                   "per_page": 20, "last_indexes": None}


# ---- validation ---------------------------------------------------------------------------
CID = "C00000001"


@pytest.mark.parametrize("params, status, message", [
    ({}, 400, SECONDARY_MESSAGE),
    ({"two_year_transaction_period": ["2024", "2026"]}, 400, SECONDARY_MESSAGE),
    ({"per_page": "999"}, 400, SECONDARY_MESSAGE),
    ({"committee_id": CID, "per_page": "0"}, 422, "Must be greater than zero"),
    ({"committee_id": CID, "per_page": "-3"}, 422, "Must be greater than zero"),
    ({"per_page": "0"}, 422, "Must be greater than zero"),
    ({"committee_id": CID, "per_page": "101"}, 422,
     "Parameter 'per_page' must be between 1 and 100"),
    ({"committee_id": CID, "per_page": "ten"}, 422,
     {"query": {"per_page": ["Not a valid integer."]}}),
    ({"committee_id": "C123"}, 422, COMMITTEE_MESSAGE),
    ({"committee_id": "X00000001"}, 422, COMMITTEE_MESSAGE),
    ({"committee_id": [f"C{n:08d}" for n in range(11)]}, 422,
     "Can only specify up to 10 values for `committee_id`"),
    ({"two_year_transaction_period": "2013"}, 422, PERIOD_ODD),
    ({"two_year_transaction_period": "1920"}, 404, PERIOD_404),
    ({"two_year_transaction_period": str(CURRENT_CYCLE + 4)}, 404, PERIOD_404),
    ({"two_year_transaction_period": "x"}, 422,
     {"query": {"two_year_transaction_period": {"0": ["Not a valid integer."]}}}),
    ({"committee_id": CID, "sort": "contributor_aggregate_ytd"}, 422, SORT_MESSAGE),
    ({"committee_id": CID, "last_index": "4000"}, 422, LAST_INDEX_MESSAGE),
    ({"committee_id": CID, "min_date": "2024-13-01"}, 422, DATE_MESSAGE),
    ({"committee_id": CID, "max_load_date": "yesterday"}, 422, DATE_MESSAGE),
    ({"committee_id": CID, "last_index": "1", "last_contribution_receipt_date": "null"}, 422,
     DATE_MESSAGE),
    ({"committee_id": CID, "last_index": "1",
      "last_contribution_receipt_date": "2020-03-13T00:00:00"}, 422, DATE_MESSAGE),
    ({"committee_id": CID, "last_contribution_receipt_amount": "lots"}, 422,
     {"query": {"last_contribution_receipt_amount": ["Not a valid number."]}}),
    ({"committee_id": CID, "contributor_type": "robot"}, 422,
     {"query": {"contributor_type": {"0": ["Must be one of: individual, committee."]}}}),
    ({"committee_id": CID, "sort_null_only": "maybe", "per_page": "x"}, 422,
     {"query": {"per_page": ["Not a valid integer."],
                "sort_null_only": ["Not a valid boolean."]}}),
    # OpenFEC's own validators raise at once, so they win over collected built-in errors
    ({"committee_id": "bad", "per_page": "x", "sort": "nope"}, 422, COMMITTEE_MESSAGE),
    ({"committee_id": CID, "line_number": "11AI"}, 400, LINE_MESSAGE),
])
def test_validation_status_and_message(fake, http, params: Json, status: int, message) -> None:
    with http.get(fake.url + SCHED_A, params=params) as response:
        assert response.status_code == status
        assert response.json() == {"message": message, "status": status}
        assert response.text.endswith("\n")


@pytest.mark.parametrize("params", [
    {"committee_id": CID},
    {"two_year_transaction_period": "2024"},
    {"committee_id": CID, "last_index": "1", "sort_null_only": "true"},
    {"committee_id": CID, "last_index": "1", "last_contribution_receipt_amount": "10.5"},
    {"committee_id": CID, "min_date": "1/5/2024", "max_load_date": "12/31/2026",
     "min_amount": "$1,000"},
    {"contributor_city": "BOSTON"},
], ids=lambda v: "&".join(v))
def test_valid_requests(fake, http, params: Json) -> None:
    status, body = sched(http, fake, params)
    assert status == 200, body


# ---- gateway: keys and rate limits --------------------------------------------------------
@pytest.mark.parametrize("headers, params, code, message", [
    ({}, {}, "API_KEY_MISSING", f"No api_key was supplied. Get one at {SIGNUP}"),
    ({"X-Api-Key": "nope"}, {}, "API_KEY_INVALID",
     f"An invalid api_key was supplied. Get one at {SIGNUP}"),
    ({}, {"api_key": "old-key"}, "API_KEY_DISABLED",
     f"The api_key supplied has been disabled. Contact us at {CONTACT} for assistance"),
])
def test_gateway_rejects_keys(fake, headers: Json, params: Json, code: str, message: str) -> None:
    with requests.get(fake.url + "/committees/", headers=headers, params=params) as response:
        assert response.status_code == 403
        assert response.json() == {"error": {"code": code, "message": message}}
        assert response.headers["Content-Type"] == "application/json"


def test_keys_by_header_or_parameter_and_no_key_for_legislators(world: World, fake) -> None:
    fake.reset_log()
    with requests.get(fake.url + "/committees/", params={"api_key": "DEMO_KEY"}) as by_param:
        assert by_param.status_code == 200
    with requests.get(fake.url + "/committees/", headers={"X-Api-Key": KEY}) as by_header:
        assert by_header.status_code == 200
    with requests.get(fake.url + "/committees/", auth=(KEY, "")) as by_basic_auth:
        assert by_basic_auth.status_code == 200
    with requests.get(fake.legislators_url) as legislators:
        assert legislators.json() == world.legislators_json()
    seen = [(e.kind, e.key_via) for e in fake.log]
    assert seen == [("lookup", "query"), ("lookup", "header"), ("lookup", "basic"),
                    ("legislators", None)]
    assert fake.count(kind="lookup", status=200) == 3


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_rolling_window(small: World) -> None:
    clock = Clock()
    with FakeOpenFec(small, rate_limit=(2, 0.6), rate_clock=clock) as fake, \
            requests.Session() as http:
        http.headers["X-Api-Key"] = KEY
        url = fake.url + "/committees/"
        seen = []

        def call() -> Json:
            with http.get(url) as r:
                seen.append((r.status_code, r.headers["X-RateLimit-Limit"],
                             r.headers["X-RateLimit-Remaining"], r.headers.get("Retry-After")))
                return r.json()

        call()
        clock.now += 0.3
        call()
        call()
        body = call()
        clock.now += 0.35  # the first request has left the window; the refused ones never entered
        call()
        call()
        assert seen == [(200, "2", "1", None), (200, "2", "0", None), (429, "2", "0", "1"),
                        (429, "2", "0", "1"), (200, "2", "0", None), (429, "2", "0", "1")]
        assert body["error"]["code"] == "OVER_RATE_LIMIT"
        assert body["error"]["message"].startswith("You have exceeded your rate limit")
        with requests.get(url, headers={"X-Api-Key": "DEMO_KEY"}) as other:
            assert other.status_code == 403  # not a key of this fake: no rate headers either
            assert "X-RateLimit-Limit" not in other.headers
        assert fake.count(status=429) == 3


def test_rate_limit_is_per_key_and_retry_after_optional(small: World) -> None:
    fake = FakeOpenFec(small, api_keys=("a", "b"), rate_limit=(1, 30.0), send_retry_after=False)
    with fake, requests.Session() as http:
        url = fake.url + "/committees/"
        with http.get(url, headers={"X-Api-Key": "a"}) as ok:
            assert ok.status_code == 200
        with http.get(url, headers={"X-Api-Key": "a"}) as over:
            assert over.status_code == 429 and over.headers["X-RateLimit-Remaining"] == "0"
            assert "Retry-After" not in over.headers
        with http.get(url, headers={"X-Api-Key": "b"}) as other_key:
            assert other_key.status_code == 200


# ---- faults -------------------------------------------------------------------------------
def raw_get(fake: FakeOpenFec, path: str) -> tuple[bytes, bytes]:
    """Headers and body exactly as sent, read until the server closes."""
    request = (f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\n"
               "Connection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as sock:
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_faults_do_what_they_say(world: World, fake, http) -> None:
    fake.reset_log()
    committee_id = world.specials.null_heavy_committee
    params = {"committee_id": committee_id, "per_page": 50}
    fake.fail_next(1, mode="reset")
    with pytest.raises(requests.ConnectionError):
        http.get(fake.url + SCHED_A, params=params)
    fake.fail_next(1, mode="truncated")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(fake.url + SCHED_A, params=params)
    fake.fail_next(1, mode="truncated")
    head, body = raw_get(fake, f"/v1{SCHED_A}?committee_id={committee_id}&per_page=50")
    length = re.search(rb"Content-Length: (\d+)", head)
    assert head.startswith(b"HTTP/1.1 200") and length and 0 < len(body) < int(length[1])
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    fake.fail_next(1, mode="html")
    with http.get(fake.url + SCHED_A, params=params) as html:
        assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
        with pytest.raises(requests.exceptions.JSONDecodeError):
            html.json()
    fake.fail_next(1, mode="5xx", status=502)
    with http.get(fake.url + SCHED_A, params=params) as bad_gateway:
        assert bad_gateway.status_code == 502
        assert "text/html" in bad_gateway.headers["Content-Type"]
        assert "Registered endpoint failed to handle the request" in bad_gateway.text
    fake.fail_next(1, kind="lookup", mode="5xx", status=504)
    with http.get(fake.url + SCHED_A, params=params) as unaffected:
        assert unaffected.status_code == 200
    with http.get(fake.url + "/committees/") as timeout:
        assert timeout.status_code == 504
        assert timeout.json() == {"message": "Query timed out", "status": 504}
    assert [(e.status, e.fault) for e in fake.log] == [
        (0, "reset"), (200, "truncated"), (200, "truncated"), (200, "html"), (502, "5xx"),
        (200, None), (504, "5xx")]


def test_seeded_random_faults(small: World) -> None:
    faults = Faults(p_5xx=0.25, p_reset=0.15, p_truncated=0.15, p_html=0.15,
                    only_kind="schedule_a")
    outcomes = []
    for _ in range(2):
        with FakeOpenFec(small, faults=faults, seed=4) as fake, requests.Session() as http:
            http.headers["X-Api-Key"] = KEY
            for _ in range(40):
                with contextlib.suppress(requests.RequestException):
                    params = {"two_year_transaction_period": 2026}
                    http.get(fake.url + SCHED_A, params=params).close()
            with http.get(fake.url + "/committees/") as lookup:
                assert lookup.status_code == 200  # only_kind spares the look-ups
            outcomes.append([(e.status, e.fault) for e in fake.log])
            fake.set_faults(p_5xx=1.0, statuses=(500,))
            with http.get(fake.url + "/committees/") as always:
                expected = {"message": "Could not process the request", "status": 500}
                assert always.json() == expected
    assert outcomes[0] == outcomes[1]
    kinds = Counter(fault for _, fault in outcomes[0])
    assert kinds[None] > 5 and kinds["reset"] and kinds["truncated"] and kinds["html"]
    assert kinds["5xx"] + kinds["5xx_html"] > 5


# ---- world changes --------------------------------------------------------------------------
def test_late_filings_corrections_and_amendments(small: World) -> None:
    now = datetime(2026, 11, 20, 4, 5, 6, 789000)
    before = small.expected_rows()
    late = set(small.add_late_filings(6, now=now))
    corrected = set(small.correct_rows(4, now=now))
    removed = set(small.amend_away(3))
    assert not late & set(before) and not late & corrected
    assert corrected <= set(before) and removed <= set(before)
    after = small.expected_rows()
    assert set(after) == set(before) - removed | late
    found = {}
    with FakeOpenFec(small) as fake, requests.Session() as http:
        http.headers["X-Api-Key"] = KEY
        for committee_id, cycle in small.campaign_units():
            base = unit(committee_id, cycle, per_page=100, sort="contribution_receipt_date",
                        min_load_date="2026-11-20")
            pages = scan(http, fake, base)
            found.update({r["sub_id"]: r for page in pages for r in page["results"]})
    assert set(found) == late | (corrected - removed)
    for sub_id in late:
        assert found[sub_id]["load_date"] == "2026-11-20T04:05:06.789000"
        assert found[sub_id]["contribution_receipt_date"] <= "2026-09-21"
    for sub_id in corrected - removed:
        old, new = before[sub_id], found[sub_id]
        assert new["contribution_receipt_amount"] != old["contribution_receipt_amount"]
        assert new["contributor_employer"] != old["contributor_employer"]
        assert new["amendment_indicator"] == "C" and new == after[sub_id]


# ---- look-ups -------------------------------------------------------------------------------
def committees(http: requests.Session, fake: FakeOpenFec, params: Any,
               path: str = "/committees/") -> tuple[int, Any]:
    with http.get(fake.url + path, params=params) as response:
        return response.status_code, response.json()


def test_committee_lookup_resolves_exactly_the_campaign_units(world: World, fake, http) -> None:
    found: dict[str, set[str]] = {}
    for leg in world.legislators:
        if not leg.fec_ids:
            continue
        query = {"candidate_id": list(leg.fec_ids), "designation": ["P", "A"],
                 "cycle": list(world.cycles), "per_page": 100}
        status, body = committees(http, fake, query)
        assert status == 200
        found[leg.bioguide] = {c["committee_id"] for c in body["results"]}
        for record in body["results"]:
            assert record["designation"] in "PA"
            assert set(record["candidate_ids"]) & set(leg.fec_ids)
    # The list shows each committee's latest designation: a principal committee since turned
    # into a PAC is a campaign unit of its earlier cycles that designation=P&A cannot find.
    campaign = {cid for cid, _ in world.campaign_units()}
    converted = {cid for cid in campaign if world.committees[cid].latest_designation not in "PA"}
    assert world.specials.converted_committee in converted
    assert set().union(*found.values()) == campaign - converted
    assert all(not found[b] for b in world.specials.unresolved_bioguides)
    assert sum(world.specials.shared_committee in ids for ids in found.values()) == 2
    _, both = committees(http, fake, {"candidate_id": world.specials.p_and_a_candidate})
    assert {"P", "A"} <= {c["designation"] for c in both["results"]}
    _, everything = committees(http, fake, {"per_page": 100})
    others = {c["committee_id"] for c in everything["results"] if c["designation"] in "JU"}
    assert others and others == set(world.specials.non_campaign_committees)


def test_committee_paging_and_candidate_view(world: World, fake, http) -> None:
    _, first = committees(http, fake, {"per_page": 2})
    total = len(world.committees)
    assert first["pagination"] == {"page": 1, "per_page": 2, "count": total,
                                   "pages": -(-total // 2), "is_count_exact": True}
    _, past = committees(http, fake, {"per_page": 2, "page": 999})
    assert past["results"] == [] and past["pagination"]["page"] == 999
    cap = "Parameter 'per_page' must be between 1 and 100"
    assert committees(http, fake, {"per_page": 101}) == (422, {"message": cap, "status": 422})
    path = f"/candidate/{world.specials.p_and_a_candidate.lower()}/committees/"
    status, body = committees(http, fake, {"designation": "P"}, path)
    assert status == 200 and [c["designation"] for c in body["results"]] == ["P"]
    bad = committees(http, fake, {}, "/candidate/Q123/committees/")
    assert bad == (422, {"message": CANDIDATE_MESSAGE, "status": 422})


# ---- the generated world --------------------------------------------------------------------
def test_world_shape_and_determinism(world: World) -> None:
    again = generate_world(seed=5, politicians=10, rows_scale=0.6)
    assert again.legislators_json() == world.legislators_json()
    assert again.expected_rows() == world.expected_rows()
    people = world.legislators_json()
    assert all(re.fullmatch(r"[A-Z]\d{6}", p["id"]["bioguide"]) for p in people)
    assert sum("fec" not in p["id"] for p in people) == 1
    ids = [i for p in people for i in p["id"].get("fec", [])]
    assert ids and all(re.fullmatch(r"[HSP]\d[A-Z]{2}\d{5}", i) for i in ids)
    for person in people:
        assert person["terms"][-1]["type"] in ("rep", "sen") and person["name"]["official_full"]
    rows = list(world.expected_rows().values())
    assert all(set(r) == SCHEDULE_A_KEYS for r in rows)
    assert all(re.fullmatch(r"[14]\d{18}", r["sub_id"]) for r in rows)
    assert {r["sub_id"][0] for r in rows} == {"1", "4"}
    assert all(isinstance(r["contribution_receipt_amount"], float) for r in rows)
    assert any(r["contribution_receipt_amount"] < 0 for r in rows)
    assert any(r["memo_code"] == "X" for r in rows)
    assert all(datetime.fromisoformat(r["load_date"]) for r in rows)
    sizes = sorted(Counter((r["committee_id"], r["two_year_transaction_period"])
                           for r in rows).values())
    assert sizes[-1] > 3 * sizes[len(sizes) // 2]  # heavy-tailed


def test_world_is_safe_to_change_while_served(small: World) -> None:
    errors: list[BaseException] = []

    def mutate() -> None:
        try:
            for _ in range(20):
                small.add_late_filings(2)
                small.correct_rows(2)
                small.amend_away(1)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with FakeOpenFec(small) as fake, requests.Session() as http:
        http.headers["X-Api-Key"] = KEY
        writer = threading.Thread(target=mutate)
        writer.start()
        for _ in range(20):
            status, _ = sched(http, fake, {"two_year_transaction_period": 2026, "per_page": 100})
            assert status == 200
        writer.join()
    assert not errors


# ---- transport ----------------------------------------------------------------------------
def test_keep_alive_json_and_newline(fake) -> None:
    conn = HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        for _ in range(3):  # one connection, three requests
            conn.request("GET", f"/v1{SCHED_A}?two_year_transaction_period=2026&per_page=5",
                         headers={"X-Api-Key": KEY})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200
            assert response.getheader("Content-Type") == "application/json"
            assert int(response.getheader("Content-Length")) == len(body)
            assert body.endswith(b"\n") and not response.will_close
    finally:
        conn.close()


def test_requests_are_served_concurrently(small: World) -> None:
    # Four requests held at the same time can only be four server threads at once.
    with FakeOpenFec(small) as fake:
        gate = fake.hold(after=0)
        statuses: list[int] = []

        def one() -> None:
            params = {"two_year_transaction_period": 2026, "per_page": 50}
            with requests.get(fake.url + SCHED_A, headers={"X-Api-Key": KEY}, params=params) as r:
                statuses.append(r.status_code)

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        assert gate.wait_held(4, timeout=30)
        assert statuses == [] and fake.count() == 0  # held: nothing answered or logged yet
        gate.release()
        for t in threads:
            t.join()
    assert statuses == [200] * 4


def test_a_gate_lets_n_requests_through_then_holds_the_rest(small: World) -> None:
    with FakeOpenFec(small) as fake, requests.Session() as http:
        http.headers["X-Api-Key"] = KEY
        gate = fake.hold(after=2, kind="schedule_a")
        params = {"two_year_transaction_period": 2026, "per_page": 5}
        for _ in range(2):
            assert sched(http, fake, params)[0] == 200
        with http.get(fake.url + "/committees/") as lookup:  # another kind is not counted
            assert lookup.status_code == 200
        assert gate.state() == {"after": 2, "arrived": 2, "held": 0, "released": False}
        third: list[int] = []
        waiter = threading.Thread(target=lambda: third.append(
            requests.get(fake.url + SCHED_A, headers={"X-Api-Key": KEY}, params=params)
            .status_code))
        waiter.start()
        assert gate.wait_held(1, timeout=30) and gate.wait_arrived(3, timeout=1)
        assert gate.state()["held"] == 1
        assert third == [] and fake.count(kind="schedule_a") == 2
        gate.release()
        waiter.join()
        assert third == [200] and sched(http, fake, params)[0] == 200  # released for good
        assert fake.count(kind="schedule_a") == 4


def test_stopping_the_fake_answers_held_requests(small: World) -> None:
    fake = FakeOpenFec(small).start()
    gate = fake.hold(after=0, kind=None)
    outcome: list[BaseException | int] = []

    def ask() -> None:
        try:
            with requests.get(fake.url + "/committees/", headers={"X-Api-Key": KEY}) as r:
                outcome.append(r.status_code)
        except requests.RequestException as exc:  # the server may close first
            outcome.append(exc)

    waiter = threading.Thread(target=ask)
    waiter.start()
    assert gate.wait_held(1, timeout=30)
    fake.stop()
    waiter.join(timeout=30)
    assert not waiter.is_alive() and gate.state()["released"] is True


def test_rejections_and_keys_echoed_in_error_bodies(small: World) -> None:
    secret = "sEcReT-echoed-0123456789"
    with FakeOpenFec(small, api_keys=(secret,), rate_limit=(100, 60.0),
                     echo_key_in_errors=True) as fake, requests.Session() as http:
        http.headers["X-Api-Key"] = secret
        fake.reject_next(1, kind="schedule_a", status=422, message="Invalid committee_id")
        params = {"committee_id": "C00000001", "per_page": 5}
        with http.get(fake.url + "/committees/") as fine:
            assert fine.status_code == 200 and secret not in fine.text  # success: no echo
        with http.get(fake.url + SCHED_A, params=params) as rejected:
            assert rejected.status_code == 422
            assert rejected.json() == {"message": f"Invalid committee_id (key {secret})",
                                       "status": 422}
        assert sched(http, fake, params)[0] == 200  # one rejection was queued, one was used
        fake.fail_next(1, mode="5xx_html", status=503)
        with http.get(fake.url + SCHED_A, params=params) as html:
            assert html.status_code == 503 and html.text.endswith(f" (key {secret})\n")
        with requests.get(fake.url + "/committees/", headers={"X-Api-Key": "wrong-key"}) as bad:
            assert bad.status_code == 403
            assert bad.json()["error"]["message"].endswith(" (key wrong-key)")
        assert [(e.status, e.fault) for e in fake.log if e.kind == "schedule_a"] == [
            (422, "rejected"), (200, None), (503, "5xx_html")]
        assert [e.rate_remaining for e in fake.log] == [99, 98, 97, 96, None]
    with pytest.raises(ValueError, match="a rejection is a 4xx status"):
        fake.reject_next(status=503)


def test_module_runs_as_a_process_and_is_driven_by_control() -> None:
    command = [sys.executable, "-m", "tests.fake_openfec", "--port", "0", "--politicians", "6",
               "--rows-scale", "0.2", "--rate-limit", "100/60", "--keys", "a,b"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        pattern = (r"serving (http://127\.0\.0\.1:\d+/v1)"
                   r" legislators (\S+/legislators-current\.json)\n")
        match = re.fullmatch(pattern, line)
        assert match, line
        api, root = match[1], match[1][: -len("/v1")]
        with requests.Session() as http:
            with http.get(api + "/committees/", headers={"X-Api-Key": "b"}) as r:
                assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "99"
            with http.post(root + "/_control/late_filings", params={"n": 3}) as r:
                late = r.json()["sub_ids"]
            with http.get(root + "/_control/expected", params={"cycles": "2024,2026"}) as r:
                assert set(late) <= {row["sub_id"] for row in r.json()}
            with http.get(root + "/_control/stats") as r:
                assert r.json()["by_kind"] == {"lookup": 1}
            with http.post(root + "/_control/hold", params={"after": 1, "kind": "lookup"}) as r:
                assert r.json() == {"after": 1, "arrived": 0, "held": 0, "released": False}
            with http.get(api + "/committees/", headers={"X-Api-Key": "a"}) as r:
                assert r.status_code == 200  # the one let through
            answers: list[int] = []
            ask = threading.Thread(target=lambda: answers.append(requests.get(
                api + "/committees/", headers={"X-Api-Key": "a"}).status_code))
            ask.start()
            with http.get(root + "/_control/gate", params={"held": 1, "timeout": 30}) as r:
                assert r.json() == {"after": 1, "arrived": 2, "held": 1, "released": False,
                                    "reached": True}
            assert answers == []
            with http.post(root + "/_control/release") as r:
                assert r.json()["released"] is True
            ask.join()
            assert answers == [200]
            with http.post(root + "/_control/reject_next", params={"kind": "lookup"}) as r:
                assert r.json() == {"ok": True}
            with http.get(api + "/committees/", headers={"X-Api-Key": "a"}) as r:
                assert r.json() == {"message": "Invalid request", "status": 422}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_demo_runs_the_cli_with_the_contract_flags() -> None:
    class Stub:
        url = "http://127.0.0.1:1/v1"
        legislators_url = "http://127.0.0.1:1/legislators-current.json"

    args = build_parser().parse_args(["--db", "/tmp/x.db"])
    command = cli_command(args, Stub())  # type: ignore[arg-type]
    assert command[0] == sys.executable and command[1].endswith("sync_donations.py")
    assert command[2:] == [
        "--db", "/tmp/x.db", "--api-url", Stub.url, "--api-key", "test-key",
        "--legislators", Stub.legislators_url, "--cycle", "2026", "--batch-size", "100",
        "--concurrency", "8",
    ]
    assert (args.politicians, args.latency) == (300, 0.05)
