"""One sync per database file: an advisory lock on a file beside it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from db.schema import DatabaseError


class LockHeld(DatabaseError):
    """Another process is syncing into the same database."""


@contextmanager
def exclusive_lock(db_path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold `<db>.lock` for the duration of a sync.

    flock is released by the kernel when the process dies, even on kill -9, so a
    crashed run never leaves a stale lock behind (a pid file would).
    """
    # The real path, so that a symlink or a relative path cannot dodge the lock.
    lock_path = f"{os.path.realpath(db_path)}.lock"
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the whole block below
    except OSError as exc:
        raise DatabaseError(f"cannot create lock file {lock_path}: {exc.strerror}") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(
                f"another sync is already running on {os.fspath(db_path)} "
                f"(lock {lock_path} is held); this run stops so that one can finish"
            ) from None
        yield
