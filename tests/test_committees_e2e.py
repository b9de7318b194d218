"""The real CLI against the fake: campaign committees resolved cycle by cycle (a principal
committee since turned leadership PAC), look-ups that page without losing tied names, and
what the look-ups cost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fec import committees
from fec.budget import RateBudget
from fec.client import FecClient
from tests.dbtools import query
from tests.fake_openfec import FakeOpenFec, generate_world
from tests.support import KEY, Cli, db_rows, expected_rows


def test_a_principal_committee_now_a_leadership_pac(tmp_path: Path) -> None:
    world = generate_world(seed=7, politicians=12, cycles=(2022, 2024, 2026), rows_scale=0.5)
    pac, member = world.specials.converted_committee, world.specials.converted_bioguide
    assert world.committees[pac].latest_designation == "D"
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        cli = Cli(fake, tmp_path / "pac.db")
        code, _, stderr = cli.run_json("--cycle", "2022")
        assert code == 0, stderr
        campaign_2022 = world.expected_sub_ids([pac], [2022])
        assert campaign_2022 and campaign_2022 <= set(db_rows(cli.db))
        assert db_rows(cli.db) == expected_rows(world, cycles=(2022,))
        assert query(cli.db, "SELECT bioguide_id, designation FROM fec_mappings"
                             " WHERE committee_id = ? AND cycle = 2022", (pac,)) == [(member, "P")]
        fake.reset_log()
        code, _, stderr = cli.run_json("--cycle", "2024", "--cycle", "2026")
        assert code == 0, stderr
        # Its history was kept: the closed cycles are never asked for again.
        assert not any(e.path.startswith(f"/v1/committee/{pac}/") for e in fake.log)
    pac_2026 = world.expected_sub_ids([pac], [2026])
    assert pac_2026 and not pac_2026 & set(db_rows(cli.db))  # a PAC's receipts, not campaign
    assert db_rows(cli.db) == expected_rows(world, cycles=(2022, 2024, 2026))
    assert query(cli.db, "SELECT cycle, designation FROM fec_mappings WHERE committee_id = ?"
                         " ORDER BY cycle", (pac,)) == [(2022, "P"), (2024, "D")]
    assert query(cli.db, "SELECT DISTINCT two_year_transaction_period FROM donations"
                         " WHERE committee_id = ? ORDER BY 1", (pac,)) == [(2022,), (2024,)]


def test_tied_names_across_page_boundaries_lose_nothing(tmp_path: Path) -> None:
    # 60 campaign committees share one name; look-ups need several pages of 100.
    world = generate_world(seed=4, politicians=150, cycles=(2026,), rows_scale=0.02,
                           same_name=60)
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        cli = Cli(fake, tmp_path / "ties.db")
        code, _, stderr = cli.run_json("--cycle", "2026")
        assert code == 0, stderr
        pages = [e for e in fake.log if e.path == "/v1/committees/"]
        assert any(e.params["page"] == ["2"] for e in pages)
        assert all(e.params["sort"] == ["committee_id"] for e in pages)
    mapped = {row[0] for row in query(cli.db, "SELECT DISTINCT committee_id FROM fec_mappings")}
    assert mapped == {cid for cid, _ in world.campaign_units((2026,))}
    assert set(world.specials.same_name_committees) & mapped
    assert db_rows(cli.db) == expected_rows(world, cycles=(2026,))


def test_tied_names_on_small_pages_lose_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages of 20 so that the 40 committees of one name straddle several page boundaries.
    world = generate_world(seed=4, politicians=60, cycles=(2026,), rows_scale=0.02,
                           same_name=40)
    monkeypatch.setattr(committees, "PER_PAGE", 20)
    ids = sorted({cid for leg in world.legislators for cid in leg.fec_ids})
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        client = FecClient(KEY, fake.url, budget=RateBudget(1000))
        try:
            for _ in range(3):  # the fake orders ties anew on every request
                found = committees.fetch_committees(client, ids, [2026])
                linked = {(link.committee_id, link.cycle) for link in found.links}
                assert linked == world.campaign_units((2026,))
        finally:
            client.close()
        assert fake.count(kind="lookup") >= 3 * 5


def test_the_weekly_refresh_asks_no_history_again(tmp_path: Path) -> None:
    # Committees with no cycle before this one: only what was learned of 2026 can settle them.
    world = generate_world(seed=7, politicians=30, cycles=(2026,), rows_scale=0.3)
    with FakeOpenFec(world, api_keys=(KEY,)) as fake:
        cli = Cli(fake, tmp_path / "weekly.db")
        assert cli.run("--cycle", "2026").returncode == 0
        histories = [e.path for e in fake.log if "/history" in e.path]
        assert histories  # committees whose latest designation is not P/A
        with sqlite3.connect(cli.db) as conn:  # a week later: every mapping is due again
            conn.execute("UPDATE resolutions SET resolved_at = '2000-01-01T00:00:00Z'")
        conn.close()
        fake.reset_log()
        assert cli.run("--cycle", "2026", "--refresh-after", "0").returncode == 0
        assert fake.count(kind="lookup") > 0
        assert not [e.path for e in fake.log if "/history" in e.path]
    assert db_rows(cli.db) == expected_rows(world, cycles=(2026,))
