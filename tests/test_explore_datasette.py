"""Datasette with the project's metadata, through Datasette's own in-process client, and the
`make explore` launcher (db/browse.py) as a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import shlex
import shutil
import sqlite3
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():  # see quiet_datasette
    warnings.simplefilter("ignore", ResourceWarning)
    from datasette.app import Datasette

    gc.collect()

from db import browse, explore
from db.schema import MIGRATIONS
from tests.dbtools import query
from tests.exploretools import (
    Explored,
    cycle_totals,
    matching,
    member_rows,
    members,
    stored_records,
    top_contributors,
    top_employers,
    words,
)
from tests.support import CYCLES, ROOT


@contextlib.contextmanager
def quiet_datasette(db: Path) -> Iterator[Datasette]:
    """A Datasette serving `db` with the project's metadata, closed afterwards.

    Datasette 0.65 leaves SQLite connections of its own to the garbage collector, which
    Python 3.13 reports as ResourceWarning (an error in this test suite): while it runs
    those are ignored, and they are collected before it is left."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        ds = Datasette([str(db)], metadata=browse.datasette_metadata(db.stem))
        try:
            yield ds
        finally:
            if ds.executor is not None:
                ds.executor.shutdown(wait=True)
            for database in ds.databases.values():
                database.close()
            del ds
            gc.collect()


def fetch(db: Path, *paths: str) -> list[httpx.Response]:
    """GET each path from a Datasette serving `db` with the project's metadata."""

    async def run(ds: Datasette) -> list[httpx.Response]:
        await ds.invoke_startup()
        return [await ds.client.get(path) for path in paths]

    with quiet_datasette(db) as ds:
        responses = asyncio.run(run(ds))
    assert [r.status_code for r in responses] == [200] * len(paths), [r.url for r in responses]
    return responses


def busiest_member(explored: Explored, cycle: int = 2026) -> tuple[str, str]:
    """(bioguide, a search string that only its name contains) of the member most given to."""
    sizes = {b: len(r) for (b, c), r in member_rows(explored.world).items() if c == cycle}
    bioguide = max(sizes, key=sizes.__getitem__)
    names = {b: n for b, (n, *_) in members(explored.world).items()}
    first, last = names[bioguide].split()
    unique = sum(last.lower() in n.lower() for n in names.values()) == 1
    pick = last if unique else f"{first} {last}"
    return bioguide, pick


def test_the_main_table_has_its_description_search_and_facets(explored: Explored) -> None:
    page, data = fetch(explored.db, "/donations/donations", "/donations/donations.json?_size=1")
    assert 'name="_search"' in page.text
    assert "as the API gave it" in page.text and "Public domain" in page.text
    body = data.json()
    records = stored_records(explored)
    assert body["filtered_table_rows_count"] == len(records)
    facets = body["facet_results"]
    assert list(facets) == ["two_year_transaction_period", "entity_type", "contributor_state"]
    cycles = {f["value"]: f["count"] for f in facets["two_year_transaction_period"]["results"]}
    assert cycles == Counter(r["two_year_transaction_period"] for r in records.values())
    entities = {f["value"]: f["count"] for f in facets["entity_type"]["results"]}
    assert entities == Counter(r["entity_type"] for r in records.values())


def test_a_view_filtered_by_member(explored: Explored) -> None:
    bioguide, _ = busiest_member(explored)
    name = members(explored.world)[bioguide][0]
    page, data = fetch(explored.db, f"/donations/member_cycle_totals?bioguide_id={bioguide}",
                       f"/donations/member_cycle_totals.json?bioguide_id={bioguide}"
                       "&_shape=array")
    assert name in page.text and "add up to total_amount" in page.text
    want = {c: v for (b, c), v in cycle_totals(explored.world).items() if b == bioguide}
    got = {row["cycle"]: (row["itemized_receipts"], row["total_amount"],
                          row["from_individuals"], row["from_committees"], row["from_others"],
                          row["distinct_contributors"], row["committees"],
                          row["through_shared_committees"]) for row in data.json()}
    assert got == want and set(got) == set(CYCLES)


def test_the_canned_query_for_a_members_top_donors(explored: Explored) -> None:
    bioguide, typed = busiest_member(explored)
    name = members(explored.world)[bioguide][0]
    path = f"/donations/top_donors_of_a_member?member={typed.replace(' ', '+')}&cycle=2026"
    page, data = fetch(explored.db, path, path.replace("?", ".json?") + "&_shape=array")
    rows = data.json()
    want = sorted((rank, receipts, total) for (b, c, _), (rank, receipts, total)
                  in top_contributors(explored.world).items()
                  if b == bioguide and c == 2026 and rank <= 25)
    assert sorted((r["rank"], r["receipts"], r["total_amount"]) for r in rows) == want
    assert {r["member_name"] for r in rows} == {name} and len(rows) >= 25
    assert rows[0]["contributor_name"] in page.text and "A member&#39;s top donors" in page.text


