"""iter_pages: keyset paging, the sort_null_only phase, end conditions and loop detection."""

from __future__ import annotations

import gc
import logging
import weakref
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from fec.client import FecClient
from fec.errors import InvalidUnit, PaginationError
from fec.schedule_a import NULL_DATES, Window, fetch_count, iter_pages
from tests.support import MOCK_BASE

URL = MOCK_BASE + "/schedules/schedule_a/"
UNIT = [
    ("committee_id", "C00000001"),
    ("two_year_transaction_period", "2024"),
    ("per_page", "2"),
    ("sort", "contribution_receipt_date"),
]
DATED = {"last_index": "4002", "last_contribution_receipt_date": "2024-03-01"}
NULLS = {"last_index": "1004", "sort_null_only": True}


def body(rows: int, last_indexes: dict[str, Any] | None, count: int | None = 5,
         per_page: int = 2, exact: bool = True) -> dict[str, Any]:
    return {
        "api_version": "1.0",
        "pagination": {"count": count, "is_count_exact": exact, "pages": 3,
                       "per_page": per_page, "last_indexes": last_indexes},
        "results": [{"sub_id": f"{last_indexes and last_indexes['last_index']}-{n}"}
                    for n in range(rows)],
    }


def sent(call: Any) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(call.request.url).query)


def test_pages_through_dated_rows_then_the_null_date_phase(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=body(2, DATED))
    api.get(URL, json=body(2, NULLS))
    api.get(URL, json=body(1, {"last_index": "1005", "sort_null_only": True}))
    pages = list(iter_pages(client, ["C00000001"], 2024, per_page=2))
    assert [(len(p.rows), p.cursor, p.done, p.count, p.count_exact) for p in pages] == [
        (2, DATED, False, 5, True),
        (2, NULLS, False, 5, True),
        (1, None, True, 5, True),
    ]
    assert [sent(call) for call in api.calls] == [
        UNIT,
        UNIT + [("last_index", "4002"), ("last_contribution_receipt_date", "2024-03-01")],
        UNIT + [("last_index", "1004"), ("sort_null_only", "true")],
    ]
    assert all("page" not in dict(sent(call)) for call in api.calls)
    assert client.stats.schedule_a == 3


def test_a_short_page_ends_the_scan_without_another_request(
    client: FecClient, api: responses.RequestsMock
) -> None:
    cursor = {"last_index": "7", "last_contribution_receipt_date": "2024-01-01"}
    api.get(URL, json=body(2, cursor, per_page=3))
    pages = list(iter_pages(client, ["C00000001"], 2024, per_page=3))
    assert [(len(p.rows), p.cursor, p.done) for p in pages] == [(2, None, True)]
    assert len(api.calls) == 1


def test_an_empty_page_ends_the_scan(client: FecClient, api: responses.RequestsMock) -> None:
    api.get(URL, json=body(2, DATED))
    api.get(URL, json=body(0, None, count=0))
    pages = list(iter_pages(client, ["C00000001"], 2024, per_page=2))
    assert [(len(p.rows), p.cursor, p.done, p.count) for p in pages] == [
        (2, DATED, False, 5),
        (0, None, True, 0),
    ]


def test_a_page_says_when_its_count_is_only_an_estimate(
    client: FecClient, api: responses.RequestsMock
) -> None:
    # An estimate must not verify a unit: the check asks again by window until it is exact.
    api.get(URL, json=body(2, DATED, count=731_004, exact=False))
    api.get(URL, json=body(1, NULLS, count=731_004, exact=False))
    pages = list(iter_pages(client, ["C00000001"], 2024, per_page=2))
    assert [(p.done, p.count, p.count_exact) for p in pages] == [
        (False, 731_004, False), (True, 731_004, False)]


def test_resumes_from_a_stored_cursor_with_the_load_date_filter(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=body(0, None))
    list(iter_pages(client, ["c00000001"], 2024, per_page=2, min_load_date="2024-05-01",
                    cursor=NULLS))
    assert sent(api.calls[0]) == UNIT + [
        ("min_load_date", "2024-05-01"), ("last_index", "1004"), ("sort_null_only", "true"),
    ]


