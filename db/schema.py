"""The SQLite schema, its forward migrations, and how every connection is opened.

The schema version lives in `PRAGMA user_version`. MIGRATIONS[i] takes a database from
version i to version i + 1; every statement in it is idempotent (IF NOT EXISTS, OR IGNORE),
so a step that is re-run after an interruption, or by two processes racing, does no harm.
Steps already released are never edited: a change is a new step at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from db import explore

BUSY_TIMEOUT_MS = 30_000
WAL_AUTOCHECKPOINT_PAGES = 10_000  # a reader or a second process may hold the lock for a moment

_V1_TABLES = """
CREATE TABLE IF NOT EXISTS politicians (
    bioguide_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    party       TEXT,
    state       TEXT,
    chamber     TEXT,
    fec_ids     TEXT NOT NULL DEFAULT '[]',   -- JSON list of FEC candidate ids
    source      TEXT,
    loaded_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS fec_mappings (
    bioguide_id    TEXT NOT NULL REFERENCES politicians (bioguide_id),
    candidate_id   TEXT NOT NULL,
    committee_id   TEXT NOT NULL,
    committee_name TEXT,
    designation    TEXT,
    cycle          INTEGER NOT NULL,
    resolved_at    TEXT NOT NULL,
    provenance     TEXT,
    PRIMARY KEY (bioguide_id, candidate_id, committee_id, cycle)
);
-- plan_units: distinct (committee, cycle) for a set of cycles
CREATE INDEX IF NOT EXISTS fec_mappings_cycle_committee ON fec_mappings (cycle, committee_id);

CREATE TABLE IF NOT EXISTS donations (
    sub_id                        TEXT PRIMARY KEY NOT NULL,  -- TEXT keys accept NULL otherwise
    committee_id                  TEXT NOT NULL,
    contributor_name              TEXT,
    contributor_first_name        TEXT,
    contributor_last_name         TEXT,
    contributor_employer          TEXT,
    contributor_occupation        TEXT,
    contributor_city              TEXT,
    contributor_state             TEXT,
    contributor_zip               TEXT,
    contributor_id                TEXT,
    entity_type                   TEXT,
    is_individual                 INTEGER CHECK (is_individual IN (0, 1)),
    contribution_receipt_amount   REAL,
    contribution_receipt_date     TEXT,
    two_year_transaction_period   INTEGER,
    report_year                   INTEGER,
    report_type                   TEXT,
    receipt_type                  TEXT,
    line_number                   TEXT,
    memo_code                     TEXT,
    memo_text                     TEXT,
    transaction_id                TEXT,
    back_reference_transaction_id TEXT,
    file_number                   INTEGER,
    image_number                  TEXT,
    pdf_url                       TEXT,
    amendment_indicator           TEXT,
    load_date                     TEXT,
    first_seen_at                 TEXT NOT NULL,
    last_seen_at                  TEXT NOT NULL,
    superseded_at                 TEXT   -- set by a reconciliation; rows are never deleted
);
CREATE INDEX IF NOT EXISTS donations_committee_date
    ON donations (committee_id, contribution_receipt_date);
CREATE INDEX IF NOT EXISTS donations_contributor_name ON donations (contributor_name);

CREATE TABLE IF NOT EXISTS sync_state (
    committee_id       TEXT NOT NULL,
    cycle              INTEGER NOT NULL,
    status             TEXT NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'running', 'complete', 'failed')),
    cursor             TEXT,      -- the whole last_indexes object, JSON; NULL = start of pass
    pass_min_load_date TEXT,
    pass_sort          TEXT,
    pass_started_at    TEXT,
    pass_max_load_date TEXT,      -- largest load_date seen in the pass so far
    rows_seen          INTEGER NOT NULL DEFAULT 0,
    requests           INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    loaded_through     TEXT,      -- watermark: advanced only when a pass completes
    completed_at       TEXT,
    updated_at         TEXT,
    PRIMARY KEY (committee_id, cycle)
);

CREATE TABLE IF NOT EXISTS runs (
    run_id      INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    options     TEXT,   -- JSON, never the API key
    status      TEXT,
    exit_code   INTEGER,
    summary     TEXT,   -- JSON
    elapsed_s   REAL
);
"""

# v2: remember that a politician-cycle was resolved even when it mapped to nothing, so it
# is not looked up again on every run. Existing mappings count as resolutions.
_V2_RESOLUTIONS = """
CREATE TABLE IF NOT EXISTS resolutions (
    bioguide_id TEXT NOT NULL REFERENCES politicians (bioguide_id),
    cycle       INTEGER NOT NULL,
    resolved_at TEXT NOT NULL,
    PRIMARY KEY (bioguide_id, cycle)
);
INSERT OR IGNORE INTO resolutions (bioguide_id, cycle, resolved_at)
    SELECT bioguide_id, cycle, MIN(resolved_at) FROM fec_mappings GROUP BY bioguide_id, cycle;
