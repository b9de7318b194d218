"""Make the reference archives in tests/fake_dump/reference/ with a real PostgreSQL 15.

    python -m tests.fake_dump.make_reference [--bindir /usr/lib/postgresql/15/bin]

It needs a running PostgreSQL 15 server reachable through the usual libpq variables
(PGHOST, PGPORT, PGUSER). A throwaway one, as a user that may run it (not root):

    initdb -D /tmp/pg -U postgres -E UTF8 --locale=C.UTF-8 -A trust
    pg_ctl -D /tmp/pg -o "-p 54315 -k /tmp/pg -c listen_addresses=" start
    PGHOST=/tmp/pg PGPORT=54315 PGUSER=postgres python -m tests.fake_dump.make_reference

It (re)creates the database `fec_reference` holding the FEC's Schedule A parent table, two
two-year child tables filled with the rows of reference_rows.py, and writes:

* pg15_sched_a.dump: `pg_dump -Fc` (gzip at the default level, data offsets set);
* pg15_sched_a_z0.dump: `pg_dump -Fc -Z 0` (no compression);
* pg15_sched_a_piped.dump: `pg_dump -Fc` written to a pipe, so without data offsets;
* a `.list` beside each: `pg_restore -l`, PostgreSQL's own reading of the archive, which
  the tests compare with ours.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .reference_rows import TABLE_ROWS
from .schema import COLUMN_NAMES, PARENT, SCHEMA, child_table, create_table_sql

HERE = Path(__file__).resolve().parent / "reference"
DATABASE = "fec_reference"


def literal(value: str | None) -> str:
    # standard_conforming_strings is on: only the quote itself needs doubling
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def build_sql() -> str:
    parts = [f"CREATE SCHEMA {SCHEMA};\n", create_table_sql()]
    for table, rows in TABLE_ROWS.items():
        cycle = int(table.rsplit("_", 1)[1])
        parts.append(create_table_sql(table, PARENT, cycle))
        parts.append(f"ALTER TABLE ONLY {SCHEMA}.{table} ADD CONSTRAINT {table}_pkey "
                     "PRIMARY KEY (sub_id);\n")
        parts.append(f"CREATE INDEX idx_{table}_cmte_id ON {SCHEMA}.{table} (cmte_id);\n")
        for row in rows:
            values = ", ".join(literal(row[name]) for name in COLUMN_NAMES)
            parts.append(f"INSERT INTO {SCHEMA}.{table} ({', '.join(COLUMN_NAMES)}) "
                         f"VALUES ({values});\n")
    return "".join(parts)


def run(*cmd: str, stdin: str | None = None) -> str:
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bindir", default="/usr/lib/postgresql/15/bin")
    args = parser.parse_args()
    psql, pg_dump, pg_restore = (str(Path(args.bindir) / n)
                                 for n in ("psql", "pg_dump", "pg_restore"))
    version = run(pg_dump, "--version")
    if " 15." not in version:
        sys.exit(f"need pg_dump 15 (the FEC's), found: {version.strip()}")
    run(psql, "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c",
        f"DROP DATABASE IF EXISTS {DATABASE}")
    run(psql, "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c",
        f"CREATE DATABASE {DATABASE} ENCODING 'UTF8' TEMPLATE template0")
    run(psql, "-v", "ON_ERROR_STOP=1", "-q", "-d", DATABASE, stdin=build_sql())
    HERE.mkdir(exist_ok=True)
    outputs = {
        "pg15_sched_a.dump": [pg_dump, "-Fc", "-f", str(HERE / "pg15_sched_a.dump"), DATABASE],
        "pg15_sched_a_z0.dump": [pg_dump, "-Fc", "-Z", "0", "-f",
                                 str(HERE / "pg15_sched_a_z0.dump"), DATABASE],
    }
    for cmd in outputs.values():
        run(*cmd)
    piped = subprocess.run(f"'{pg_dump}' -Fc {DATABASE} | cat", shell=True,
                           capture_output=True, check=True)
    (HERE / "pg15_sched_a_piped.dump").write_bytes(piped.stdout)
    for name in (*outputs, "pg15_sched_a_piped.dump"):
        listing = run(pg_restore, "-l", str(HERE / name))
        (HERE / name).with_suffix(".list").write_text(listing)
    print(f"wrote {', '.join(sorted(p.name for p in HERE.iterdir()))} "
          f"with {version.strip()} ({child_table(2026)} and {child_table(2024)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