def test_the_canned_query_for_a_members_top_employers(explored: Explored) -> None:
    bioguide, _ = busiest_member(explored)
    data, = fetch(explored.db, "/donations/top_employers_of_a_member.json"
                               f"?member={bioguide.lower()}&cycle=&_shape=array")
    got = {(r["cycle"], r["employer"]): (r["rank"], r["contributors"], r["receipts"],
                                         r["total_amount"]) for r in data.json()}
    want = {(c, e): v for (b, c, e), v in top_employers(explored.world).items()
            if b == bioguide and v[0] <= 25}
    assert got == want and {c for c, _ in got} == set(CYCLES)


def test_canned_queries_hide_no_table_or_view(explored: Explored) -> None:
    """Datasette serves a canned query in place of a table or view of the same name."""
    queries = browse.datasette_metadata("donations")["databases"]["donations"]["queries"]
    names = {name for (name,) in query(
        explored.db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert len(queries) == 4 and not set(queries) & names


def test_a_canned_query_without_a_member_shows_nothing(explored: Explored) -> None:
    data, = fetch(explored.db,
                  "/donations/donations_to_a_member.json?member=&cycle=&_shape=array")
    assert data.json() == []


def test_search_on_the_table_and_on_the_view(explored: Explored) -> None:
    records = stored_records(explored)
    word = "contoso"
    table, view = fetch(explored.db, f"/donations/donations.json?_search={word}&_shape=array"
                                     "&_size=max&_col=sub_id",
                        f"/donations/donations_to_members.json?_search={word}&_shape=array"
                        "&_size=max&_col=sub_id&_col=bioguide_id")
    assert 20 < len(table.json()) < 1000
    assert {r["sub_id"] for r in table.json()} == matching(records, word)
    want = {(b, r["sub_id"]) for (b, _), rs in member_rows(explored.world).items() for r in rs
            if any(word in words(r[c]) for c in ("contributor_name", "contributor_employer",
                                                  "contributor_occupation"))}
    assert {(r["bioguide_id"], r["sub_id"]) for r in view.json()} == want


# --- the launcher ----------------------------------------------------------------------------


def browse_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "db.browse", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_make_explore_serves_any_file_name_with_the_metadata(explored: Explored,
                                                             tmp_path: Path) -> None:
    copy = tmp_path / "demo.db"
    shutil.copy(explored.db, copy)
    bioguide, _ = busiest_member(explored)
    proc = browse_cli(str(copy), "--get",
                      f"/demo/money_sources_of_a_member.json?member={bioguide}&_shape=array")
    assert proc.returncode == 0, proc.stderr
    got = {row["cycle"]: row["total_amount"] for row in json.loads(proc.stdout)}
    assert got == {c: v[1] for (b, c), v in cycle_totals(explored.world).items() if b == bioguide}


def test_make_explore_upgrades_an_older_file_first(explored: Explored, tmp_path: Path) -> None:
    copy = tmp_path / "donations.db"
    shutil.copy(explored.db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("DROP VIEW member_top_employers")
        conn.execute(f"PRAGMA user_version = {MIGRATIONS.index(explore.MIGRATION)}")
    conn.close()
    proc = browse_cli(str(copy), "--get", "/donations/member_top_employers.json?_size=1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["missing.db"], 1,
     "Error: missing.db does not exist; run `make sync` (or `make demo`) first\n"),
    ([], 2, "usage: python -m db.browse DATABASE [datasette serve options]\n"),
])
def test_make_explore_refuses_what_it_cannot_open(args: list[str], code: int,
                                                  message: str) -> None:
    proc = browse_cli(*args)
    assert (proc.returncode, proc.stderr, proc.stdout) == (code, message, "")
    assert not (ROOT / "missing.db").exists()


@pytest.mark.parametrize(("files", "env", "opened"), [
    ((), {}, "donations.db"),
    (("demo.db",), {}, "demo.db"),
    (("demo.db", "donations.db"), {}, "donations.db"),
    (("demo.db",), {"DONATIONS_DB": "data/nightly.db"}, "data/nightly.db"),
])
def test_make_explore_opens_the_synced_database(tmp_path: Path, files: tuple[str, ...],
                                                env: dict[str, str], opened: str) -> None:
    """Like `make sync`: DONATIONS_DB, else donations.db; after `make demo`, its demo.db."""
    for name in files:
        (tmp_path / name).touch()
    proc = subprocess.run(["make", "-s", "-n", "-f", str(ROOT / "Makefile"), "explore"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env})
    assert proc.returncode == 0, proc.stderr
    assert shlex.split(proc.stdout) == [".venv/bin/python", "-m", "db.browse", opened]
