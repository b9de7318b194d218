"""Sync FEC Schedule A donations to members of Congress into a local SQLite file.

This module is where `fec/` (HTTP, OpenFEC) and `db/` (SQLite) meet: the click
command, the bootstrap (politicians, committees), and the fetch/write pipeline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from db import schema, state
from db.lock import LockHeld, exclusive_lock
from db.writer import CommitResult
from fec import errors
from fec.budget import RateBudget, default_hourly_limit
from fec.client import FecClient, RequestStats
from fec.committees import (
    CAMPAIGN_DESIGNATIONS,
    FIRST_REQUEST_IDS,
    CommitteeLink,
    CycleDesignation,
    fetch_committees,
    ids_per_request,
)
from fec.dump_source import FEC_DUMP_URL
from fec.legislators import DEFAULT_URL as DEFAULT_LEGISLATORS
from fec.legislators import load_legislators
from fec.scheduler import FETCH_THREAD_PREFIX
from sync.checks import CheckTally
from sync.pipeline import Pipeline
from sync.seed import Seeder, SeedReport

logger = logging.getLogger("sync_donations")

DEFAULT_API_URL = "https://api.open.fec.gov/v1"
EXIT_OK, EXIT_FAILED, EXIT_STOPPED = 0, 1, 75  # 2 (usage) is click's own
SIGNAL_EXITS = {signal.SIGINT: 130, signal.SIGTERM: 143}


utcnow = schema.utc_now


def current_cycle(today: dt.date | None = None) -> int:
    year = (today or dt.date.today()).year
    return year + year % 2


class CycleType(click.ParamType):  # type: ignore[type-arg]
    name = "YEAR"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        try:
            year = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a year", param, ctx)
        if year % 2:
            self.fail(f"{year} is odd; two-year periods end on even years", param, ctx)
        if not 1976 <= year <= current_cycle():
            self.fail(f"{year} is outside 1976..{current_cycle()}", param, ctx)
        return year


@dataclasses.dataclass
class Options:
    db: str
    api_key: str
    api_url: str
    legislators: str
    reload_legislators: bool
    cycles: list[int]
    politicians: list[str] | None
    batch_size: int
    concurrency: int
    full: bool
    refresh_after: float
    overlap_days: int
    max_requests: int | None
    max_wait: float
    rate_limit: int | None
    quiet: bool
    verify: bool = True
    seed_from_dump: str | None = None  # the dump's URL or path

    def public(self) -> dict[str, Any]:
        """The options as recorded in the runs table: everything but the key."""
        data = dataclasses.asdict(self)
        data.pop("api_key")
        return data


@dataclasses.dataclass
class Outcome:
    """Everything the closing summary and `--json` report."""

    run_id: int | None = None
    exit_code: int = EXIT_OK
    status: str = "complete"
    message: str | None = None
    resume_after: str | None = None
    units: dict[str, int] = dataclasses.field(
        default_factory=lambda: dict(total=0, complete=0, skipped=0, failed=0, pending=0)
    )
    rows: dict[str, int] = dataclasses.field(
        default_factory=lambda: dict(
            inserted=0, updated=0, unchanged=0, skipped_no_sub_id=0, superseded=0
        )
    )
    failures: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    unresolved: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    checks: CheckTally = dataclasses.field(default_factory=CheckTally)
    dump: SeedReport | None = None  # with --seed-from-dump
    planned: bool = False  # False when the run ended before units were planned

    def as_json(self, stats: RequestStats, elapsed: float) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "exit_code": self.exit_code,
            "status": self.status,
            "message": self.message,
            "resume_after": self.resume_after,
            "units": self.units,
            "rows": self.rows,
            "requests": stats.snapshot(),
            "elapsed_s": round(elapsed, 3),
            "failures": self.failures,
            "unresolved": self.unresolved,
            "verification": self.checks.as_json(stats.verification),
            "dump": self.dump.as_json() if self.dump is not None else None,
        }


# --- progress -------------------------------------------------------------------------


class Progress:
    """Counts durable work; only the writer thread calls `on_commit`.

    A tqdm bar on a terminal; periodic log lines otherwise (CI), nothing with --quiet.
    """

    LOG_EVERY_S = 30.0

    def __init__(self, outcome: Outcome, stats: RequestStats, budget: RateBudget, quiet: bool):
        self.outcome, self.stats, self.budget = outcome, stats, budget
        self.units_done = 0
        self.total_units = 0
        self.bar: Any = None
        self.quiet = quiet
        self._last_log = time.monotonic()

    @contextlib.contextmanager
    def running(self, total_units: int) -> Iterator[None]:
        self.total_units = total_units
        if self.quiet or not sys.stderr.isatty():
            yield
            return
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        with tqdm(total=total_units, unit="unit", file=sys.stderr, dynamic_ncols=True) as bar:
            self.bar = bar
            with logging_redirect_tqdm():
                yield
            self.bar = None

    def on_commit(self, result: CommitResult) -> None:
        self.count_rows(result)
        if result.completed:
            self.units_done += len(result.completed)
            if self.bar is not None:
                self.bar.update(len(result.completed))
        self._report()

    def count_rows(self, result: CommitResult) -> None:
        rows = self.outcome.rows
        rows["inserted"] += result.inserted
        rows["updated"] += result.updated
        rows["unchanged"] += result.unchanged
        rows["skipped_no_sub_id"] += result.skipped_no_sub_id
        rows["superseded"] += result.superseded

    def _report(self) -> None:
        fresh = self.outcome.rows["inserted"] + self.outcome.rows["updated"]
        if self.bar is not None:
            self.bar.set_postfix_str(
                f"rows={fresh:,} requests={self.stats.total:,} "
                f"quota~{self.budget.remaining_estimate():,}",
                refresh=False,
            )
            return
        now = time.monotonic()
        if not self.quiet and now - self._last_log >= self.LOG_EVERY_S:
            self._last_log = now
            logger.info(
                "progress: %d/%d units, %d rows new or updated, %d requests",
                self.units_done, self.total_units, fresh, self.stats.total,
            )


# --- signals ----------------------------------------------------------------


class StopSignals:
    """Turn SIGINT/SIGTERM into a stop request instead of an exception at a random point."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._raise = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
            logger.warning(
                "%s received: finishing in-flight pages, then stopping",
                signal.Signals(signum).name,
            )
        self.stop.set()
        if self._raise:
            self._raise = False
            raise errors.Cancelled(f"interrupted by {signal.Signals(signum).name}")

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Within this block a signal raises at once, even out of a blocking request.

        Only for main-thread work that has nothing half-done worth finishing (downloads and
        look-ups whose results are saved in their own transactions)."""
        if self.stop.is_set():
            raise errors.Cancelled("interrupted")
        self._raise = True
        try:
            yield
        finally:
            self._raise = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNAL_EXITS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


# --- bootstrap: politicians and their committees -------------------------------------------


def ensure_politicians(conn: Any, opts: Options) -> None:
    """Load legislators when the database has none, or when a source was named explicitly."""
    has_any = conn.execute("SELECT 1 FROM politicians LIMIT 1").fetchone() is not None
    if has_any and not opts.reload_legislators:
        return
    politicians = load_legislators(opts.legislators)
    count = state.save_politicians(conn, politicians, opts.legislators, utcnow())
    logger.info("loaded %d politicians from %s", count, opts.legislators)


def check_selection(conn: Any, wanted: list[str] | None) -> None:
    if not wanted:
        return
    marks = ",".join("?" * len(wanted))
    known = {
        row[0]
        for row in conn.execute(
            f"SELECT bioguide_id FROM politicians WHERE bioguide_id IN ({marks})", wanted
        )
    }
    unknown = [bid for bid in wanted if bid not in known]
    if unknown:
        raise click.UsageError(
            f"unknown politician id(s): {', '.join(unknown)} (not in the legislators data; "
            "use bioguide ids such as P000197)"
        )


def resolve_committees(conn: Any, client: FecClient, opts: Options, stop: threading.Event) -> None:
    """Map politicians lacking a fresh mapping to their committees of each cycle, in few
    requests.

    Politicians go in batches that fill one look-up request each, and every batch is saved
    before the next is asked for: a stop (quota, signal, --max-requests) keeps the look-ups
    already paid for, and the next run asks only for the rest. A committee's history is
    saved as soon as it arrives, and what of it can no longer change is not asked again."""
    todo = state.politicians_needing_resolution(
        conn, opts.cycles, opts.politicians, max_age_days=7, now=utcnow()
    )
    if todo:
        logger.info("resolving committees of %d politicians", len(todo))
    known = settled_designations(conn)

    def keep(rows: list[CycleDesignation]) -> None:
        state.save_committee_cycles(conn, rows, utcnow())

    size = [FIRST_REQUEST_IDS]
    for batch in batch_politicians(todo, lambda: size[0]):
        candidate_ids = sorted({cid for _, fec_ids in batch for cid in fec_ids})
        links: list[CommitteeLink] = []
        if candidate_ids:
            found = fetch_committees(client, candidate_ids, opts.cycles, known=known,
                                     on_history=keep)
            links, size[0] = found.links, ids_per_request(len(candidate_ids), found.committees)
        save_batch(conn, batch, links, opts)
        if stop.is_set():
            raise errors.Cancelled("stopped while resolving committees")


def settled_designations(conn: Any) -> dict[tuple[str, int], CycleDesignation]:
    """The kept history rows that can no longer change: those of closed cycles, and any
    cycle's that is not P/A (a committee is converted from campaign to PAC, not back, and
    the cycle of a conversion carries its flag once it happened)."""
    return {
        (cid, cycle): CycleDesignation(cid, cycle, designation, former)
        for cid, cycle, designation, former in state.committee_cycles(conn)
        if cycle < current_cycle() or designation not in CAMPAIGN_DESIGNATIONS
    }


def save_batch(conn: Any, batch: list[tuple[str, tuple[str, ...]]],
               links: list[CommitteeLink], opts: Options) -> None:
    by_candidate: dict[str, list[CommitteeLink]] = {}
    for link in links:
        by_candidate.setdefault(link.candidate_id, []).append(link)
    now = utcnow()
    for bioguide_id, fec_ids in batch:
        mine = [link for cid in fec_ids for link in by_candidate.get(cid, [])]
        state.save_mappings(conn, bioguide_id, opts.cycles, mine, now, provenance=opts.api_url)


def batch_politicians(
    todo: list[tuple[str, tuple[str, ...]]], max_ids: Callable[[], int]
) -> Iterator[list[tuple[str, tuple[str, ...]]]]:
    """Consecutive groups of politicians with at most `max_ids()` candidate ids between them
    (read as each group starts; one politician with more still makes a group of one)."""
    batch: list[tuple[str, tuple[str, ...]]] = []
    size = 0
    for bioguide_id, fec_ids in todo:
        if batch and size + len(fec_ids) > max_ids():
            yield batch
            batch, size = [], 0
        batch.append((bioguide_id, fec_ids))
        size += len(fec_ids)
    if batch:
        yield batch


def list_unresolved(conn: Any, opts: Options) -> list[dict[str, Any]]:
    return [
        {"politician": bioguide_id, "candidate_ids": list(fec_ids)}
        for bioguide_id, fec_ids in state.unresolved_politicians(
            conn, opts.cycles, opts.politicians
        )
    ]


# --- one run, start to finish ---------------------------------------------------------------


class SyncRun:
    """Bootstrap, plan, run the pipeline and classify the outcome of one invocation."""

    def __init__(self, opts: Options, signals: StopSignals):
        self.opts, self.signals = opts, signals
        self.outcome = Outcome()
        self.stats = RequestStats()
        self.stop = signals.stop
        limit = opts.rate_limit or default_hourly_limit(opts.api_key)
        self.budget = RateBudget(
            limit, max_wait=opts.max_wait, max_requests=opts.max_requests,
            backoff_base=float(os.environ.get("SYNC_DONATIONS_RATE_BACKOFF", "2.0")),
        )
        self.client = FecClient(
            opts.api_key, opts.api_url, budget=self.budget, stats=self.stats, stop=self.stop,
            backoff_factor=float(os.environ.get("SYNC_DONATIONS_RETRY_BACKOFF", "1.0")),
        )
        self.progress: Progress | None = None
        self.usage_error: click.ClickException | None = None
        self.started = time.monotonic()

    def execute(self) -> Outcome:
        with contextlib.closing(self.client):
            try:
                self._sync()
            except Exception as exc:
                if not self._classify(exc):
                    self._set("failed", EXIT_FAILED, f"unexpected {type(exc).__name__}")
                    self._finish()  # the runs row still gets its ending
                    raise
        received = self.signals.received
        if received is not None:
            name = signal.Signals(received).name
            self._set("interrupted", SIGNAL_EXITS[signal.Signals(received)],
                      f"interrupted by {name}")
        self._finish()
        if self.usage_error is not None:
            raise self.usage_error
        return self.outcome

    def _sync(self) -> None:
        opts = self.opts
        with contextlib.closing(schema.connect(opts.db)) as conn:
            self.outcome.run_id = state.start_run(conn, opts.public(), utcnow())
            with self.signals.interruptible():
                ensure_politicians(conn, opts)
                check_selection(conn, opts.politicians)
                resolve_committees(conn, self.client, opts, self.stop)
            self.outcome.unresolved = list_unresolved(conn, opts)
            plans, skipped = self._plan(conn)
            seeds = (state.units_to_seed(conn, [(p.committee_id, p.cycle) for p in plans])
                     if opts.seed_from_dump is not None else [])
        self.outcome.units.update(total=len(plans) + skipped, skipped=skipped)
        self.outcome.planned = True
        progress = self.progress = Progress(self.outcome, self.stats, self.budget, opts.quiet)
        if opts.seed_from_dump is not None:
            self._seed(seeds)
        with contextlib.closing(schema.connect(opts.db)) as conn:
            if self.outcome.dump is not None and self.outcome.dump.loaded():
                plans, skipped = self._plan(conn)  # seeded units now start from the dump
            first_chain_id = state.next_chain_id(conn)
            planned = {(p.committee_id, p.cycle) for p in plans}
            unchecked = [unit for unit in state.units_to_check(conn, opts.cycles, opts.politicians)
                         if unit not in planned] if opts.verify else []
        logger.info("%d units to sync, %d fresh ones skipped", len(plans), skipped)
        pipeline = Pipeline(opts.db, self.client, self.stop, per_page=opts.batch_size,
                            concurrency=opts.concurrency, first_chain_id=first_chain_id,
                            on_commit=progress.on_commit, verify=opts.verify)
        self.outcome.checks = pipeline.checks
        with progress.running(len(plans)):
            try:
                pipeline.run(plans, unchecked)
            finally:
                self.outcome.failures = pipeline.failures

    def _plan(self, conn: Any) -> tuple[list[state.UnitPlan], int]:
        opts = self.opts
        return state.plan_units(
            conn, opts.cycles, opts.politicians, full=opts.full,
            refresh_after_hours=opts.refresh_after, overlap_days=opts.overlap_days,
            now=utcnow(), current_run=self.outcome.run_id,
        )

    def _seed(self, units: list[tuple[str, int]]) -> None:
        """Load the never-synced units from the weekly dump (sync.seed), before paging."""
        source = self.opts.seed_from_dump or FEC_DUMP_URL
        if not units:
            self.outcome.dump = SeedReport(source)
            return
        seeder = Seeder(self.opts.db, source, self.client, stop=self.stop,
                        per_page=self.opts.batch_size, quiet=self.opts.quiet,
                        backoff_factor=self.client.backoff_factor,
                        on_commit=self.progress.count_rows if self.progress else None,
                        interruptible=self.signals.interruptible)
        self.outcome.dump = seeder.report
        seeder.run(units)

    def _classify(self, exc: BaseException) -> bool:
        """Set the outcome for a known failure; False for an unexpected one."""
        if isinstance(exc, errors.QuotaExhausted):
            resume = dt.datetime.fromtimestamp(exc.resume_after, dt.UTC)
            self.outcome.resume_after = resume.strftime("%Y-%m-%dT%H:%M:%SZ")
            self._set("stopped", EXIT_STOPPED, str(exc))
        elif isinstance(exc, errors.StopSync):
            self._set("stopped", EXIT_STOPPED, str(exc))
        elif isinstance(exc, errors.TransientError):
            # Outside a unit (legislators, committee look-ups) nothing can go on without
            # it, but nothing is lost either: stop safely and let a later run resume.
            self._set("stopped", EXIT_STOPPED, f"{exc}; re-run later to resume")
        elif isinstance(exc, click.ClickException):
            self._set("failed", exc.exit_code, exc.format_message())
            self.usage_error = exc
        elif isinstance(exc, errors.Cancelled):
            self._set("interrupted", EXIT_FAILED, str(exc))
        elif isinstance(exc, (errors.FecError, schema.DatabaseError)):
            self._set("failed", EXIT_FAILED, str(exc))
        else:
            return False
        return True

    def _set(self, status: str, code: int, message: str | None) -> None:
        self.outcome.status, self.outcome.exit_code, self.outcome.message = status, code, message

    def _finish(self) -> None:
        """Count unit states and record the run; works even when the sync failed early."""
        out = self.outcome
        out.units["failed"] = len(out.failures)
        if out.exit_code == EXIT_OK and out.failures:
            self._set("failed", EXIT_FAILED, f"{len(out.failures)} unit(s) failed")
        if out.exit_code == EXIT_OK and out.checks.unverified:
            self._set("failed", EXIT_FAILED, f"{out.checks.unverified} unit(s) still differ "
                      "from the API's count after repair")
        out.units["complete"] = self.progress.units_done if self.progress else 0
        done = out.units["complete"] + out.units["skipped"] + out.units["failed"]
        out.units["pending"] = max(out.units["total"] - done, 0)
        if out.run_id is None:
            return
        try:
            with contextlib.closing(schema.connect(self.opts.db)) as conn:
                summary = out.as_json(self.stats, self.elapsed)
                state.finish_run(conn, out.run_id, out.status, out.exit_code, summary,
                                 utcnow(), self.elapsed)
        except schema.DatabaseError as exc:
            if out.exit_code == EXIT_OK:
                self._set("failed", EXIT_FAILED, str(exc))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


# --- what users see at the end ---------------------------------------------------------------


def print_summary(outcome: Outcome, report: dict[str, Any]) -> None:
    units, rows, reqs = report["units"], report["rows"], report["requests"]
    fetched = rows["inserted"] + rows["updated"] + rows["unchanged"]
    per_request = fetched / reqs["schedule_a"] if reqs["schedule_a"] else 0.0
    lines = [
        f"units: {units['complete']} synced, {units['skipped']} fresh (skipped), "
        f"{units['failed']} failed, {units['pending']} pending, of {units['total']}",
        f"rows: {rows['inserted']:,} new, {rows['updated']:,} updated, "
        f"{rows['unchanged']:,} unchanged, {rows['superseded']:,} gone upstream (superseded), "
        f"{rows['skipped_no_sub_id']:,} without sub_id skipped",
        f"requests: {reqs['total']:,} ({reqs['schedule_a']:,} Schedule A, "
        f"{reqs['lookups']:,} lookups), "
        f"{reqs['retries']:,} retries, {reqs['rate_limited']:,} rate-limited; "
        f"{per_request:.1f} rows per Schedule A request; {report['elapsed_s']:.1f}s",
    ]
    checks = report["verification"]
    if any(checks[key] for key in ("verified", "unverified", "unchecked")):
        lines.append(
            f"counts checked against the API: {checks['verified']} unit(s) verified "
            f"({checks['repaired']} after repair), {checks['unverified']} still differ, "
            f"{checks['unchecked']} not checked; {checks['requests']:,} requests")
    if outcome.dump is not None:
        lines += outcome.dump.summary_lines()
    for failure in outcome.failures:
        lines.append(f"failed: {failure['committee_id']} {failure['cycle']}: {failure['error']}")
    if outcome.unresolved:
        ids = ", ".join(item["politician"] for item in outcome.unresolved)
        lines.append(
            f"no campaign committee found for {len(outcome.unresolved)} politician(s): {ids}"
        )
    if not outcome.planned:  # nothing was synced: the reason is all there is to say
        lines = []
    if outcome.exit_code == EXIT_STOPPED:
        hint = "" if "re-run" in (outcome.message or "").lower() else " Re-run to resume."
        lines.append(f"Stopped early: {outcome.message}{hint}")
    elif outcome.exit_code in SIGNAL_EXITS.values():
        lines.append(f"{outcome.message}; everything fetched was saved. Re-run to resume.")
    elif outcome.exit_code == EXIT_FAILED:
        lines.append(f"Error: {outcome.message}")
    for line in lines:
        click.echo(line, err=True)


def print_status(db_path: str, cycles: list[int], as_json: bool) -> None:
    """Show every unit's state without syncing (and without the lock: WAL allows readers)."""
    if not Path(db_path).exists():
        raise click.ClickException(f"{db_path} does not exist yet; run a sync first")
    try:
        with contextlib.closing(schema.connect(db_path)) as conn:
            units = [dict(row) for row in state.unit_states(conn)]
            unresolved = state.unresolved_politicians(conn, cycles or state.resolved_cycles(conn))
    except schema.DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc
    missing = [{"politician": bid, "candidate_ids": list(ids)} for bid, ids in unresolved]
    if as_json:
        click.echo(json.dumps({"units": units, "unresolved": missing}, indent=2))
        return
    click.echo(f"{'committee':<10} {'cycle':>5} {'status':<9} {'rows':>8} "
               f"{'loaded_through':<20} {'completed_at':<20} {'check':<10} "
               f"{'upstream/here':<24} last_error")
    for unit in units:
        click.echo(
            f"{unit['committee_id']:<10} {unit['cycle']:>5} {unit['status']:<9} "
            f"{unit['rows_seen'] or 0:>8} {unit['loaded_through'] or '-':<20} "
            f"{unit['completed_at'] or '-':<20} {unit['verify_status'] or 'unchecked':<10} "
            f"{describe_check(unit):<24} {unit['last_error'] or ''}"
        )
    for item in missing:
        ids = ", ".join(item["candidate_ids"]) or "no FEC candidate id"
        click.echo(f"no campaign committee: {item['politician']} ({ids})")


