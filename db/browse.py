"""`make explore`: open a synced database in Datasette with the project's metadata.

    python -m db.browse donations.db [datasette serve options, e.g. --port 8002 --open]

It brings the file's schema up to date first (the views and the search index arrive with
a schema migration), names the metadata's database after the file (Datasette names a
database after its file: demo.db is "demo"), then becomes `datasette serve` until that is
stopped. Datasette is an optional dependency (the `explore` extra, which `make install`
installs); nothing else in the project needs it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from db.schema import DatabaseError, connect

METADATA = Path(__file__).with_name("datasette-metadata.yml")
METADATA_DATABASE = "donations"  # the name the metadata file uses for the database
# The views total on read: at half a million rows, ranking every member's contributors
# takes seconds, past Datasette's default limit of one.
SETTINGS = (("sql_time_limit_ms", "20000"),)


def prepare_database(path: str | Path) -> None:
    """Bring an existing database to the current schema; refuse to create a new one."""
    if not Path(path).is_file():
        raise DatabaseError(f"{path} does not exist; run `make sync` (or `make demo`) first")
    with contextlib.closing(connect(path)):
        pass


def datasette_metadata(database_name: str) -> dict[str, Any]:
    """The project's Datasette metadata with its database entry under `database_name`."""
    import yaml  # Datasette's own dependency: only needed where Datasette is installed

    metadata: dict[str, Any] = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    databases = metadata.get("databases", {})
    if METADATA_DATABASE in databases:
        databases[database_name] = databases.pop(METADATA_DATABASE)
    return metadata


def datasette_command(path: str | Path, extra: Sequence[str] = ()) -> list[str]:
    """`datasette serve` for `path`, reading the metadata from standard input."""
    settings = [arg for name, value in SETTINGS for arg in ("--setting", name, value)]
    return [sys.executable, "-m", "datasette", "serve", str(path), "--metadata", "-",
            *settings, *extra]


def main(argv: Sequence[str] | None = None) -> int:
    """Check, upgrade, then become `datasette serve`; returns only on an error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print("usage: python -m db.browse DATABASE [datasette serve options]", file=sys.stderr)
        return 2
    path, extra = args[0], args[1:]
    if importlib.util.find_spec("datasette") is None:
        print("Error: Datasette is not installed; run `make install`", file=sys.stderr)
        return 1
    try:
        prepare_database(path)
    except DatabaseError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    serve(datasette_command(path, extra), json.dumps(datasette_metadata(Path(path).stem)))


def serve(command: list[str], metadata: str) -> NoReturn:
    """Become `command` with `metadata` on its standard input.

    exec, not a child process: a signal meant for `make explore` then reaches Datasette
    itself, and no server is left behind holding the port. The metadata goes through an
    unlinked temporary file, which, unlike a pipe, cannot fill up before Datasette reads it.
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8") as handle:
        handle.write(metadata)
        handle.flush()
        handle.seek(0)
        os.dup2(handle.fileno(), 0)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
