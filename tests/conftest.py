"""Shared fixtures: a fake OpenFEC on 127.0.0.1, the real CLI against it, databases and
clients. Helpers that test files import live in tests/support.py."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from hypothesis import settings
from responses.registries import OrderedRegistry

from db import schema
from fec.budget import RateBudget
from fec.client import FecClient
from tests.exploretools import Explored, sync_explored
from tests.fake_openfec import FakeOpenFec, World, generate_world
from tests.support import CYCLES, KEY, MOCK_BASE, Cli

# make mutation runs the property tests with `--hypothesis-profile=mutation`: the same
# examples for every mutant, so a verdict does not depend on the draw.
settings.register_profile("mutation", derandomize=True, database=None)


@pytest.fixture
def world() -> World:
    return generate_world(seed=7, politicians=12, cycles=CYCLES, rows_scale=0.5)


@pytest.fixture
def fake(world: World) -> Iterator[FakeOpenFec]:
    with FakeOpenFec(world, api_keys=(KEY, "DEMO_KEY")) as server:
        yield server


@pytest.fixture
def cli(fake: FakeOpenFec, tmp_path: Path) -> Cli:
    return Cli(fake, tmp_path / "donations.db")


@pytest.fixture(scope="session")
def explored(tmp_path_factory: pytest.TempPathFactory) -> Explored:
    """One synced-then-amended database for every test of the explore views, search and
    launcher: each syncs the same world, and none writes to the file (they copy it first)."""
    return sync_explored(tmp_path_factory.mktemp("explored"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "donations.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(schema.connect(db_path)) as connection:
        yield connection


@pytest.fixture
def client() -> Iterator[FecClient]:
    """A client of MOCK_BASE with a generous budget and near-zero retry backoff."""
    fec = FecClient("test-key-0123456789", MOCK_BASE, budget=RateBudget(1000),
                    backoff_factor=0.001)
    yield fec
    fec.close()


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Mocked HTTP answered strictly in the order registered; each must be asked for."""
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        yield mock