def describe_check(unit: dict[str, Any]) -> str:
    """'4,211/4,211 of 10 units': the API's count and ours for what was compared."""
    if unit["upstream_rows"] is None:
        return "-"
    scope = unit["verify_scope"] or 1
    group = f" of {scope} units" if scope > 1 else ""
    return f"{unit['upstream_rows']:,}/{unit['local_rows']:,}{group}"


def configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(message)s")
    if verbose:
        logging.getLogger().handlers[0].setFormatter(
            logging.Formatter("%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
        )
    else:
        logging.getLogger("urllib3").setLevel(logging.WARNING)


def split_ids(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> list[str] | None:
    ids = [part.strip().upper() for item in value for part in item.split(",") if part.strip()]
    if value and not ids:  # e.g. --politician "$UNSET": syncing everyone would surprise
        raise click.BadParameter("no bioguide id given")
    return ids or None


def check_db_path(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # sqlite3 would open these as private temporary databases: a "successful" sync that
    # saves nothing.
    if not value.strip() or value == ":memory:" or value.startswith("file:"):
        raise click.BadParameter(f"{value!r} is not a database file path")
    return value


def check_api_key(ctx: click.Context, param: click.Parameter, value: str) -> str:
    key = value.strip()  # a secret pasted with a newline or a CRLF file still works
    if not key:
        raise click.BadParameter("is empty")
    if not key.isascii() or not key.isprintable() or " " in key:
        raise click.BadParameter("contains spaces or control characters; check how it was set")
    return key


def check_api_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{value!r} is not an http(s) URL such as {DEFAULT_API_URL}")
    return value.strip().rstrip("/")


def check_dump_source(ctx: click.Context, param: click.Parameter,
                      value: str | None) -> str | None:
    if value is None:
        return None
    spec = value.strip()
    if spec.startswith(("http://", "https://")):
        if not urlsplit(spec).hostname:
            raise click.BadParameter(f"{value!r} is not a URL such as {FEC_DUMP_URL}")
        return spec
    if not Path(spec).is_file():
        raise click.BadParameter(f"{value!r} is neither an http(s) URL nor a file")
    return spec


class FiniteFloat(click.FloatRange):
    """A FloatRange that refuses nan and inf, which would switch the bound off."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


DEMO_KEY_WARNING = (
    "Warning: using DEMO_KEY, which allows about 30 requests an hour (50 a day). "
    "Get a free key at https://api.data.gov/signup/ and pass it with --api-key or OPENFEC_API_KEY."
)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "db_path", default="donations.db", envvar="DONATIONS_DB", show_envvar=True,
              show_default=True, type=click.Path(dir_okay=False), callback=check_db_path,
              help="SQLite file, created if missing.")
@click.option("--api-key", default="DEMO_KEY", envvar="OPENFEC_API_KEY", show_envvar=True,
              show_default=True, callback=check_api_key,
              help="OpenFEC (api.data.gov) key; sent as a header, never stored.")
@click.option("--api-url", default=DEFAULT_API_URL, envvar="OPENFEC_API_URL", show_envvar=True,
              show_default=True, callback=check_api_url,
              help="API root including /v1 (a mirror or a local fake).")
@click.option("--legislators", default=DEFAULT_LEGISLATORS, envvar="LEGISLATORS_URL",
              show_envvar=True, show_default=True, metavar="URL|PATH",
              help="congress-legislators JSON (URL or file); loaded when the database has no "
                   "politicians, or reloaded when given.")
@click.option("--cycle", "cycles", multiple=True, type=CycleType(),
              help=f"Two-year period (even year), repeatable.  [default: {current_cycle()}]")
@click.option("--politician", "politicians", multiple=True, callback=split_ids, metavar="ID",
              help="Bioguide id(s), repeatable or comma-separated.  [default: all]")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 100),
              help="Rows per request (per_page).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 32),
              help="Fetch threads.")
@click.option("--full", is_flag=True,
              help="Rescan every unit, ignoring the incremental watermark (a --full run "
                   "that stopped early is resumed by the next --full).")
@click.option("--refresh-after", default=12.0, show_default=True,
              type=FiniteFloat(min=0, max=24 * 365 * 100),
              metavar="HOURS", help="Skip units whose last pass completed less than this ago.")
@click.option("--overlap-days", default=3, show_default=True, type=click.IntRange(0, 365),
              help="Incremental passes re-read rows loaded this many days before the watermark.")
@click.option("--max-requests", type=click.IntRange(min=1), metavar="N",
              help="Stop safely (exit 75) after N API requests, lookups and retries included.")
@click.option("--max-wait", default=300.0, show_default=True, type=FiniteFloat(min=0),
              metavar="SECONDS",
              help="Longest total pause for the rate limit before stopping (75); a key "
                   "limited per minute pauses often, so give it more.")
@click.option("--rate-limit", type=click.IntRange(min=1), envvar="OPENFEC_RATE_LIMIT",
              show_envvar=True, metavar="N",
              help="Requests the key allows until the API's X-RateLimit-Limit says, per hour "
                   "until its headers show a shorter window.  [default: 1000, 30 for DEMO_KEY]")
@click.option("--no-verify", "no_verify", is_flag=True,
              help="Skip checking each unit's row count against the API's (and repairing "
                   "differences) after its pass: a quicker, unproven run.")
@click.option("--seed-from-dump", is_flag=False, flag_value=FEC_DUMP_URL, default=None,
              metavar="[URL|PATH]", callback=check_dump_source,
              help="Load the units of the requested cycles that were never synced from the "
                   "FEC's weekly database dump (about 90 GB; only a cycle's table is read) "
                   "instead of paging them, then catch them up through the API.  [default "
                   "URL: the FEC's own]")
@click.option("--status", "show_status", is_flag=True,
              help="Show every unit's sync state and exit (no requests).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or progress lines.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--verbose", "-v", is_flag=True, help="Debug logging, and tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, db_path: str, api_key: str, api_url: str, legislators: str,
        cycles: tuple[int, ...], politicians: list[str] | None, batch_size: int,
        concurrency: int, full: bool, refresh_after: float, overlap_days: int,
        max_requests: int | None, max_wait: float, rate_limit: int | None, no_verify: bool,
        seed_from_dump: str | None, show_status: bool, quiet: bool, as_json: bool,
        verbose: bool) -> None:
    """Sync FEC Schedule A donations to members of Congress into a SQLite file.

    Loads politicians (congress-legislators), resolves their campaign committees
    through OpenFEC, then pages every (committee, cycle) into the database.
    Safe to kill at any moment: re-running resumes where it stopped.

    Exit codes: 0 synced; 75 stopped early but safely (quota, --max-requests,
    circuit breaker, another run holds the lock), re-run to resume; 1 failure;
    2 usage error; 130/143 interrupted by SIGINT/SIGTERM.
    """
    configure_logging(verbose, quiet)
    if show_status:
        print_status(db_path, sorted(set(cycles)), as_json)
        return
    if full and seed_from_dump is not None:
        raise click.UsageError("--seed-from-dump cannot be combined with --full: a full "
                               "rescan pages every unit through the API, which is what the "
                               "dump is there to avoid")
    if api_key == "DEMO_KEY":
        click.echo(DEMO_KEY_WARNING, err=True)
    source = ctx.get_parameter_source("legislators")
    opts = Options(
        db=db_path, api_key=api_key, api_url=api_url.rstrip("/"), legislators=legislators,
        reload_legislators=source in (click.core.ParameterSource.COMMANDLINE,
                                      click.core.ParameterSource.ENVIRONMENT),
        cycles=sorted(set(cycles)) or [current_cycle()], politicians=politicians,
        batch_size=batch_size, concurrency=concurrency, full=full, refresh_after=refresh_after,
        overlap_days=overlap_days, max_requests=max_requests, max_wait=max_wait,
        rate_limit=rate_limit, quiet=quiet, verify=not no_verify, seed_from_dump=seed_from_dump,
    )
    ctx.exit(run_cli(opts, as_json, verbose))


def run_cli(opts: Options, as_json: bool, verbose: bool) -> int:
    """Run one sync under the lock and report it; errors become one line and an exit code."""
    # Signals are handled from here to the last line of output, so a late Ctrl-C cannot
    # kill the process between a summary that says "complete" and its exit.
    with StopSignals(threading.Event()) as signals:
        return report_run(opts, signals, as_json, verbose)


def report_run(opts: Options, signals: StopSignals, as_json: bool, verbose: bool) -> int:
    sync: SyncRun | None = None
    try:
        with exclusive_lock(opts.db):
            sync = SyncRun(opts, signals)
            outcome = sync.execute()
    except LockHeld as exc:
        outcome = Outcome(exit_code=EXIT_STOPPED, status="stopped", message=str(exc))
    except schema.DatabaseError as exc:
        outcome = Outcome(exit_code=EXIT_FAILED, status="failed", message=str(exc))
    except click.ClickException:
        raise
    except Exception as exc:
        if verbose:
            raise
        detail = errors.redact(f"{type(exc).__name__}: {exc}", opts.api_key)
        outcome = Outcome(exit_code=EXIT_FAILED, status="failed",
                          message=f"unexpected error ({detail}); re-run with --verbose for details")
    stats = sync.stats if sync else RequestStats()
    report = outcome.as_json(stats, sync.elapsed if sync else 0.0)
    if sync is None:
        click.echo(f"Error: {outcome.message}", err=True)
    elif not opts.quiet or outcome.exit_code != EXIT_OK:
        print_summary(outcome, report)
    if as_json:
        click.echo(json.dumps(report))
    return outcome.exit_code


def _fetch_threads_alive() -> bool:
    return any(t.name.startswith(FETCH_THREAD_PREFIX) and t.is_alive()
               for t in threading.enumerate())


def main() -> None:
    """Console entry point: click's standalone mode, plus a hard exit if a request is stuck."""
    try:
        cli.main(prog_name="sync_donations.py")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if _fetch_threads_alive():
            # A stop left a request in flight; its page was never saved, so nothing is lost.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        raise


if __name__ == "__main__":
    main()