def test_a_date_window_is_sent_as_min_and_max_date(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=body(2, DATED))
    api.get(URL, json=body(0, None))
    pages = list(iter_pages(client, ["C00000001"], 2024, per_page=2,
                            window=Window("2024-01-01", "2024-03-31"), kind="verify"))
    window = [("min_date", "2024-01-01"), ("max_date", "2024-03-31")]
    assert [sent(call) for call in api.calls] == [
        UNIT + window,
        UNIT + window + [("last_index", "4002"), ("last_contribution_receipt_date", "2024-03-01")],
    ]
    assert pages[-1].done
    assert (client.stats.schedule_a, client.stats.verification) == (2, 2)


def test_the_null_date_window_asks_for_those_rows_only_and_echoes_the_flag_once(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=body(2, NULLS))
    api.get(URL, json=body(0, None))
    list(iter_pages(client, ["C00000001"], 2024, per_page=2, window=NULL_DATES))
    assert [sent(call) for call in api.calls] == [
        UNIT + [("sort_null_only", "true")],
        UNIT + [("last_index", "1004"), ("sort_null_only", "true")],
    ]


@pytest.mark.parametrize(("pagination", "expected"), [
    ({"count": 612, "is_count_exact": True}, (612, True)),
    ({"count": 731_004, "is_count_exact": False}, (731_004, False)),
    ({"count": 612}, (612, True)),  # older answers have no flag: exact up to 500,000
    ({"count": 500_000}, (500_000, True)),
    ({"count": 500_001}, (500_001, False)),
    ({"count": 612_000}, (612_000, False)),
    # The flag decides, not the size: the server counts exactly when its planner estimates
    # at most 500,000 rows, and the true count may then be more (or the estimate less).
    ({"count": 510_000, "is_count_exact": True}, (510_000, True)),
    ({"count": 480_000, "is_count_exact": False}, (480_000, False)),
])
def test_a_count_probe_costs_one_request_of_one_row(
    client: FecClient, api: responses.RequestsMock, pagination: dict[str, Any],
    expected: tuple[int, bool],
) -> None:
    api.get(URL, json={"pagination": {**pagination, "last_indexes": None}, "results": []})
    found = fetch_count(client, ["C00000001", "C00000002"], 2024,
                        window=Window("2024-01-01", "2024-06-30"))
    assert (found.count, found.exact) == expected
    assert sent(api.calls[0]) == [
        ("committee_id", "C00000001"), ("committee_id", "C00000002"),
        ("two_year_transaction_period", "2024"), ("per_page", "1"),
        ("sort", "contribution_receipt_date"),
        ("min_date", "2024-01-01"), ("max_date", "2024-06-30"),
    ]
    assert client.stats.verification == 1


@pytest.mark.parametrize("reply", [
    {"pagination": {"count": None, "last_indexes": None}, "results": []},
    {"pagination": {"last_indexes": None}, "results": []},
    {"pagination": {"count": -1, "last_indexes": None}, "results": []},
])
def test_a_count_probe_without_a_count_is_an_error_naming_the_units(
    client: FecClient, api: responses.RequestsMock, reply: dict[str, Any]
) -> None:
    api.get(URL, json=reply)
    with pytest.raises(PaginationError) as info:
        fetch_count(client, ["C00000001", "C00000002"], 2024)
    assert str(info.value) == "C00000001,C00000002 2024: the API sent no count"


def test_a_malformed_count_probe_names_the_units(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json={"results": []})
    with pytest.raises(PaginationError) as info:
        fetch_count(client, ["C00000001", "C00000002"], 2024)
    assert str(info.value) == (
        "C00000001,C00000002 2024: the API sent a page without results or pagination")


def test_a_page_of_several_committees_must_say_whose_each_row_is(
    client: FecClient, api: responses.RequestsMock
) -> None:
    page = body(2, DATED)
    page["results"] = [{"sub_id": "1", "committee_id": "C00000001"}, {"sub_id": "2"}]
    api.get(URL, json=page)
    with pytest.raises(PaginationError) as info:
        list(iter_pages(client, ["C00000001", "C00000002"], 2024, per_page=2))
    assert str(info.value) == (
        "C00000001,C00000002 2024: the API sent a row of committee None, not one asked for")


