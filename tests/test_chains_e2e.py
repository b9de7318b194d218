"""Keyset chains end to end: the fake pages a union of committees as OpenFEC does, a chain
killed mid-way resumes as itself from its cursor, and a stored cursor the API now refuses
starts its pass over."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import requests

from tests.dbtools import query
from tests.fake_openfec import FakeOpenFec, generate_world
from tests.support import CYCLES, KEY, Cli, db_rows, expected_rows, kill_mid_run


def get(fake: FakeOpenFec, **params: Any) -> dict[str, Any]:
    response = requests.get(fake.url + "/schedules/schedule_a/", params=params,
                            headers={"X-Api-Key": KEY}, timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_the_fake_pages_a_union_in_one_order_with_one_limit_and_its_count(world, fake) -> None:
    ids = sorted(world.campaign_committee_ids)[:4]
    want = {s for s, r in world.expected_rows(committee_ids=ids, cycles=[2024]).items()}
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"committee_id": ids, "two_year_transaction_period": 2024,
                              "per_page": 7, "sort": "contribution_receipt_date"}
    cursor: dict[str, Any] | None = {}
    while cursor is not None:
        body = get(fake, **params, **cursor)
        assert len(body["results"]) <= 7
        assert (body["pagination"]["count"], body["pagination"]["is_count_exact"]) == (
            len(want), True)
        seen += body["results"]
        cursor = body["pagination"]["last_indexes"]
    assert [r["sub_id"] for r in seen if r["sub_id"] not in want] == []
    assert sorted(r["sub_id"] for r in seen) == sorted(want)  # each once
    order = [(r["contribution_receipt_date"] is None, r["contribution_receipt_date"] or "",
              int(r["sub_id"])) for r in seen]
    assert order == sorted(order)  # one order over the union: date, NULLs last, sub_id
    assert {r["committee_id"] for r in seen} == set(ids) & {r["committee_id"] for r in seen}


def _count_probe(world, ids: list[str], limit: int) -> dict[str, Any]:
    with FakeOpenFec(world, api_keys=(KEY,), exact_count_limit=limit) as fake:
        body = get(fake, committee_id=ids, two_year_transaction_period=2026, per_page=1)
    pagination: dict[str, Any] = body["pagination"]
    return pagination


def test_the_planners_estimate_not_the_count_decides_whether_the_count_is_exact(world) -> None:
    # openfec-api.md §2.3: an EXPLAIN estimate above the limit gives that estimate, flagged;
    # otherwise an exact count(*) runs, even where the true count is above the limit.
    ids = sorted(world.campaign_committee_ids)[:3]
    truth = world.expected_count(committee_ids=ids, cycles=[2026])
    estimate = _count_probe(world, ids, 0)
    assert estimate["is_count_exact"] is False
    guess = estimate["count"]
    assert guess != truth and abs(guess - truth) <= 0.15 * truth
    low, high = sorted((guess, truth))
    at_the_guess = _count_probe(world, ids, guess)  # the estimate is within the limit
    assert (at_the_guess["count"], at_the_guess["is_count_exact"]) == (truth, True)
    below = _count_probe(world, ids, guess - 1)
    assert (below["count"], below["is_count_exact"]) == (guess, False)
    # between the two, the true count and the flag disagree with a rule on the count
    between = _count_probe(world, ids, (low + high) // 2)
    if guess > truth:  # a true count under the limit still comes back as an estimate
        assert (between["count"], between["is_count_exact"]) == (guess, False)
    else:  # a true count over the limit comes back exact
        assert (between["count"], between["is_count_exact"]) == (truth, True)


def stored_chains(db: Path) -> dict[int, tuple[tuple[str, ...], dict[str, Any]]]:
    rows = query(db, "SELECT chain_id, committee_id, cursor FROM sync_state"
                 " WHERE status = 'running' AND cursor IS NOT NULL")
    chains: dict[int, tuple[tuple[str, ...], dict[str, Any]]] = {}
    for chain_id, committee_id, cursor in rows:
        members, _ = chains.get(chain_id, ((), {}))
        chains[chain_id] = (tuple(sorted((*members, committee_id))), json.loads(cursor))
    return chains


def test_a_chain_killed_mid_way_resumes_as_itself_from_its_cursor(tmp_path: Path) -> None:
    world = generate_world(seed=3, politicians=30, cycles=CYCLES, rows_scale=1.0)
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        cli = Cli(fake, tmp_path / "chains.db")
        killed, _, _ = kill_mid_run(cli, fake, 12, "--batch-size", "20", "--concurrency", "2",
                                    "--no-verify")  # after 12 pages: mid-chain by construction
        assert killed == -signal.SIGKILL
        chains = stored_chains(cli.db)
        assert chains and any(len(members) > 1 for members, _ in chains.values())
        assert 0 < len(db_rows(cli.db)) < len(expected_rows(world))
        fake.reset_log()
        code, _, stderr = cli.run_json("--batch-size", "20", "--concurrency", "2")
    assert code == 0, stderr
    assert db_rows(cli.db) == expected_rows(world)
    first_sent: dict[tuple[str, ...], str | None] = {}
    for entry in fake.log:
        if entry.kind == "schedule_a" and entry.params["per_page"] != ["1"]:
            key = tuple(sorted(entry.params["committee_id"]))
            first_sent.setdefault(key, (entry.params.get("last_index") or [None])[0])
    for members, cursor in chains.values():  # the same committees, from the same cursor
        assert first_sent[members] == cursor["last_index"]


def test_a_stored_cursor_the_api_now_refuses_starts_its_pass_over(cli: Cli, world,
                                                                   fake: FakeOpenFec) -> None:
    code, _, _ = cli.run_json("--batch-size", "20", "--max-requests", "12", "--no-verify")
    assert code == 75
    with sqlite3.connect(cli.db) as conn:  # cursors written by an API that sent timestamps
        rows = conn.execute("SELECT committee_id, cycle, cursor FROM sync_state"
                            " WHERE cursor LIKE '%last_contribution_receipt_date%'").fetchall()
        assert rows
        for committee_id, cycle, cursor in rows:
            old = json.loads(cursor)
            old["last_contribution_receipt_date"] += "T00:00:00"
            conn.execute("UPDATE sync_state SET cursor = ? WHERE committee_id = ? AND cycle = ?",
                         (json.dumps(old), committee_id, cycle))
    conn.close()
    cli.quiet = False
    code, report, stderr = cli.run_json("--batch-size", "20")
    assert code == 0, stderr
    assert "refused the stored cursor" in stderr and "starting this pass over" in stderr
    assert report["units"]["failed"] == 0
    assert db_rows(cli.db) == expected_rows(world)
    refused = [e for e in fake.log if e.status == 422]
    assert 0 < len(refused) <= len({c for c in (r[0] for r in rows)})
