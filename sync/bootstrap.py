"""Before any Schedule A request: the politicians (congress-legislators), and their
campaign committees of each cycle (OpenFEC look-ups), saved batch by batch."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

from db import state
from db.rows import moment_of, parse_time
from db.schema import utc_now
from fec.client import FecClient
from fec.committees import (
    CAMPAIGN_DESIGNATIONS,
    FIRST_REQUEST_IDS,
    CommitteeLink,
    CycleDesignation,
    fetch_committees,
    ids_per_request,
)
from fec.errors import Cancelled, LegislatorsError
from fec.legislators import load_legislators
from sync.options import Options, current_cycle
from sync.outcome import SelectionError

logger = logging.getLogger(__name__)

Batch = list[tuple[str, tuple[str, ...]]]  # (bioguide_id, FEC candidate ids)
# Under a day, so that a nightly run refreshes the list, and runs an hour apart do not.
LEGISLATORS_MAX_AGE = dt.timedelta(hours=20)


def ensure_politicians(conn: sqlite3.Connection, opts: Options, now: str | None = None) -> None:
    """Load the legislators when the database has none, when a source was named, or when
    the list loaded is older than LEGISLATORS_MAX_AGE: members change (a new Congress, a
    special election), and a nightly run left to its defaults must follow them. A refresh
    that fails keeps the list loaded, with a warning: it is not worth a night's sync."""
    loaded_at = parse_time(state.politicians_loaded_at(conn))
    if loaded_at is None or opts.reload_legislators:
        load_politicians(conn, opts.legislators)
    elif moment_of(now) - loaded_at >= LEGISLATORS_MAX_AGE:
        try:
            load_politicians(conn, opts.legislators)
        except LegislatorsError as exc:
            logger.warning("could not refresh the politicians, going on with the list loaded "
                           "%s: %s", loaded_at.strftime("%Y-%m-%d %H:%M UTC"), exc)


def load_politicians(conn: sqlite3.Connection, source: str) -> None:
    politicians = load_legislators(source)
    count = state.save_politicians(conn, politicians, source, utc_now())
    logger.info("loaded %d politicians from %s", count, source)


def check_selection(conn: sqlite3.Connection, wanted: list[str] | None) -> None:
    unknown = state.unknown_politicians(conn, wanted) if wanted else []
    if unknown:
        raise SelectionError(
            f"unknown politician id(s): {', '.join(unknown)} (not in the legislators data; "
            "use bioguide ids such as P000197)"
        )


def resolve_committees(conn: sqlite3.Connection, client: FecClient, opts: Options,
                       stop: threading.Event) -> None:
    """Map politicians lacking a fresh mapping to their committees of each cycle, in few
    requests.

    Politicians go in batches that fill one look-up request each, and every batch is saved
    before the next is asked for: a stop (quota, signal, --max-requests) keeps the look-ups
    already paid for, and the next run asks only for the rest. A committee's history is
    saved as soon as it arrives, and what of it can no longer change is not asked again."""
    todo = state.politicians_needing_resolution(
        conn, opts.cycles, opts.politicians, max_age_days=7, now=utc_now()
    )
    if todo:
        logger.info("resolving committees of %d politicians", len(todo))
    known = settled_designations(conn)

    def keep(rows: list[CycleDesignation]) -> None:
        state.save_committee_cycles(conn, rows, utc_now())

    size = [FIRST_REQUEST_IDS]
    for batch in batch_politicians(todo, lambda: size[0]):
        candidate_ids = sorted({cid for _, fec_ids in batch for cid in fec_ids})
        links: list[CommitteeLink] = []
        if candidate_ids:
            found = fetch_committees(client, candidate_ids, opts.cycles, known=known,
                                     on_history=keep)
            links, size[0] = found.links, ids_per_request(len(candidate_ids), found.committees)
        save_batch(conn, batch, links, opts.cycles, client.base_url)
        if stop.is_set():
            raise Cancelled("stopped while resolving committees")


def settled_designations(conn: sqlite3.Connection) -> dict[tuple[str, int], CycleDesignation]:
    """The kept history rows that can no longer change: those of closed cycles, and any
    cycle's that is not P/A (a committee is converted from campaign to PAC, not back, and
    the cycle of a conversion carries its flag once it happened)."""
    return {
        (cid, cycle): CycleDesignation(cid, cycle, designation, former)
        for cid, cycle, designation, former in state.committee_cycles(conn)
        if cycle < current_cycle() or designation not in CAMPAIGN_DESIGNATIONS
    }


def save_batch(conn: sqlite3.Connection, batch: Batch, links: list[CommitteeLink],
               cycles: list[int], provenance: str) -> None:
    by_candidate: dict[str, list[CommitteeLink]] = {}
    for link in links:
        by_candidate.setdefault(link.candidate_id, []).append(link)
    now = utc_now()
    for bioguide_id, fec_ids in batch:
        mine = [link for cid in fec_ids for link in by_candidate.get(cid, [])]
        state.save_mappings(conn, bioguide_id, cycles, mine, now, provenance=provenance)


def batch_politicians(todo: Batch, max_ids: Callable[[], int]) -> Iterator[Batch]:
    """Consecutive groups of politicians with at most `max_ids()` candidate ids between them
    (read as each group starts; one politician with more still makes a group of one)."""
    batch: Batch = []
    size = 0
    for bioguide_id, fec_ids in todo:
        if batch and size + len(fec_ids) > max_ids():
            yield batch
            batch, size = [], 0
        batch.append((bioguide_id, fec_ids))
        size += len(fec_ids)
    if batch:
        yield batch


def list_unresolved(conn: sqlite3.Connection, opts: Options) -> list[dict[str, Any]]:
    return [
        {"politician": bioguide_id, "candidate_ids": list(fec_ids)}
        for bioguide_id, fec_ids in state.unresolved_politicians(
            conn, opts.cycles, opts.politicians
        )
    ]