@pytest.mark.parametrize(("window", "named"), [
    (Window("2024-01-01", "2024-03-31"), "C00000001 2024 (2024-01-01..2024-03-31)"),
    (NULL_DATES, "C00000001 2024 (no receipt date)"),
])
def test_errors_in_a_window_rescan_name_the_window(
    client: FecClient, api: responses.RequestsMock, window: Window, named: str
) -> None:
    api.get(URL, json=body(2, None))
    with pytest.raises(PaginationError) as info:
        list(iter_pages(client, ["C00000001"], 2024, per_page=2, window=window))
    assert str(info.value) == f"{named}: the API sent 2 rows without a cursor"


def test_several_committees_go_in_one_request(
    client: FecClient, api: responses.RequestsMock
) -> None:
    ids = [f"C0000000{n}" for n in range(10)]
    api.get(URL, json=body(0, None))
    list(iter_pages(client, ids, 2022))
    assert [v for k, v in sent(api.calls[0]) if k == "committee_id"] == ids


def test_the_same_cursor_again_is_an_error(client: FecClient, api: responses.RequestsMock) -> None:
    api.get(URL, json=body(2, DATED))
    api.get(URL, json=body(2, DATED))
    pages = iter_pages(client, ["C00000001"], 2024, per_page=2)
    assert next(pages).cursor == DATED
    with pytest.raises(PaginationError) as info:
        next(pages)
    assert str(info.value) == (
        'C00000001 2024: the API answered with the cursor it was sent ({"last_contribution_'
        'receipt_date": "2024-03-01", "last_index": "4002"}); stopped this unit instead of '
        "paging forever"
    )


def test_a_cursor_cycle_is_an_error(client: FecClient, api: responses.RequestsMock) -> None:
    api.get(URL, json=body(2, DATED))
    api.get(URL, json=body(2, NULLS))
    api.get(URL, json=body(2, DATED))
    with pytest.raises(PaginationError) as info:
        list(iter_pages(client, ["C00000001"], 2024, per_page=2))
    assert "the API answered with an earlier cursor" in str(info.value)
    assert len(api.calls) == 3


def test_a_stored_cursor_sent_back_is_an_error(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=body(2, NULLS))
    with pytest.raises(PaginationError, match="the cursor it was sent"):
        list(iter_pages(client, ["C00000001"], 2024, per_page=2, cursor=NULLS))


def test_rows_without_a_cursor_are_an_error(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=body(2, None))
    with pytest.raises(PaginationError) as info:
        list(iter_pages(client, ["C00000001"], 2024, per_page=2))
    assert str(info.value) == "C00000001 2024: the API sent 2 rows without a cursor"


@pytest.mark.parametrize(
    "reply",
    [{"results": []}, {"results": {}, "pagination": {}}, {"results": [1], "pagination": {}},
     {"results": [{}], "pagination": {"last_indexes": {"sort_null_only": True}}}],
)
def test_malformed_pages_are_errors(
    client: FecClient, api: responses.RequestsMock, reply: dict[str, Any]
) -> None:
    api.get(URL, json=reply)
    with pytest.raises(PaginationError):
        list(iter_pages(client, ["C00000001"], 2024, per_page=2))


@pytest.mark.parametrize(
    ("ids", "cycle", "per_page", "message"),
    [
        ([], 2024, 100, "between 1 and 10 committee ids are needed, got 0"),
        ([f"C0000001{n}" for n in range(10)] + ["C00000020"], 2024, 100,
         "between 1 and 10 committee ids are needed, got 11"),
        (["C123"], 2024, 100, "invalid committee id(s) C123: expected C + 8 digits"),
        (["C00000001"], 2023, 100, "two-year periods are even years, got 2023"),
        (["C00000001"], 2024, 0, "per_page must be between 1 and 100, got 0"),
        (["C00000001"], 2024, 101, "per_page must be between 1 and 100, got 101"),
    ],
)
def test_arguments_are_validated_before_any_request(
    client: FecClient, ids: list[str], cycle: int, per_page: int, message: str
) -> None:
    # a malformed committee id (from the data) fails its unit; the rest are caller bugs
    expected = InvalidUnit if message.startswith("invalid committee") else ValueError
    with pytest.raises(expected) as info:
        next(iter_pages(client, ids, cycle, per_page=per_page))
    assert str(info.value) == message


def test_a_single_string_is_not_a_list_of_ids(client: FecClient) -> None:
    with pytest.raises(TypeError):
        next(iter_pages(client, "C00000001", 2024))