"""

# v3: when a unit's last *full* pass completed, so that a --full run stopped early (quota,
# signal) can be resumed without rescanning the units it already finished. Earlier
# complete full passes count. (ADD COLUMN is skipped when the column exists.)
_V3_FULL_PASS = """
ALTER TABLE sync_state ADD COLUMN full_completed_at TEXT;
UPDATE sync_state SET full_completed_at = completed_at
    WHERE status = 'complete' AND pass_min_load_date IS NULL;
"""

# v4: units page in keyset chains of up to 10 committees. A running unit's chain_id names
# the chain its pass runs in; every member of a chain holds the chain's cursor and pass
# parameters, all written in one statement, so a chain resumes as one after a kill.
_V4_CHAINS = """
ALTER TABLE sync_state ADD COLUMN chain_id INTEGER;
"""

# v5: count verification. After a pass, the unit's live rows are compared with the API's
# exact count, alone or together with the other units of its check (verify_scope units);
# upstream_rows and local_rows are the two sides of that comparison, live_rows the unit's
# own live rows at the time.
_V5_VERIFICATION = """
ALTER TABLE sync_state ADD COLUMN verify_status TEXT;
ALTER TABLE sync_state ADD COLUMN verified_at TEXT;
ALTER TABLE sync_state ADD COLUMN upstream_rows INTEGER;
ALTER TABLE sync_state ADD COLUMN local_rows INTEGER;
ALTER TABLE sync_state ADD COLUMN verify_scope INTEGER;
ALTER TABLE sync_state ADD COLUMN live_rows INTEGER;
"""

# v6: committee designations cycle by cycle, from the committee history endpoint. A closed
# cycle's row never changes, so it is asked for once. Mappings made before this step took
# every committee's latest designation for all cycles (missing principal committees later
# turned into PACs): they are marked stale, so the next run resolves them again.
_V6_COMMITTEE_CYCLES = """
CREATE TABLE IF NOT EXISTS committee_cycles (
    committee_id        TEXT NOT NULL,
    cycle               INTEGER NOT NULL,
    designation         TEXT,
    former_candidate_id TEXT,   -- whose principal committee it was until converted this cycle
    fetched_at          TEXT NOT NULL,
    PRIMARY KEY (committee_id, cycle)
);
UPDATE resolutions SET resolved_at = '1970-01-01T00:00:00.000000Z';
"""

# v7: views that answer the common questions, and full-text search (db/explore.py).
_V7_EXPLORE = explore.MIGRATION

# v8: first loads from the FEC's weekly dump (--seed-from-dump). seeded_at is set once a
# unit's rows from a dump table have all been committed: the unit is then never read from a
# dump again, and its first API pass is incremental from the watermark the dump gave
# (loaded_through). seed_rows counts its rows in the dump, seed_snapshot is when the dump
# was taken.
_V8_SEEDS = """
ALTER TABLE sync_state ADD COLUMN seeded_at TEXT;
ALTER TABLE sync_state ADD COLUMN seed_rows INTEGER;
ALTER TABLE sync_state ADD COLUMN seed_snapshot TEXT;
"""

MIGRATIONS: tuple[str, ...] = (_V1_TABLES, _V2_RESOLUTIONS, _V3_FULL_PASS, _V4_CHAINS,
                               _V5_VERIFICATION, _V6_COMMITTEE_CYCLES, _V7_EXPLORE,
                               _V8_SEEDS)
SCHEMA_VERSION: int = len(MIGRATIONS)


class DatabaseError(Exception):
    """A database problem, as one line a user can act on."""


class DatabaseBusy(DatabaseError):
    """Another program kept the file locked for longer than the busy timeout."""


class SchemaTooNew(DatabaseError):
    """The file was written by a newer sync_donations than this one."""


def utc_now() -> str:
    """The current time as stored everywhere: 2026-11-28T12:00:00.000000Z.

    Microseconds, always all six digits, so that text order is time order even for
    events within one second (reconciliation compares last_seen_at with a pass start)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open `path` (created if missing) with the project's settings and a current schema.

    Transactions are explicit (isolation_level=None): callers use `transaction()`.
    check_same_thread stays True, so sqlite3 refuses use from any other thread.
    """
    label = os.fspath(path)
    try:
        conn = sqlite3.connect(label, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open {label}: {_open_failure(exc, label)}") from exc
    try:
        _refuse_foreign(conn, label)
        _configure(conn)
        ensure_schema(conn, label=label)
    except sqlite3.Error as exc:
        conn.close()
        if is_busy(exc):
            raise as_database_error(exc, label) from exc
        raise DatabaseError(f"cannot open {label}: {_open_failure(exc, label)}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


_CREATE_TABLE = re.compile(r"CREATE\s+(?:VIRTUAL\s+)?TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)",
                           re.IGNORECASE)
_OWN_TABLES = frozenset(name for step in MIGRATIONS for name in _CREATE_TABLE.findall(step))


def _refuse_foreign(conn: sqlite3.Connection, label: str) -> None:
    """Refuse another application's SQLite file before anything is written to it (not even
    the switch to WAL). A file at version 0 may hold only tables of ours (a new file holds
    none); a versioned one must hold ours, while tables a user added beside them are fine."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = sorted(row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
    if version == 0:
        foreign = [t for t in tables if t not in _OWN_TABLES
                   and not t.startswith(f"{explore.FTS_TABLE}_")]  # FTS5's own tables
    else:
        foreign = [] if "politicians" in tables else tables
    if foreign:
        shown = ", ".join(foreign[:5]) + (", …" if len(foreign) > 5 else "")
        raise DatabaseError(f"cannot open {label}: not a sync_donations database (it holds "
                            f"other tables: {shown}); choose a new file or one "
                            "sync_donations wrote")


