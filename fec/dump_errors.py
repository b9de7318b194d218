"""Why the FEC's weekly dump could not be used.

Every one of these means "load this cycle through the API instead": the message is one
line for the user, and nothing read before the error may be trusted to be complete.
They sit apart from fec.errors because none of them stops a sync; the caller falls back.
"""

from __future__ import annotations

from fec.errors import FecError


class DumpError(FecError):
    """The dump cannot be used for this load."""


class DumpUnsupported(DumpError):
    """An archive this reader cannot read exactly: its version, compression or encoding, or
    a file written without data offsets."""


class DumpCorrupt(DumpError):
    """The archive contradicts its own format: a wrong block id, a broken or cut zlib
    stream, COPY text that does not parse."""


class DumpSchemaChanged(DumpError):
    """The table is missing for the cycle, lacks a column we need, or holds a value of a
    different type than the API's model expects."""


class DumpDownloadError(DumpError):
    """The file could not be fetched: HTTP errors, or network failures after retries."""


class DumpReplaced(DumpError):
    """The file changed while it was being read (the weekly replacement): two files are
    never spliced, so the read stops."""

    def __init__(self, where: str, before: str | None, after: str | None) -> None:
        self.before, self.after = before, after
        super().__init__(
            f"{where} was replaced while it was being read (ETag {before or 'unknown'} "
            f"became {after or 'unknown'}); nothing from the two files is mixed: "
            "start the load again to read the new file"
        )


class DumpStale(DumpError):
    """The snapshot is too old to be worth loading: the FEC's weekly job is lagging."""


class DumpMismatch(DumpError):
    """The dump's rows, converted, are not what the API serves for them: a load would not
    be exact."""