def test_a_server_that_caps_per_page_does_not_end_the_scan_early(
    client: FecClient, api: responses.RequestsMock
) -> None:
    # A mirror serving 2 rows a page while 3 were asked for: its 2-row pages are full.
    api.get(URL, json=body(2, DATED))
    api.get(URL, json=body(2, {"last_index": "4004",
                               "last_contribution_receipt_date": "2024-04-01"}))
    api.get(URL, json=body(1, {"last_index": "4005",
                               "last_contribution_receipt_date": "2024-05-01"}))
    pages = list(iter_pages(client, ["C00000001"], 2024, per_page=3))
    assert [(len(page.rows), page.done) for page in pages] == [(2, False), (2, False), (1, True)]


class _Row(dict):  # type: ignore[type-arg]
    """A result row that can be weakly referenced (plain dicts cannot)."""


class _StubClient:
    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.bodies = bodies

    def get_json(self, path: str, params: Any, *, kind: str) -> dict[str, Any]:
        return self.bodies.pop(0)


def test_a_scan_waiting_for_its_next_page_holds_no_rows() -> None:
    # Units wait in the scheduler's queue between pages: if the scan kept its last page
    # alive meanwhile, memory would grow with the number of units under way.
    first = _Row(sub_id="1")
    bodies = [{"results": [first, _Row(sub_id="2")],
               "pagination": {"per_page": 2, "last_indexes": DATED}},
              {"results": [], "pagination": {"per_page": 2, "last_indexes": None}}]
    scan = iter_pages(_StubClient(bodies), ["C00000001"], 2024, per_page=2)  # type: ignore[arg-type]
    watch = weakref.ref(first)
    del first, bodies
    page = next(scan)
    assert watch() is not None
    del page
    gc.collect()
    assert watch() is None  # the scan is still alive, the rows are not
    assert next(scan).done


def test_errors_name_the_unit_with_every_committee(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json={"results": {}, "pagination": {}})
    with pytest.raises(PaginationError) as info:
        list(iter_pages(client, ["C00000001", "C00000002"], 2024))
    assert str(info.value) == (
        "C00000001,C00000002 2024: the API sent a page without results or pagination")
    with pytest.raises(InvalidUnit) as bad:
        next(iter_pages(client, ["C1", "C00000001", "X2"], 2024))
    assert str(bad.value) == "invalid committee id(s) C1, X2: expected C + 8 digits"
    with pytest.raises(TypeError, match="^committee_ids must be a sequence of ids, not one"):
        next(iter_pages(client, "C00000001", 2024))


@pytest.mark.parametrize(("served", "rows", "ends", "warned"), [
    (1, 1, False, True),  # a server capping at 1 row: a 1-row page is full
    (3, 2, True, False),  # what was asked for: 2 rows are a short page
    (True, 1, True, False),  # not a page size: ours is trusted
    ("2", 2, True, False),
    (None, 2, True, False),
])
def test_only_a_plausible_served_page_size_overrides_ours(
    client: FecClient, api: responses.RequestsMock, caplog: pytest.LogCaptureFixture,
    served: Any, rows: int, ends: bool, warned: bool
) -> None:
    api.get(URL, json=body(rows, DATED, per_page=served))
    with caplog.at_level(logging.WARNING, logger="fec.schedule_a"):
        page = next(iter_pages(client, ["C00000001"], 2024, per_page=3))
    assert page.done is ends
    assert [r.getMessage() for r in caplog.records] == (
        ["C00000001 2024: the API serves 1 rows per page, not 3"] if warned else [])


def test_cursor_values_are_sent_as_the_api_spells_them(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=body(0, None))
    cursor = {"last_contribution_receipt_date": None, "sort_null_only": False,
              "last_index": 4007, "last_contribution_receipt_amount": date(2024, 1, 2)}
    assert next(iter_pages(client, ["C00000001"], 2024, per_page=2, cursor=cursor)).done
    assert sent(api.calls[0])[len(UNIT):] == [
        ("sort_null_only", "false"), ("last_index", "4007"),
        ("last_contribution_receipt_amount", "2024-01-02")]


@pytest.mark.parametrize("count", ["5", -1, True])
def test_a_count_that_is_not_a_number_of_rows_is_no_count(
    client: FecClient, api: responses.RequestsMock, count: Any
) -> None:
    api.get(URL, json=body(0, None, count=count))
    page = next(iter_pages(client, ["C00000001"], 2024, per_page=2))
    assert (page.count, page.count_exact) == (None, False)
