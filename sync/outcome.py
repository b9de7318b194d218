"""What a run ended with: its status and exit code, and the one table that turns an error
into them.

Exit codes (design §2): 0 everything requested is synced; 75 stopped early but safely, a
re-run resumes; 1 failure; 2 usage error; 130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
from typing import Any

from db.lock import LockHeld
from db.schema import DatabaseBusy, DatabaseError
from fec import errors
from fec.client import RequestStats
from sync.checks import CheckTally
from sync.seed import SeedReport

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 75
SIGNAL_EXITS = {signal.SIGINT: 130, signal.SIGTERM: 143}


class SelectionError(Exception):
    """The run was asked for something that does not exist (a usage error)."""


# The one place where an error becomes a status and an exit code; the first match wins.
# Outside a unit (legislators, committee look-ups) a transient failure stops everything,
# but nothing is lost either: stop safely and let a later run resume.
ERRORS: tuple[tuple[type[BaseException], str, int, str], ...] = (
    (errors.StopSync, "stopped", EXIT_STOPPED, "{}"),
    (LockHeld, "stopped", EXIT_STOPPED, "{}"),
    (DatabaseBusy, "stopped", EXIT_STOPPED, "{}"),
    (errors.TransientError, "stopped", EXIT_STOPPED, "{}; re-run later to resume"),
    (SelectionError, "failed", EXIT_USAGE, "{}"),
    (errors.Cancelled, "interrupted", EXIT_FAILED, "{}"),
    (errors.FecError, "failed", EXIT_FAILED, "{}"),
    (DatabaseError, "failed", EXIT_FAILED, "{}"),
)


def classify(exc: BaseException) -> tuple[str, int, str] | None:
    """(status, exit code, message) for a known error; None for an unexpected one."""
    for kind, status, code, message in ERRORS:
        if isinstance(exc, kind):
            text = str(exc)
            if not message.endswith("{}"):  # the sentence goes on after it
                text = text.removesuffix(".")
            return status, code, message.format(text)
    return None


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

    def set(self, status: str, code: int, message: str | None) -> None:
        self.status, self.exit_code, self.message = status, code, message

    def take(self, exc: BaseException) -> bool:
        """Set the outcome from a known error (and the time to resume after, when the quota
        stopped the run); False for an unexpected one."""
        known = classify(exc)
        if known is None:
            return False
        self.set(*known)
        if isinstance(exc, errors.QuotaExhausted):
            resume = dt.datetime.fromtimestamp(exc.resume_after, dt.UTC)
            self.resume_after = resume.strftime("%Y-%m-%dT%H:%M:%SZ")
        return True

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
