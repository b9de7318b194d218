"""The orchestration in-process, without click or a subprocess: a whole run, the pipeline
alone, the outcome of errors, and signals turned into a stop."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from db import plan, schema
from db.lock import LockHeld, exclusive_lock
from db.schema import DatabaseError
from db.writer import CommitResult
from fec import errors
from fec.budget import RateBudget
from fec.client import FecClient
from sync.bootstrap import ensure_politicians, resolve_committees
from sync.options import Options
from sync.outcome import EXIT_OK, SelectionError, classify
from sync.pipeline import Pipeline
from sync.run import run_sync
from sync.signals import StopSignals
from tests.fake_openfec import FakeOpenFec
from tests.support import CYCLES, KEY, db_rows, expected_rows


def options(fake: FakeOpenFec, db: Path, **changes: Any) -> Options:
    values: dict[str, Any] = dict(
        db=str(db), api_key=KEY, api_url=fake.url, legislators=fake.legislators_url,
        reload_legislators=False, cycles=list(CYCLES), politicians=None, batch_size=20,
        concurrency=4, full=False, refresh_after=12.0, overlap_days=3, max_requests=None,
        max_wait=300.0, rate_limit=None, quiet=True)
    values.update(changes)
    return Options(**values)


def test_a_whole_run_in_process_equals_the_api(fake: FakeOpenFec, world, tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    result = run_sync(options(fake, db), StopSignals(threading.Event()))
    outcome = result.outcome
    assert (result.started, outcome.status, outcome.exit_code) == (True, "complete", EXIT_OK)
    assert outcome.units["complete"] == outcome.units["total"] == len(
        world.campaign_units(CYCLES))
    assert outcome.checks.verified == outcome.units["total"]
    assert result.stats.schedule_a == fake.count(kind="schedule_a")
    assert db_rows(db) == expected_rows(world)
    again = run_sync(options(fake, db), StopSignals(threading.Event())).outcome
    assert again.units["skipped"] == again.units["total"]  # fresh: no request spent


def test_the_pipeline_alone_pages_its_plans_through_one_writer(fake: FakeOpenFec, world,
                                                               tmp_path: Path) -> None:
    db = tmp_path / "pipeline.db"
    opts = options(fake, db)
    stop = threading.Event()
    client = FecClient(KEY, fake.url, budget=RateBudget(1000), stop=stop)
    with contextlib.closing(schema.connect(db)) as conn:
        ensure_politicians(conn, opts)
        resolve_committees(conn, client, opts, stop)
        plans, skipped = plan.plan_units(conn, list(CYCLES))
        first = plan.next_chain_id(conn)
    committed: list[CommitResult] = []
    writers: set[str] = set()

    def on_commit(result: CommitResult) -> None:
        writers.add(threading.current_thread().name)
        committed.append(result)

    pipeline = Pipeline(str(db), client, stop, per_page=20, concurrency=4,
                        first_chain_id=first, on_commit=on_commit)
    pipeline.run(plans)
    client.close()
    assert skipped == 0 and pipeline.failures == []
    assert writers == {"sqlite-writer"}
    completed = {unit for result in committed for unit in result.completed}
    assert completed == {(p.committee_id, p.cycle) for p in plans}
    assert pipeline.checks.verified == len(plans)
    assert db_rows(db) == expected_rows(world)


def test_a_run_that_finds_the_lock_held_stops_without_a_request(fake: FakeOpenFec,
                                                                 tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    with exclusive_lock(db):
        result = run_sync(options(fake, db), StopSignals(threading.Event()))
    assert (result.started, result.outcome.status, result.outcome.exit_code) == (
        False, "stopped", 75)
    assert "another sync is already running" in (result.outcome.message or "")
    assert fake.log == []


def test_an_unknown_politician_is_a_usage_error(fake: FakeOpenFec, tmp_path: Path) -> None:
    db = tmp_path / "selection.db"
    result = run_sync(options(fake, db, politicians=["Z999999"]),
                      StopSignals(threading.Event()))
    assert (result.outcome.status, result.outcome.exit_code) == ("failed", 2)
    assert result.outcome.message == (
        "unknown politician id(s): Z999999 (not in the legislators data; use bioguide ids "
        "such as P000197)")
    assert fake.count(kind="schedule_a") == 0


@pytest.mark.parametrize(("error", "expected"), [
    (errors.QuotaExhausted(resume_after=0.0), "stopped 75"),
    (errors.RequestLimitReached(5), "stopped 75"),
    (errors.CircuitOpen(5), "stopped 75"),
    (LockHeld("held"), "stopped 75"),
    (errors.TransientError("504 on /committees/"), "stopped 75"),
    (SelectionError("unknown"), "failed 2"),
    (errors.Cancelled("interrupted"), "interrupted 1"),
    (errors.AuthError("API_KEY_INVALID"), "failed 1"),
    (errors.BadRequest(422, "no"), "failed 1"),
    (DatabaseError("file is not a database"), "failed 1"),
])
def test_each_error_has_one_status_and_exit_code(error: Exception, expected: str) -> None:
    known = classify(error)
    assert known is not None and f"{known[0]} {known[1]}" == expected


def test_a_transient_failure_outside_a_unit_says_a_later_run_resumes() -> None:
    assert classify(errors.TransientError("HTTP 504 on /committees/")) == (
        "stopped", 75, "HTTP 504 on /committees/; re-run later to resume")


def test_a_transient_message_ending_a_sentence_is_not_punctuated_twice() -> None:
    message = ("Could not get /committees/ from 127.0.0.1:1: connection failed "
               "([Errno 111] Connection refused) after 4 retries.")
    assert classify(errors.TransientError(message)) == (
        "stopped", 75, "Could not get /committees/ from 127.0.0.1:1: connection failed "
        "([Errno 111] Connection refused) after 4 retries; re-run later to resume")


def test_an_unexpected_error_is_not_classified() -> None:
    assert classify(KeyError("surprise")) is None


def test_a_signal_becomes_a_stop_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    with StopSignals(stop) as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(timeout=10)
        assert signals.received == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_within_interruptible_a_signal_raises_at_once() -> None:
    stop = threading.Event()
    with StopSignals(stop) as signals:
        with pytest.raises(errors.Cancelled, match="interrupted by SIGINT"), \
                signals.interruptible():
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(timeout=10)  # the handler raises out of this wait
        assert stop.is_set()
        with pytest.raises(errors.Cancelled), signals.interruptible():
            pass  # once stopped, nothing interruptible starts
