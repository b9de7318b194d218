"""fetch_committees: candidate ids chunked into few requests, page-number paging, mapping."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from responses import matchers

from fec.client import FecClient
from fec.committees import CANDIDATES_PER_REQUEST, CommitteeLink, fetch_committees
from tests.support import MOCK_BASE

URL = MOCK_BASE + "/committees/"


def committee(cid: str, candidates: list[str], cycles: list[int], designation: str = "P",
              name: str | None = "FRIENDS OF X") -> dict[str, Any]:
    return {"committee_id": cid, "name": name, "designation": designation,
            "candidate_ids": candidates, "cycles": cycles, "committee_type": "H"}


def page(results: list[dict[str, Any]], page_no: int, pages: int) -> dict[str, Any]:
    return {"api_version": "1.0", "results": results,
            "pagination": {"page": page_no, "pages": pages, "per_page": 100,
                           "count": len(results), "is_count_exact": True}}


def sent(call: Any) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(call.request.url).query)


def test_maps_committees_to_each_requested_candidate_and_cycle(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([
        committee("C00000001", ["H0XX00001", "S0XX00002"], [2020, 2022, 2024]),
        committee("C00000002", ["H0XX00001"], [2024], designation="A", name=None),
        committee("C00000003", ["H0XX00001"], [2024], designation="J"),  # not a campaign cmte
        committee("C00000004", ["H0XX00009"], [2024]),  # not asked for
    ], 1, 1))
    links, unresolved = fetch_committees(
        client, ["H0XX00001", "s0xx00002", "H0XX00003", "H0XX00001"], [2022, 2024]
    )
    assert links == [
        CommitteeLink("H0XX00001", "C00000001", "FRIENDS OF X", "P", 2022),
        CommitteeLink("H0XX00001", "C00000001", "FRIENDS OF X", "P", 2024),
        CommitteeLink("S0XX00002", "C00000001", "FRIENDS OF X", "P", 2022),
        CommitteeLink("S0XX00002", "C00000001", "FRIENDS OF X", "P", 2024),
        CommitteeLink("H0XX00001", "C00000002", None, "A", 2024),
    ]
    assert unresolved == ["H0XX00003"]
    assert sent(api.calls[0]) == [
        ("candidate_id", "H0XX00001"), ("candidate_id", "S0XX00002"),
        ("candidate_id", "H0XX00003"), ("designation", "P"), ("designation", "A"),
        ("cycle", "2022"), ("cycle", "2024"), ("per_page", "100"), ("page", "1"),
    ]
    assert client.stats.lookups == 1 and client.stats.schedule_a == 0


def test_chunks_candidates_and_follows_page_numbers(
    client: FecClient, api: responses.RequestsMock
) -> None:
    ids = [f"H0XX{n:05d}" for n in range(CANDIDATES_PER_REQUEST + 30)]
    first, second = ids[:CANDIDATES_PER_REQUEST], ids[CANDIDATES_PER_REQUEST:]

    def expect(chunk: list[str], page_no: int, reply: dict[str, Any]) -> None:
        api.get(URL, json=reply, match=[matchers.query_param_matcher(
            {"candidate_id": chunk, "page": str(page_no)}, strict_match=False)])

    expect(first, 1, page([committee("C00000001", [ids[0]], [2024])], 1, 2))
    expect(first, 2, page([committee("C00000002", [ids[99]], [2024])], 2, 2))
    expect(second, 1, page([committee("C00000003", [ids[100], ids[129]], [2024])], 1, 1))
    links, unresolved = fetch_committees(client, ids, [2024])
    assert [(link.candidate_id, link.committee_id) for link in links] == [
        (ids[0], "C00000001"), (ids[99], "C00000002"),
        (ids[100], "C00000003"), (ids[129], "C00000003"),
    ]
    assert len(unresolved) == len(ids) - 4
    assert len(api.calls) == 3 and client.stats.lookups == 3


def test_stops_on_an_empty_page_even_if_pages_says_more(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([], 1, 7))
    links, unresolved = fetch_committees(client, ["H0XX00001"], [2024])
    assert (links, unresolved) == ([], ["H0XX00001"])
    assert len(api.calls) == 1


def test_invalid_ids_are_never_sent_and_come_back_unresolved(
    client: FecClient, api: responses.RequestsMock
) -> None:
    api.get(URL, json=page([committee("C00000001", ["H0XX00001"], [2024])], 1, 1))
    links, unresolved = fetch_committees(client, ["H0XX00001", "X123", ""], [2024])
    assert [link.candidate_id for link in links] == ["H0XX00001"]
    assert unresolved == ["X123"]  # blanks are dropped
    assert [v for k, v in sent(api.calls[0]) if k == "candidate_id"] == ["H0XX00001"]


def test_nothing_to_resolve_sends_nothing(client: FecClient, api: responses.RequestsMock) -> None:
    assert fetch_committees(client, [], [2024]) == ([], [])
    assert len(api.calls) == 0
    with pytest.raises(ValueError):
        fetch_committees(client, ["H0XX00001"], [])
