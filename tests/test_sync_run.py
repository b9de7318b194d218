"""The orchestration in-process, without click or a subprocess: a whole run, the pipeline
alone, the outcome of errors, and signals turned into a stop."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from db import plan, schema, state
from db.lock import LockHeld, exclusive_lock
from db.schema import DatabaseBusy, DatabaseError
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
from tests.support import CYCLES, KEY, closed_port, db_rows, expected_rows


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


@contextlib.contextmanager
def write_locked(db: Path) -> Any:
    """Another program (a sqlite3 shell, say) holding the database's write lock."""
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.close()


def test_a_database_another_program_keeps_locked_stops_safely(
        fake: FakeOpenFec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "busy.db"
    schema.connect(db).close()
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 50)
    with write_locked(db):
        result = run_sync(options(fake, db), StopSignals(threading.Event()))
    assert (result.outcome.status, result.outcome.exit_code) == ("stopped", 75)
    assert result.outcome.message == (
        f"{db}: database is locked: another program kept it locked for over 0.05 s; this "
        "run stops so that it can finish.")
    assert fake.log == []


def test_a_database_locked_mid_run_stops_safely_and_resumes(
        fake: FakeOpenFec, world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "busy-mid-run.db"
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 50)
    gate = fake.hold(after=3, kind="schedule_a")
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(
        run_sync(options(fake, db, concurrency=1), StopSignals(threading.Event()))))
    runner.start()
    try:
        assert gate.wait_held(1)
        with write_locked(db):
            gate.release()
            runner.join(60)
    finally:
        gate.release()
        runner.join(60)
    outcome = results[0].outcome
    assert (outcome.status, outcome.exit_code) == ("stopped", 75), outcome.message
    assert "another program kept it locked" in (outcome.message or "")
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 30_000)
    again = run_sync(options(fake, db), StopSignals(threading.Event())).outcome
    assert again.exit_code == EXIT_OK, again.message
    assert db_rows(db) == expected_rows(world)


@pytest.mark.parametrize(("error", "expected"), [
    (errors.QuotaExhausted(resume_after=0.0), "stopped 75"),
    (errors.RequestLimitReached(5), "stopped 75"),
    (errors.CircuitOpen(5), "stopped 75"),
    (LockHeld("held"), "stopped 75"),
    (DatabaseBusy("locked"), "stopped 75"),
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
    sentence = "Could not get /committees/ from h: connection failed after 4 retries."
    assert classify(errors.TransientError(sentence)) == (
        "stopped", 75, f"{sentence[:-1]}; re-run later to resume")


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


def _politicians_from(source: Path, world, count: int) -> Path:
    source.write_text(json.dumps(world.legislators_json()[:count]))
    return source


def _bioguides(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT bioguide_id FROM politicians")}


def _loaded_plus(conn: sqlite3.Connection, hours: float) -> str:
    loaded = dt.datetime.fromisoformat(state.politicians_loaded_at(conn) or "")
    return (loaded + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_day_old_politicians_list_is_refreshed_from_the_default_source(
        fake: FakeOpenFec, world, tmp_path: Path) -> None:
    # the nightly job names no source: a member sworn in since the last load must appear
    source = _politicians_from(tmp_path / "legislators.json", world, 3)
    opts = options(fake, tmp_path / "p.db", legislators=str(source))
    with contextlib.closing(schema.connect(tmp_path / "p.db")) as conn:
        ensure_politicians(conn, opts)
        first = _bioguides(conn)
        _politicians_from(source, world, 4)
        ensure_politicians(conn, opts, now=_loaded_plus(conn, 19.9))
        assert _bioguides(conn) == first  # runs hours apart read the list once
        ensure_politicians(conn, opts, now=_loaded_plus(conn, 20))
        added = _bioguides(conn) - first
    assert len(first) == 3 and added == {world.legislators_json()[3]["id"]["bioguide"]}


def test_a_failed_refresh_keeps_the_list_with_a_warning(
        fake: FakeOpenFec, world, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = _politicians_from(tmp_path / "legislators.json", world, 3)
    opts = options(fake, tmp_path / "p.db", legislators=str(source))
    with contextlib.closing(schema.connect(tmp_path / "p.db")) as conn:
        ensure_politicians(conn, opts)
        loaded = state.politicians_loaded_at(conn) or ""
        source.unlink()
        with caplog.at_level(logging.WARNING, logger="sync.bootstrap"):
            ensure_politicians(conn, opts, now=_loaded_plus(conn, 24))
        assert len(_bioguides(conn)) == 3
        assert state.politicians_loaded_at(conn) == loaded  # still the old list's time
    assert [r.getMessage() for r in caplog.records] == [
        f"could not refresh the politicians, going on with the list loaded "
        f"{loaded[:10]} {loaded[11:16]} UTC: Cannot read legislators file {source}: "
        "No such file or directory"]
    # nor does a download that fails for now (a transient error, which would otherwise
    # stop the run with 75)
    closed = f"http://127.0.0.1:{closed_port()}/legislators-current.json"
    caplog.clear()
    with (contextlib.closing(schema.connect(tmp_path / "p.db")) as conn,
          caplog.at_level(logging.WARNING, logger="sync.bootstrap")):
        ensure_politicians(conn, options(fake, tmp_path / "p.db", legislators=closed),
                           now=_loaded_plus(conn, 24))
        assert len(_bioguides(conn)) == 3
    assert [r.getMessage() for r in caplog.records] == [
        f"could not refresh the politicians, going on with the list loaded "
        f"{loaded[:10]} {loaded[11:16]} UTC: Could not download legislators from {closed}: "
        "ConnectionError ([Errno 111] Connection refused)"]
    # a source named on the command line must load, or the run stops
    named = options(fake, tmp_path / "p.db", legislators=str(source), reload_legislators=True)
    with (contextlib.closing(schema.connect(tmp_path / "p.db")) as conn,
          pytest.raises(errors.LegislatorsError, match="Cannot read legislators file")):
        ensure_politicians(conn, named)
