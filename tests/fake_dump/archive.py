"""Archives shaped like the FEC's `fec_fitem_sched_a.dump`, from rows or from a fake world.

The table of contents follows what pg_dump 15 writes for the FEC's tables (compare
reference/pg15_sched_a.list): the ENCODING, STDSTRINGS and SEARCHPATH entries, the
database, the `disclosure` schema, the parent table and one child per two-year period,
their TABLE DATA (the parent's empty), then constraints and indexes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fec.dump_archive import ArchiveHeader, TocEntry

from .schema import (
    COLUMN_NAMES,
    PARENT,
    SCHEMA,
    child_table,
    copy_statement,
    create_table_sql,
    dump_values,
)
from .writer import copy_text, write_archive

CODES = {  # compression name -> header code, before 1.15 (a level) and from 1.15 (algorithm)
    "gzip": (-1, 1), "none": (0, 0), "lz4": (None, 2), "zstd": (None, 3),
}


def make_header(created: datetime, *, version: tuple[int, int, int] = (1, 14, 0),
                compression: str = "gzip", database: str = "fec") -> ArchiveHeader:
    old, new = CODES[compression]
    code = new if version[:2] >= (1, 15) else old
    if code is None:
        raise ValueError(f"archive version {version} cannot name {compression}")
    fields = (created.second, created.minute, created.hour, created.day, created.month - 1,
              created.year - 1900, 0)
    pg = {(1, 14): "15.10", (1, 15): "16.6", (1, 16): "17.2"}[version[:2]]
    return ArchiveHeader(version, 4, 8, 1, code, fields, database, pg, pg)


def _entry(dump_id: int, desc: str, tag: str, *, section: int = 2, defn: str = "",
           drop: str | None = None, copy: str | None = None, namespace: str | None = SCHEMA,
           deps: Sequence[int] = (), had_dumper: int = 0, table_oid: str = "1259",
           oid: int = 0, tableam: str | None = None, owner: str | None = "fec") -> TocEntry:
    tablespace = "" if desc in ("TABLE", "INDEX", "CONSTRAINT") else None
    relkind = ord("r") if desc == "TABLE" else 0  # written from archive version 1.16 only
    return TocEntry(dump_id, had_dumper, table_oid, str(oid), tag, desc, section, defn, drop,
                    copy, namespace, tablespace, tableam, relkind, owner, "false",
                    tuple(str(d) for d in deps), 1, 0)


def fec_entries(cycles: Iterable[int], columns: Sequence[str] = COLUMN_NAMES,
                encoding: str = "UTF8") -> list[TocEntry]:
    """The TOC entries of the archive; TABLE DATA entries carry the table's COPY statement."""
    cycles = sorted(cycles)
    specials = [
        _entry(4001, "ENCODING", "ENCODING", owner=None, namespace=None, table_oid="0",
               defn=f"SET client_encoding = '{encoding}';\n"),
        _entry(4002, "STDSTRINGS", "STDSTRINGS", owner=None, namespace=None, table_oid="0",
               defn="SET standard_conforming_strings = 'on';\n"),
        _entry(4003, "SEARCHPATH", "SEARCHPATH", owner=None, namespace=None, table_oid="0",
               defn="SELECT pg_catalog.set_config('search_path', '', false);\n"),
        _entry(4004, "DATABASE", "fec", namespace=None, table_oid="1262", oid=16384,
               defn="CREATE DATABASE fec WITH TEMPLATE = template0 ENCODING = 'UTF8';\n",
               drop="DROP DATABASE fec;\n"),
        _entry(6, "SCHEMA", SCHEMA, namespace=None, table_oid="2615", oid=16385,
               defn=f"CREATE SCHEMA {SCHEMA};\n", drop=f"DROP SCHEMA {SCHEMA};\n"),
    ]
    tables = [PARENT, *(child_table(c) for c in cycles)]
    schema_entries, data_entries, post = [], [], []
    for i, table in enumerate(tables):
        table_id, oid = 300 + i, 17000 + 10 * i
        cycle = cycles[i - 1] if i else None
        schema_entries.append(_entry(
            table_id, "TABLE", table, defn=create_table_sql(table, PARENT if i else None, cycle),
            drop=f"DROP TABLE {SCHEMA}.{table};\n", deps=(6, 300) if i else (6,), oid=oid,
            tableam="heap"))
        data_entries.append(_entry(
            5000 + i, "TABLE DATA", table, section=3, copy=copy_statement(table, columns),
            deps=(table_id,), had_dumper=1, table_oid="0", oid=oid))
        if i:
            post.append(_entry(
                6000 + i, "CONSTRAINT", f"{table} {table}_pkey", section=4, table_oid="2606",
                oid=oid + 5, defn=f"ALTER TABLE ONLY {SCHEMA}.{table}\n    ADD CONSTRAINT "
                f"{table}_pkey PRIMARY KEY (sub_id);\n", deps=(table_id,),
                drop=f"ALTER TABLE ONLY {SCHEMA}.{table} DROP CONSTRAINT {table}_pkey;\n"))
    return specials + schema_entries + data_entries + post