def _configure(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # The first statement that reads the file: a non-database fails here.
    conn.execute("PRAGMA journal_mode = WAL").fetchone()
    # NORMAL in WAL mode loses nothing on a process kill, only on power loss.
    conn.execute("PRAGMA synchronous = NORMAL")
    # In WAL mode with NORMAL, the fsyncs happen at checkpoints; checkpointing every ~40 MB
    # instead of every 4 MB made page commits about 40% faster (make bench, writer case).
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    conn.execute("PRAGMA foreign_keys = ON")


def _open_failure(exc: sqlite3.Error, label: str) -> str:
    """SQLite's reason, made specific when the directory is the problem."""
    reason = str(exc)
    if "unable to open" not in reason and "readonly" not in reason:
        return reason
    directory = Path(label).resolve().parent
    if not directory.is_dir():
        return f"directory {directory} does not exist"
    if not os.access(directory, os.W_OK):
        return f"directory {directory} is not writable"
    return reason


def ensure_schema(conn: sqlite3.Connection, *, label: str | None = None) -> None:
    """Bring the schema to SCHEMA_VERSION, or refuse a file from a newer version."""
    name = label or database_path(conn)
    if _check_version(conn, name) == SCHEMA_VERSION:
        return  # the usual case takes no write lock, so readers never wait for a sync
    with transaction(conn):
        # Read again under the write lock: another process may have migrated meanwhile.
        version = _check_version(conn, name)
        for step in MIGRATIONS[version:]:
            for statement in _statements(step):
                if not _column_exists(conn, statement):
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _check_version(conn: sqlite3.Connection, name: str) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{name} has schema version {version}, newer than this sync_donations supports "
            f"({SCHEMA_VERSION}); upgrade sync_donations"
        )
    return version


_ADD_COLUMN = re.compile(r"ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.IGNORECASE)


def _column_exists(conn: sqlite3.Connection, statement: str) -> bool:
    """True for an ADD COLUMN whose column is already there: SQLite has no IF NOT EXISTS
    for columns, and this keeps such a step as idempotent as the others."""
    match = _ADD_COLUMN.match(statement)
    if match is None:
        return False
    table, column = match.groups()
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def _statements(script: str) -> Iterator[str]:
    """Split a migration step into statements (execute() takes one at a time)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]}")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception.

    IMMEDIATE takes the write lock up front, so a transaction never fails half-way
    with SQLITE_BUSY after it has read.
    """
    if _open_transaction(conn):
        raise DatabaseError("a transaction is already open on this connection")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if _open_transaction(conn):  # some errors have already rolled it back
            conn.rollback()
        raise


def _open_transaction(conn: sqlite3.Connection) -> bool:
    # A function, not the attribute inline: the answer changes under the type checker's feet.
    return conn.in_transaction


def database_path(conn: sqlite3.Connection) -> str:
    """The file behind `conn`, for messages (":memory:" for an in-memory database)."""
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return str(row[2]) or ":memory:"
    return ":memory:"


def as_database_error(exc: sqlite3.Error, name: str) -> DatabaseError:
    """Wrap a raw sqlite3 error in a one-line DatabaseError naming the file; a busy timeout
    becomes DatabaseBusy, since the file is sound and a later run can go on."""
    if is_busy(exc):
        waited = f"{BUSY_TIMEOUT_MS / 1000:g}"
        return DatabaseBusy(f"{name}: {exc}: another program kept it locked for over "
                            f"{waited} s; this run stops so that it can finish.")
    return DatabaseError(f"{name}: {exc}")


def is_busy(exc: sqlite3.Error) -> bool:
    # Extended result codes (SQLITE_BUSY_SNAPSHOT, ...) keep SQLITE_BUSY in their low byte.
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY
