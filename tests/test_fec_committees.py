"""fetch_committees: candidate ids in few requests, stable page-number paging checked against
`count`, and designations cycle by cycle (history only where the latest one is not P/A)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from responses import matchers

from fec.client import FecClient
from fec.committees import (
    CANDIDATES_PER_REQUEST,
    CommitteeLink,
    CycleDesignation,
    fetch_committees,
    ids_per_request,
)
from fec.errors import TransientError
from tests.support import MOCK_BASE

URL = MOCK_BASE + "/committees/"


def committee(cid: str, candidates: list[str], cycles: list[int], designation: str = "P",
              name: str | None = "FRIENDS OF X") -> dict[str, Any]:
    return {"committee_id": cid, "name": name, "designation": designation,
            "candidate_ids": candidates, "cycles": cycles, "committee_type": "H"}


def page(results: list[dict[str, Any]], page_no: int, pages: int,
         count: int | None = None) -> dict[str, Any]:
    return {"api_version": "1.0", "results": results,
            "pagination": {"page": page_no, "pages": pages, "per_page": 100,
                           "count": len(results) if count is None else count,
                           "is_count_exact": True}}


def history(cid: str, *rows: tuple[int, str, str | None]) -> dict[str, Any]:
    records = [{"committee_id": cid, "cycle": cycle, "designation": designation,
                "convert_to_pac_flag": former is not None, "former_candidate_id": former}
               for cycle, designation, former in rows]
    return page(records, 1, 1)


def sent(call: Any) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(call.request.url).query)


def test_maps_committees_to_each_requested_candidate_and_cycle(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([
        committee("C00000001", ["H0XX00001", "S0XX00002"], [2020, 2022, 2024]),
        committee("C00000002", ["H0XX00001"], [2024], designation="A", name=None),
        committee("C00000004", ["H0XX00009"], [2024]),  # not asked for
    ], 1, 1))
    found = fetch_committees(
        client, ["H0XX00001", "s0xx00002", "H0XX00003", "H0XX00001"], [2022, 2024]
    )
    assert found.links == [
        CommitteeLink("H0XX00001", "C00000001", "FRIENDS OF X", "P", 2022),
        CommitteeLink("S0XX00002", "C00000001", "FRIENDS OF X", "P", 2022),
        CommitteeLink("H0XX00001", "C00000001", "FRIENDS OF X", "P", 2024),
        CommitteeLink("S0XX00002", "C00000001", "FRIENDS OF X", "P", 2024),
        CommitteeLink("H0XX00001", "C00000002", None, "A", 2024),
    ]
    assert found.unresolved == ["H0XX00003"]
    assert found.committees == 3 and found.history_requests == 0
    # Every designation but J, whatever the latest one is; sorted on a unique key.
    assert sent(api.calls[0]) == [
        ("candidate_id", "H0XX00001"), ("candidate_id", "S0XX00002"),
        ("candidate_id", "H0XX00003"), ("designation", "P"), ("designation", "A"),
        ("designation", "U"), ("designation", "D"), ("designation", "B"),
        ("cycle", "2022"), ("cycle", "2024"), ("sort", "committee_id"), ("per_page", "100"),
        ("page", "1"),
    ]
    assert client.stats.lookups == 1 and client.stats.schedule_a == 0


def test_a_principal_committee_turned_pac_counts_in_its_campaign_cycles(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([
        committee("C00000001", ["H0XX00001"], [2020, 2022, 2024, 2026], designation="D"),
        committee("C00000002", ["S6XX00002"], [2024, 2026], designation="U"),
    ], 1, 1))
    api.get(MOCK_BASE + "/committee/C00000001/history/", json=history(
        "C00000001", (2026, "D", None), (2024, "D", "H0XX00001"), (2022, "P", None),
        (2020, "P", None)))
    api.get(MOCK_BASE + "/committee/C00000002/history/", json=history(
        "C00000002", (2026, "U", None), (2024, "U", None)))
    kept: list[list[CycleDesignation]] = []
    found = fetch_committees(client, ["H0XX00001", "S6XX00002"], [2022, 2024, 2026],
                             on_history=kept.append)
    assert found.links == [
        CommitteeLink("H0XX00001", "C00000001", "FRIENDS OF X", "P", 2022),
        # the cycle it was converted in: its committee until then, recorded as it ended
        CommitteeLink("H0XX00001", "C00000001", "FRIENDS OF X", "D", 2024),
    ]
    assert found.unresolved == ["S6XX00002"]
    assert found.history_requests == 2 and client.stats.lookups == 3
    assert sent(api.calls[1]) == [("sort", "-cycle"), ("per_page", "100"), ("page", "1")]
    assert [row.cycle for row in kept[0]] == [2026, 2024, 2022, 2020]
    assert kept[0][1] == CycleDesignation("C00000001", 2024, "D", "H0XX00001")


def test_known_cycles_are_never_asked_for_again(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([
        committee("C00000001", ["H0XX00001"], [2022, 2024, 2026], designation="D"),
        committee("C00000002", ["H0XX00001"], [2022, 2024], designation="U"),
    ], 1, 1))
    known = {
        ("C00000001", 2022): CycleDesignation("C00000001", 2022, "P"),
        ("C00000001", 2024): CycleDesignation("C00000001", 2024, "D", "H0XX00001"),
        # a PAC at the end of 2022 is no campaign committee in any later cycle
        ("C00000002", 2022): CycleDesignation("C00000002", 2022, "U"),
    }
    found = fetch_committees(client, ["H0XX00001"], [2022, 2024, 2026], known=known)
    assert [(link.committee_id, link.cycle) for link in found.links] == [
        ("C00000001", 2022), ("C00000001", 2024)]
    assert found.history_requests == 0 and len(api.calls) == 1


def test_chunks_candidates_and_follows_page_numbers(
    client: FecClient, api: responses.RequestsMock
) -> None:
    ids = [f"H0XX{n:05d}" for n in range(CANDIDATES_PER_REQUEST + 30)]
    first, second = ids[:CANDIDATES_PER_REQUEST], ids[CANDIDATES_PER_REQUEST:]

    def expect(chunk: list[str], page_no: int, reply: dict[str, Any]) -> None:
        api.get(URL, json=reply, match=[matchers.query_param_matcher(
            {"candidate_id": chunk, "page": str(page_no)}, strict_match=False)])

    expect(first, 1, page([committee("C00000001", [ids[0]], [2024])], 1, 2, count=2))
    expect(first, 2, page([committee("C00000002", [ids[99]], [2024])], 2, 2, count=2))
    expect(second, 1, page([committee("C00000003", [ids[100], ids[129]], [2024])], 1, 1))
    found = fetch_committees(client, ids, [2024])
    assert [(link.candidate_id, link.committee_id) for link in found.links] == [
        (ids[0], "C00000001"), (ids[99], "C00000002"),
        (ids[100], "C00000003"), (ids[129], "C00000003"),
    ]
    assert len(found.unresolved) == len(ids) - 4
    assert len(api.calls) == 3 and client.stats.lookups == 3


def test_pages_that_do_not_add_up_to_the_count_are_an_error(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([committee("C00000001", ["H0XX00001"], [2024])], 1, 2, count=3))
    api.get(URL, json=page([committee("C00000002", ["H0XX00001"], [2024])], 2, 2, count=3))
    with pytest.raises(TransientError) as caught:
        fetch_committees(client, ["H0XX00001"], [2024])
    assert str(caught.value) == ("The API's pages of /committees/ did not add up: it counted "
                                 "3 records but its pages held 2")


def test_a_committee_on_two_pages_is_an_error(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([committee("C00000001", ["H0XX00001"], [2024])], 1, 2, count=2))
    api.get(URL, json=page([committee("C00000001", ["H0XX00001"], [2024])], 2, 2, count=2))
    with pytest.raises(TransientError, match="page 2 repeated C00000001"):
        fetch_committees(client, ["H0XX00001"], [2024])


def test_stops_on_an_empty_page_even_if_pages_says_more(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([], 1, 7))
    found = fetch_committees(client, ["H0XX00001"], [2024])
    assert (found.links, found.unresolved) == ([], ["H0XX00001"])
    assert len(api.calls) == 1


def test_invalid_ids_are_never_sent_and_come_back_unresolved(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([committee("C00000001", ["H0XX00001"], [2024])], 1, 1))
    found = fetch_committees(client, ["H0XX00001", "X123", ""], [2024])
    assert [link.candidate_id for link in found.links] == ["H0XX00001"]
    assert found.unresolved == ["X123"]  # blanks are dropped
    assert [v for k, v in sent(api.calls[0]) if k == "candidate_id"] == ["H0XX00001"]


def test_nothing_to_resolve_sends_nothing(client: FecClient, api: responses.RequestsMock) -> None:
    found = fetch_committees(client, [], [2024])
    assert (found.links, found.unresolved) == ([], [])
    assert len(api.calls) == 0
    with pytest.raises(ValueError):
        fetch_committees(client, ["H0XX00001"], [])


@pytest.mark.parametrize(("ids", "committees", "next_ids"), [
    (100, 120, 75),  # 120 committees took two pages: ask for fewer ids next time
    (80, 60, 100),  # room to spare: as many as a request carries
    (100, 0, 100),  # nothing learned
    (3, 1000, 1),
])
def test_ids_per_request_aims_at_one_page(ids: int, committees: int, next_ids: int) -> None:
    assert ids_per_request(ids, committees) == next_ids
