"""What a dump load shows while it runs, by the sync's conventions: a tqdm bar on stderr
when it is a terminal (bytes of the table while it is read, then rows while they are
written), a log line every 30 s otherwise, nothing with --quiet.

Only one thread updates it at a time: the main thread while the table is read, the writer
thread (through its commit callback) while the rows are written.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from fec.dump import DumpProgress

logger = logging.getLogger(__name__)


class SeedProgress:
    LOG_EVERY_S = 30.0

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.terminal = not quiet and sys.stderr.isatty()
        self.bar: Any = None
        self.cycle = 0
        self.total_rows = 0
        self.written = 0
        self._last_log = time.monotonic()

    @contextlib.contextmanager
    def reading(self, cycle: int) -> Iterator[None]:
        """While a cycle's table is read; the bar opens at the first progress report, when
        the table's size is known."""
        self.cycle = cycle
        with self._redirected_logs():
            try:
                yield
            finally:
                self._close()

    def read(self, progress: DumpProgress) -> None:
        rows = f"{progress.rows_read:,} rows read, {progress.rows_kept:,} kept"
        if self.terminal:
            if self.bar is None:
                self.bar = self._bar(progress.bytes_total, "B", f"dump {self.cycle}")
            self.bar.update(progress.bytes_read - self.bar.n)
            self.bar.set_postfix_str(rows, refresh=False)
        elif self._due():
            logger.info("dump %s: %s of %s read, %s", self.cycle, human_bytes(progress.bytes_read),
                        human_bytes(progress.bytes_total), rows)

    @contextlib.contextmanager
    def writing(self, cycle: int, rows: int) -> Iterator[None]:
        self.cycle, self.total_rows, self.written = cycle, rows, 0
        with self._redirected_logs():
            if self.terminal:
                self.bar = self._bar(rows, "row", f"dump {cycle} -> db")
            try:
                yield
            finally:
                self._close()

    def _redirected_logs(self) -> contextlib.AbstractContextManager[Any]:
        """Log lines printed above the bar instead of through it."""
        if not self.terminal:
            return contextlib.nullcontext()
        from tqdm.contrib.logging import logging_redirect_tqdm

        redirect: contextlib.AbstractContextManager[Any] = logging_redirect_tqdm()
        return redirect

    def wrote(self, rows: int) -> None:
        self.written += rows
        if self.bar is not None:
            self.bar.update(rows)
        elif not self.quiet and self._due():
            logger.info("dump %s: %s of %s rows written", self.cycle, f"{self.written:,}",
                        f"{self.total_rows:,}")

    def _bar(self, total: int, unit: str, desc: str) -> Any:
        from tqdm import tqdm

        return tqdm(total=total, unit=unit, unit_scale=True, desc=desc, file=sys.stderr,
                    dynamic_ncols=True, leave=False)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _due(self) -> bool:
        now = time.monotonic()
        if self.quiet or now - self._last_log < self.LOG_EVERY_S:
            return False
        self._last_log = now
        return True


def human_bytes(n: int) -> str:
    """1,234,567 -> '1.2 MB' (decimal units, as tqdm's unit_scale shows them)."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} TB"
