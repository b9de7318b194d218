"""SIGINT/SIGTERM as a stop request: the run finishes what is in flight, commits, and ends
with 130/143, instead of an exception at a random point."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from fec.errors import Cancelled

logger = logging.getLogger(__name__)

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While entered (in the main thread), SIGINT and SIGTERM set `stop` and are remembered
    in `received`; within `interruptible()` they also raise Cancelled at once."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._raise = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            logger.warning(
                "%s received: finishing in-flight pages, then stopping",
                signal.Signals(signum).name,
            )
        self.stop.set()
        if self._raise:
            self._raise = False
            raise Cancelled(f"interrupted by {signal.Signals(signum).name}")

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Within this block a signal raises at once, even out of a blocking request.

        Only for main-thread work that has nothing half-done worth finishing (downloads and
        look-ups whose results are saved in their own transactions)."""
        if self.stop.is_set():
            raise Cancelled("interrupted")
        self._raise = True
        try:
            yield
        finally:
            self._raise = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