def fec_archive(tables: Mapping[int, Sequence[Sequence[str | None]]], *,
                created: datetime = datetime(2026, 11, 1, 4, 30, 0),
                version: tuple[int, int, int] = (1, 14, 0), compression: str = "gzip",
                columns: Sequence[str] = COLUMN_NAMES, encoding: str = "UTF8",
                set_offsets: bool = True, chunk_size: int = 4096,
                blocks: Mapping[str, bytes] | None = None,
                texts: Mapping[str, bytes] | None = None) -> bytes:
    """An archive with one child table per cycle holding `tables[cycle]` (rows of COPY
    values in `columns` order). `blocks` / `texts` replace a table's raw data block or its
    COPY text, by table name, to build broken archives."""
    header = make_header(created, version=version, compression=compression)
    entries = fec_entries(tables, columns, encoding)
    data: dict[int, bytes] = {}
    raw: dict[int, bytes] = {}
    for entry in entries:
        if entry.desc != "TABLE DATA" or entry.tag is None:
            continue
        cycle = int(entry.tag.rsplit("_", 1)[1]) if entry.tag != PARENT else None
        rows = tables.get(cycle, ()) if cycle is not None else ()
        data[entry.dump_id] = (texts or {}).get(entry.tag) or copy_text(rows)
        if blocks and entry.tag in blocks:
            raw[entry.dump_id] = blocks[entry.tag]
    return write_archive(header, entries, data, chunk_size=chunk_size,
                         set_offsets=set_offsets, blocks=raw)


def world_tables(world: Any, snapshot: Any, cycles: Iterable[int],
                 extra: Mapping[int, Sequence[Mapping[str, Any]]] | None = None,
                 seed: int = 1) -> dict[int, list[list[str | None]]]:
    """Every row of the snapshot (all committees, not only the campaign ones) in the dump's
    layout, per cycle, in a shuffled physical order; `extra` adds API records per cycle."""
    tables: dict[int, list[list[str | None]]] = {cycle: [] for cycle in cycles}
    for row in snapshot.rows:
        if row.cycle in tables:
            tables[row.cycle].append(dump_values(world.record(row)))
    for cycle, records in (extra or {}).items():
        tables[cycle].extend(dump_values(record) for record in records)
    rng = random.Random(seed)
    for rows in tables.values():
        rng.shuffle(rows)
    return tables


def world_archive(world: Any, snapshot: Any, cycles: Iterable[int] | None = None,
                  **options: Any) -> bytes:
    """The weekly dump of a fake world, as of `snapshot` (world.dump_snapshot())."""
    tables = world_tables(world, snapshot, cycles or world.cycles)
    return fec_archive(tables, created=snapshot.taken_at.replace(microsecond=0), **options)
