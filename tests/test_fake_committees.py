"""The fake's committee views and gateway against the real API's behaviour (openfec-api.md §4,
§9): designations that change between cycles and the history views that show them, ties on
a name sort that move between requests, and api.data.gov's sliding rate-limit estimate."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fake_openfec import FakeOpenFec, World, generate_world
from tests.fake_openfec.gateway import SlidingEstimate

KEY = "test-key"
Json = dict[str, Any]


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(seed=7, politicians=12, cycles=(2022, 2024, 2026), rows_scale=0.3)


@pytest.fixture(scope="module")
def fake(world: World) -> Iterator[FakeOpenFec]:
    with FakeOpenFec(world) as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["X-Api-Key"] = KEY
        yield session


def get(http: requests.Session, fake: FakeOpenFec, path: str, **params: Any) -> tuple[int, Json]:
    with http.get(fake.url + path, params=params) as response:
        return response.status_code, response.json()


def rows(body: Json, *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(record[key] for key in keys) for record in body["results"]]


def test_a_principal_committee_turned_leadership_pac(world: World, fake, http) -> None:
    cid = world.specials.converted_committee
    com = world.committees[cid]
    former = com.candidate_ids[0]
    _, listed = get(http, fake, "/committees/", candidate_id=former)
    # The list keeps one row per committee, with its latest cycle's designation.
    assert rows(listed, "committee_id", "designation", "sponsor_candidate_ids") == [
        (cid, "D", [com.conversion.sponsor])]
    _, by_designation = get(http, fake, "/committees/", candidate_id=former, designation="P")
    assert by_designation["results"] == []
    status, history = get(http, fake, f"/committee/{cid.lower()}/history/")
    assert status == 200
    assert rows(history, "cycle", "designation", "convert_to_pac_flag",
                "former_candidate_id") == [
        (2026, "D", False, None), (2024, "D", True, former), (2022, "P", False, None),
        (2020, "P", False, None), (2018, "P", False, None)]
    assert history["pagination"] == {"page": 1, "per_page": 20, "count": 5, "pages": 1,
                                     "is_count_exact": True}
    _, one = get(http, fake, f"/committee/{cid}/history/2022/")
    assert rows(one, "cycle", "designation", "committee_type") == [(2022, "P", "H")]


def test_candidate_history_reads_cycle_as_an_election_year_unless_told(
    world: World, fake, http
) -> None:
    cid = world.specials.converted_committee
    com = world.committees[cid]
    former, sponsor = com.candidate_ids[0], com.conversion.sponsor
    path = f"/candidate/{former}/committees/history/"
    _, every = get(http, fake, path)
    assert sorted(rows(every, "cycle", "designation")) == [
        (2018, "P"), (2020, "P"), (2022, "P"), (2024, "D")]  # linked until its conversion
    _, two_years = get(http, fake, path + "2026/", election_full="false")
    assert two_years["results"] == []
    # The senator's election year: a six-year term from the first cycle of his committee.
    senate = next(c for c in world.committees_of_candidate(sponsor))
    election = senate.cycles[0] + 6 * math.ceil((2026 - senate.cycles[0]) / 6)
    _, term = get(http, fake, f"/candidate/{sponsor}/committees/history/{election}/")
    found = dict(rows(term, "committee_id", "cycle"))
    assert found[senate.committee_id] == max(c for c in senate.cycles if c <= election)
    assert found[cid] == 2026  # the leadership PAC he sponsors, at its latest cycle
    _, plain = get(http, fake, f"/candidate/{sponsor}/committees/history/2026/",
                   election_full="false")
    assert cid not in dict(rows(plain, "committee_id", "cycle"))


@pytest.mark.parametrize(("path", "params", "status", "message"), [
    ("/committee/C123/history/", {}, 422,
     "Invalid committee_id. A valid committee_id begins with a 'C' followed by 8 digits. "
     "For example: C00100005."),
    ("/candidate/Q1/committees/history/2024/", {}, 422,
     "Invalid candidate_id. A valid candidate_id begins with a 'P' or 'H' or 'S' followed by 8 "
     "letters or numbers. For example: P00000034, S6MI00103, H0LA01087."),
    ("/committee/C00000001/history/", {"sort": "receipts"}, 422,
     'Cannot sort on value "receipts". Instead choose one of: "committee_id", "committee_id", '
     '"cycle", "cycle", "designation", "first_f1_date", "first_file_date", "last_f1_date", '
     '"last_file_date", "name", "state"'),
    ("/committee/C00000001/history/", {"per_page": 101}, 422,
     "Parameter 'per_page' must be between 1 and 100"),
    ("/committee/C00000001/history/", {"election_full": "maybe"}, 422,
     {"query": {"election_full": ["Not a valid boolean."]}}),
    ("/committee/C00000001/history/twenty/", {}, 404, "Not found"),
])
def test_history_errors(fake, http, path: str, params: Json, status: int, message: Any) -> None:
    assert get(http, fake, path, **params) == (status, {"message": message, "status": status})


def test_ties_on_a_name_sort_move_between_requests_and_committee_id_does_not() -> None:
    world = generate_world(seed=4, politicians=60, cycles=(2026,), rows_scale=0.05,
                           same_name=40)
    assert len(world.specials.same_name_committees) == 40
    with FakeOpenFec(world) as fake, requests.Session() as http:
        http.headers["X-Api-Key"] = KEY

        def scan(**params: Any) -> list[str]:
            found: list[str] = []
            for number in range(1, 100):
                _, body = get(http, fake, "/committees/", per_page=20, page=number, **params)
                found += [record["committee_id"] for record in body["results"]]
                if number >= body["pagination"]["pages"]:
                    return found
            raise AssertionError("no last page")

        by_name = [scan() for _ in range(3)]
        # A scan sorted on name alone skips some committees and repeats others.
        assert any(len(set(ids)) < len(world.committees) for ids in by_name)
        assert len({tuple(ids) for ids in by_name}) > 1
        by_id = scan(sort="committee_id")
        assert by_id == sorted(world.committees) == scan(sort="committee_id")


def test_sliding_estimate_rises_refuses_with_retry_after_and_can_overrun() -> None:
    now = [1000.0]  # the start of a 10-second period
    gateway = SlidingEstimate(10, 10.0, clock=lambda: now[0])
    now[0] = 1009.0
    assert [gateway.hit("k")[:2] for _ in range(10)] == [(True, 10 - n) for n in range(1, 11)]
    assert gateway.hit("k") == (False, 0, 2)  # over the limit: until the period ends, + 1
    now[0] = 1010.5
    assert gateway.hit("k") == (False, 0, 1)  # refused until then, whatever the estimate
    now[0] = 1012.0  # the next period: the last one's 10 count for 8/10 of a window
    assert [gateway.hit("k") for _ in range(3)] == [(True, 1, 0.0), (True, 0, 0.0),
                                                    (False, 0, 4)]
    # Retry-After counts from the period's start, as the gateway's does (3 s in, + 1).
    now[0] = 1016.5
    assert gateway.hit("k") == (True, 4, 0.0)  # 3 + floor(10 * 0.35) = 6: Remaining rose
    # Ten at 1009, two at 1012, one at 1016.5: thirteen within one 10-second window.
    assert gateway.busiest("k") == 13
    assert gateway.hit("other")[:2] == (True, 9)  # per key
