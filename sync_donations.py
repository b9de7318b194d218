"""Sync FEC Schedule A donations to members of Congress into a local SQLite file.

The command line: options, what becomes of an outcome (one line, an exit code), and what
users see at the end. The run itself is sync.run's; fec/ speaks HTTP and OpenFEC, db/
speaks SQLite.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from db import plan, schema, state
from fec.client import RequestStats
from fec.dump_source import FEC_DUMP_URL
from fec.legislators import DEFAULT_URL as DEFAULT_LEGISLATORS
from fec.legislators import is_url as is_legislators_url
from fec.scheduler import FETCH_THREAD_PREFIX
from sync.options import DEFAULT_API_URL, Options, current_cycle
from sync.outcome import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, SIGNAL_EXITS, Outcome
from sync.run import Result, run_sync
from sync.seed import is_dump_url
from sync.signals import StopSignals

logger = logging.getLogger("sync_donations")


class CycleType(click.ParamType):  # type: ignore[type-arg]
    name = "YEAR"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        try:
            year = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a year", param, ctx)
        if year % 2:
            self.fail(f"{year} is odd; two-year periods end on even years", param, ctx)
        if not 1976 <= year <= current_cycle():
            self.fail(f"{year} is outside 1976..{current_cycle()}", param, ctx)
        return year


class FiniteFloat(click.FloatRange):
    """A FloatRange that refuses nan and inf, which would switch the bound off."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class JsonReportingCommand(click.Command):
    """click's command, except that a usage error still prints the `--json` object a
    script waits for (exit_code 2, the error as its message) before click's own message."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        wants_json = self.asks_for_json(args)  # before parsing, which consumes `args`
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            if wants_json:
                echo_usage_json(exc.format_message())
            raise

    def asks_for_json(self, args: list[str]) -> bool:
        """Whether `args` ask for the run's --json object, read by click's own parser (so
        `--db --json` names a file) without converting or checking a value. --status has an
        object of its own, and a usage error there prints none."""
        ctx = click.Context(self, ignore_unknown_options=True, resilient_parsing=True)
        try:
            options, _, _ = self.make_parser(ctx).parse_args(args=list(args))
        except click.ClickException:
            return False
        return bool(options.get("as_json")) and not options.get("show_status")


def echo_usage_json(message: str) -> None:
    """The `--json` object of a run refused as a usage error before it began."""
    outcome = Outcome(planned=False)
    outcome.set("failed", EXIT_USAGE, message)
    echo_json(outcome.as_json(RequestStats(), 0))


def echo_json(document: dict[str, Any], indent: int | None = None) -> bool:
    return echo_stdout(json.dumps(document, indent=indent), "the JSON summary")


def echo_stdout(text: str, what: str) -> bool:
    """Print `text` on stdout; False if it could not be. A stdout closed early (`| head`)
    or full costs the text, with a line on stderr, not a traceback."""
    try:
        click.echo(text)
        return True
    except OSError as exc:
        with contextlib.suppress(OSError):
            click.echo(f"Error: could not write {what} to stdout: {exc.strerror or exc}",
                       err=True)
        # Python flushes stdout again on its way out and would fail there with a traceback.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False


def configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(message)s")
    if verbose:
        logging.getLogger().handlers[0].setFormatter(
            logging.Formatter("%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
        )
    else:
        # fec.client says "retry 1 of 4" in our words; urllib3's own "Retrying (FecRetry(...))
        # after connection broken by ..." would say it again, with its internals and the URL.
        logging.getLogger("urllib3").setLevel(logging.ERROR)


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


def is_http_url(text: str) -> bool:
    """An http(s) URL with a host and, if any, a valid port."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number below 65536
    except ValueError:  # also a malformed [IPv6] host
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_api_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not is_http_url(value.strip()):
        raise click.BadParameter(f"{value!r} is not an http(s) URL such as {DEFAULT_API_URL}")
    return value.strip()


def url_or_file(value: str, spec: str, *, is_url: bool, example: str) -> str:
    """`spec` (`value` stripped) if it is a valid http(s) URL or an existing file. `is_url`
    is how its reader tells a URL from a path, so that both agree on which it is."""
    if is_url:
        if not is_http_url(spec):
            raise click.BadParameter(f"{value!r} is not a URL such as {example}")
        return spec
    if not Path(spec).is_file():
        raise click.BadParameter(f"{value!r} is neither an http(s) URL nor a file")
    return spec


