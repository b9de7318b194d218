"""Rows held on disk until the dump table they come from has been read to its end and
checked: only then may the first of them be written to the database.

The spool is an anonymous temporary file beside the database (its directory has room for
the rows by definition, where /tmp may be a small RAM disk). It has no name, so nothing is
left behind whatever ends the process, a kill -9 included. It keeps only what the
database stores of each row, in batches compressed with zlib's fastest level.
"""

from __future__ import annotations

import marshal
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, BinaryIO

from db.donations import COLUMNS
from fec.dump_errors import DumpError

FIELDS: tuple[str, ...] = ("sub_id", *COLUMNS)
BATCH_ROWS = 2_000  # rows per spooled batch, and per transaction when they are written
_LENGTH = struct.Struct("<I")


class RowSpool:
    def __init__(self, directory: str | os.PathLike[str], batch_rows: int = BATCH_ROWS) -> None:
        self.directory, self.batch_rows = os.fspath(directory), batch_rows
        self.rows = 0
        self.bytes = 0  # on disk, compressed
        self._batch: list[tuple[Any, ...]] = []
        try:
            # closed by __exit__: the spool is used as a context manager
            self._file: BinaryIO = tempfile.TemporaryFile(  # noqa: SIM115
                dir=self.directory, prefix=".seed-spool-")
        except OSError as exc:
            raise self._error(exc) from exc

    def __enter__(self) -> RowSpool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._file.close()

    def add(self, record: Mapping[str, Any]) -> None:
        self._batch.append(tuple(record.get(name) for name in FIELDS))
        self.rows += 1
        if len(self._batch) >= self.batch_rows:
            self._flush()

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        """Every row added, in order, as records of the stored fields, a batch at a time."""
        self._flush()
        try:
            self._file.seek(0)
            while head := self._file.read(_LENGTH.size):
                data = self._file.read(_LENGTH.unpack(head)[0])
                yield [dict(zip(FIELDS, values, strict=True))
                       for values in marshal.loads(zlib.decompress(data))]
        except OSError as exc:
            raise self._error(exc) from exc

    def _flush(self) -> None:
        if not self._batch:
            return
        data = zlib.compress(marshal.dumps(self._batch), 1)
        try:
            self._file.write(_LENGTH.pack(len(data)) + data)
        except OSError as exc:
            raise self._error(exc) from exc
        self.bytes += _LENGTH.size + len(data)
        self._batch = []

    def _error(self, exc: OSError) -> DumpError:
        return DumpError(f"cannot keep the dump's rows in a temporary file in {self.directory} "
                         f"until the table is checked: {exc.strerror or exc}")