def check_legislators(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # Checked here, as --seed-from-dump is, so a mistyped path is a usage error (2) before
    # the database is opened, not a failed run (1).
    spec = value.strip()
    if not spec:
        raise click.BadParameter("is empty")
    return url_or_file(value, spec, example=DEFAULT_LEGISLATORS, is_url=is_legislators_url(spec))


def check_dump_source(ctx: click.Context, param: click.Parameter,
                      value: str | None) -> str | None:
    if value is None:
        return None
    spec = value.strip()
    return url_or_file(value, spec, example=FEC_DUMP_URL, is_url=is_dump_url(spec))


DEMO_KEY_WARNING = (
    "Warning: using DEMO_KEY, which allows about 30 requests an hour (50 a day). "
    "Get a free key at https://api.data.gov/signup/ and pass it with --api-key or OPENFEC_API_KEY."
)


@click.command(cls=JsonReportingCommand,
               context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "db", default="donations.db", envvar="DONATIONS_DB", show_envvar=True,
              show_default=True, type=click.Path(dir_okay=False), callback=check_db_path,
              help="SQLite file, created if missing.")
@click.option("--api-key", default="DEMO_KEY", envvar="OPENFEC_API_KEY", show_envvar=True,
              show_default=True, callback=check_api_key,
              help="OpenFEC (api.data.gov) key; sent as a header, never stored.")
@click.option("--api-url", default=DEFAULT_API_URL, envvar="OPENFEC_API_URL", show_envvar=True,
              show_default=True, callback=check_api_url,
              help="API root including /v1 (a mirror or a local fake).")
@click.option("--legislators", default=DEFAULT_LEGISLATORS, envvar="LEGISLATORS_URL",
              show_envvar=True, show_default=True, metavar="URL|PATH", callback=check_legislators,
              help="congress-legislators JSON (URL or file); loaded when the database has no "
                   "politicians, when given, or when the list is 20 hours old.")
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
@click.option("--quiet", "-q", is_flag=True,
              help="No progress bar or progress lines, and no summary if the run succeeds.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--verbose", "-v", is_flag=True, help="Debug logging, and tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, /, **params: Any) -> None:
    """Sync FEC Schedule A donations to members of Congress into a SQLite file.

    Loads politicians (congress-legislators), resolves their campaign committees
    through OpenFEC, then pages every (committee, cycle) into the database.
    Safe to kill at any moment: re-running resumes where it stopped.

    Exit codes: 0 synced; 75 stopped early but safely (quota, --max-requests,
    circuit breaker, legislators out of reach for now, the database held by
    another run or program), re-run to resume; 1 failure; 2 usage error;
    130/143 interrupted by SIGINT/SIGTERM.
    """
    configure_logging(params["verbose"], params["quiet"])
    if params["show_status"]:
        print_status(params["db"], sorted(set(params["cycles"])), params["as_json"])
        return
    if params["full"] and params["seed_from_dump"] is not None:
        message = ("--seed-from-dump cannot be combined with --full: a full rescan pages "
                   "every unit through the API, which is what the dump is there to avoid")
        if params["as_json"]:
            echo_usage_json(message)
        raise click.UsageError(message)
    if params["api_key"] == "DEMO_KEY":
        click.echo(DEMO_KEY_WARNING, err=True)
    named = ctx.get_parameter_source("legislators") in (click.core.ParameterSource.COMMANDLINE,
                                                        click.core.ParameterSource.ENVIRONMENT)
    opts = Options.from_params(params, reload_legislators=named)
    ctx.exit(run_cli(opts, params["as_json"], params["verbose"]))


def run_cli(opts: Options, as_json: bool, verbose: bool) -> int:
    """Run one sync and report it; errors become one line and an exit code."""
    # Signals are handled from here to the last line of output, so a late Ctrl-C cannot
    # kill the process between a summary that says "complete" and its exit.
    with StopSignals(threading.Event()) as signals:
        result = run_sync(opts, signals, reraise_unexpected=verbose)
        return report(result, opts.quiet, as_json)


def report(result: Result, quiet: bool, as_json: bool) -> int:
    outcome = result.outcome
    if outcome.exit_code == EXIT_USAGE:
        outcome.message = outcome.message or "usage error"
        if as_json:
            echo_json(outcome.as_json(result.stats, result.elapsed))
        raise click.UsageError(outcome.message)
    summary = outcome.as_json(result.stats, result.elapsed)
    if not result.started:
        click.echo(f"Error: {outcome.message}", err=True)
    elif not quiet or outcome.exit_code != EXIT_OK:
        print_summary(outcome, summary)
    if as_json:
        echo_json(summary)
    return outcome.exit_code


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
            units = [dict(row) for row in plan.unit_states(conn)]
            unresolved = state.unresolved_politicians(conn, cycles or state.resolved_cycles(conn))
    except schema.DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc
    missing = [{"politician": bid, "candidate_ids": list(ids)} for bid, ids in unresolved]
    # the status is all --status has to say: failing to show it is the command failing
    if as_json:
        if not echo_json({"units": units, "unresolved": missing}, indent=2):
            raise click.exceptions.Exit(EXIT_FAILED)
        return
    lines = [f"{'committee':<10} {'cycle':>5} {'status':<9} {'rows':>8} "
             f"{'loaded_through':<20} {'completed_at':<20} {'check':<10} "
             f"{'upstream/here':<24} last_error"]
    lines += [
        f"{unit['committee_id']:<10} {unit['cycle']:>5} {unit['status']:<9} "
        f"{unit['rows_seen'] or 0:>8} {unit['loaded_through'] or '-':<20} "
        f"{unit['completed_at'] or '-':<20} {unit['verify_status'] or 'unchecked':<10} "
        f"{describe_check(unit):<24} {unit['last_error'] or ''}"
        for unit in units
    ]
    for item in missing:
        ids = ", ".join(item["candidate_ids"]) or "no FEC candidate id"
        lines.append(f"no campaign committee: {item['politician']} ({ids})")
    if not echo_stdout("\n".join(lines), "the status"):
        raise click.exceptions.Exit(EXIT_FAILED)


def describe_check(unit: dict[str, Any]) -> str:
    """'4,211/4,211 of 10 units': the API's count and ours for what was compared."""
    if unit["upstream_rows"] is None:
        return "-"
    scope = unit["verify_scope"] or 1
    group = f" of {scope} units" if scope > 1 else ""
    return f"{unit['upstream_rows']:,}/{unit['local_rows']:,}{group}"


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

