"""Resolve FEC candidate ids to the committees that were their campaign committees, cycle by
cycle, in as few requests as possible.

OpenFEC's committee list (``GET /committees/``) keeps one row per committee with its LATEST
designation (openfec-api.md §9): a member's old principal committee that is now a
leadership PAC (D) or an unauthorized PAC (U) shows as such in every cycle. The per-cycle
truth is in ``GET /committee/{id}/history/``. So:

1. One ``/committees/`` request carries up to 100 candidate ids and no designation filter
   beyond leaving out joint fundraisers (J), which are never converted to or from campaign
   committees; it pages by page number, sorted on ``committee_id`` (unique, so the pages
   neither skip nor repeat), and the pages must add up to ``count``.
2. A committee whose latest designation is P or A is taken as a campaign committee in every
   requested cycle it was active: committees are converted from campaign to PAC, not back.
3. A committee whose latest designation is anything else costs one history request (every
   cycle at once), unless the caller already knows its requested cycles (``known``) or it
   was known to be a PAC at the end of an earlier cycle. It counts for the cycles in which
   it was P or A, and for the cycle in which a principal committee was converted to a PAC
   (it was the candidate's committee for part of it; the history marks that cycle with
   ``convert_to_pac_flag`` and ``former_candidate_id``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fec.client import FecClient
from fec.errors import PaginationError, TransientError

logger = logging.getLogger(__name__)

PATH = "/committees/"
HISTORY_PATH = "/committee/{committee_id}/history/"
PER_PAGE = 100
CAMPAIGN_DESIGNATIONS = ("P", "A")  # principal and authorized campaign committees
# Every designation the API accepts except J (joint fundraising). OpenFEC's own tracking of
# principal committees turned PACs (ofec_pcc_to_pac_mv) leaves J out on both ends.
LOOKUP_DESIGNATIONS = ("P", "A", "U", "D", "B")

# How many candidate ids go in one request. In fecgov/openFEC (develop, 2026-07) the
# /committees/ view, CommitteeList, is a plain ApiResource: the "up to 10 values" check
# (filters_with_max_count) exists only for the itemized (Schedule A/B/E) views, and
# args.committee_list declares candidate_id as an uncapped fields.List(Candidate_ID). The real
# limit is the URL: 100 ids make a query of about 2.4 KB, well under the 8 KB request line
# that common proxies accept. Bigger chunks never cost more requests (results fill pages of
# 100 either way), so the chunk is as large as that limit comfortably allows.
CANDIDATES_PER_REQUEST = 100

# OpenFEC rejects the whole request (422) if one id is not H/S/P + 8 letters or digits, so
# such ids are never sent; they come back as unresolved.
_CANDIDATE_ID = re.compile(r"^[HSP][0-9A-Z]{8}$")

# A runaway guard: page-number paging ends on an empty page or at `pages`; this only stops
# a server that never does either.
MAX_PAGES = 1000


@dataclass(frozen=True)
class CommitteeLink:
    candidate_id: str
    committee_id: str
    name: str | None
    designation: str  # in `cycle`
    cycle: int


@dataclass(frozen=True)
class CycleDesignation:
    """One row of a committee's history: its designation in one two-year cycle."""

    committee_id: str
    cycle: int
    designation: str | None
    former_candidate_id: str | None = None  # set in the cycle a principal became a PAC


@dataclass
class Resolution:
    links: list[CommitteeLink] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # valid or not, no link found
    committees: int = 0  # records the committee list returned
    history_requests: int = 0


Known = MutableMapping[tuple[str, int], CycleDesignation]


@dataclass(frozen=True)
class _Committee:
    committee_id: str
    name: str | None
    designation: str | None  # the latest
    candidate_ids: frozenset[str]
    cycles: frozenset[int]


def fetch_committees(
    client: FecClient, candidate_ids: Sequence[str], cycles: Sequence[int], *,
    known: Known | None = None,
    on_history: Callable[[list[CycleDesignation]], None] | None = None,
) -> Resolution:
    """The campaign committees of `candidate_ids` in each of `cycles`.

    `known` holds designations already learned (it is read, and every history row fetched
    here is added to it); `on_history` is called with each committee's history as it
    arrives, so that a caller can keep it even if a later request fails.
    """
    if not cycles:
        raise ValueError("at least one cycle is needed")
    wanted = list(dict.fromkeys(cid.strip().upper() for cid in candidate_ids if cid.strip()))
    valid = [cid for cid in wanted if _CANDIDATE_ID.match(cid)]
    invalid = [cid for cid in wanted if not _CANDIDATE_ID.match(cid)]
    if invalid:
        logger.warning("Not a valid FEC candidate id, skipped: %s", ", ".join(invalid))
    known = {} if known is None else known
    cycle_set = sorted(set(cycles))
    result = Resolution()
    links: dict[CommitteeLink, None] = {}  # ordered and de-duplicated
    for start in range(0, len(valid), CANDIDATES_PER_REQUEST):
        chunk = valid[start : start + CANDIDATES_PER_REQUEST]
        for com in _iter_committees(client, chunk, cycle_set):
            result.committees += 1
            designations = _designations(client, com, cycle_set, known, on_history, result)
            links.update(dict.fromkeys(_links_for(com, set(chunk), designations)))
    result.links = list(links)
    resolved = {link.candidate_id for link in links}
    result.unresolved = [cid for cid in wanted if cid not in resolved]
    logger.info(
        "%d candidate ids -> %d committee links; %d unresolved; %d history look-ups",
        len(wanted), len(links), len(result.unresolved), result.history_requests,
    )
    return result


# The first request's ids, before any answer tells how many committees an id brings: a
# member has a little over one committee on average, so 85 ids usually fill one page.
FIRST_REQUEST_IDS = 85


def ids_per_request(candidate_ids: int, committees: int) -> int:
    """How many candidate ids the next request should carry so that its committees likely fit
    one page, judging by the last request: a batch whose answer overflows into a second page
    by a few records costs a whole request more."""
    if candidate_ids <= 0 or committees <= 0:
        return CANDIDATES_PER_REQUEST
    fitting = int(candidate_ids * PER_PAGE * 0.9 / committees)  # a margin for the variance
    return max(1, min(CANDIDATES_PER_REQUEST, fitting))


def fetch_history(client: FecClient, committee_id: str) -> list[CycleDesignation]:
    """Every cycle of one committee's history (one request: a committee has at most a few
    dozen cycles, and cycle is unique within it, so the order is stable)."""
    path = HISTORY_PATH.format(committee_id=committee_id)
    params = [("sort", "-cycle"), ("per_page", str(PER_PAGE))]
    rows: list[CycleDesignation] = []
    for record in iter_numbered_pages(client, path, params, key=_cycle_key):
        cycle = record.get("cycle")
        if not isinstance(cycle, int) or isinstance(cycle, bool):
            continue
        former = record.get("former_candidate_id") if record.get("convert_to_pac_flag") else None
        designation = record.get("designation")
        rows.append(CycleDesignation(
            committee_id, cycle, designation if isinstance(designation, str) else None,
            str(former).upper() if former else None,
        ))
    return rows


def iter_numbered_pages(
    client: FecClient, path: str, params: list[tuple[str, str]], *,
    key: Callable[[dict[str, Any]], object],
) -> Iterator[dict[str, Any]]:
    """The records of a page-number endpoint, checked: no record twice, and as many as the
    API counted. `params` must sort on a unique key, or the pages may skip and repeat."""
    seen: set[object] = set()
    count: object = None
    exact: object = True
    for page in range(1, MAX_PAGES + 1):
        body = client.get_json(path, [*params, ("page", str(page))], kind="lookup")
        results = body.get("results")
        pagination = body.get("pagination")
        if not isinstance(results, list) or not isinstance(pagination, dict):
            raise PaginationError(f"{path}: the API sent a page without results or pagination")
        count, exact = pagination.get("count"), pagination.get("is_count_exact", True)
        for record in results:
            if not isinstance(record, dict):
                continue
            ident = key(record)
            if ident in seen:
                raise _inconsistent(path, f"page {page} repeated {ident}")
            seen.add(ident)
            yield record
        pages = pagination.get("pages")
        if not results or (page >= pages if isinstance(pages, int) else len(results) < PER_PAGE):
            break
    else:
        raise PaginationError(f"{path}: still more pages after {MAX_PAGES}; giving up")
    if exact is not False and isinstance(count, int) and count != len(seen):
        raise _inconsistent(path, f"it counted {count} records but its pages held {len(seen)}")


def _inconsistent(path: str, what: str) -> TransientError:
    # Nothing is saved from a look-up whose pages do not add up; a later run asks again.
    return TransientError(f"The API's pages of {path} did not add up: {what}")


def _committee_key(record: dict[str, Any]) -> object:
    return record.get("committee_id")


def _cycle_key(record: dict[str, Any]) -> object:
    return record.get("cycle")


def _iter_committees(
    client: FecClient, candidate_ids: list[str], cycles: list[int]
) -> Iterator[_Committee]:
    params = [("candidate_id", cid) for cid in candidate_ids]
    params += [("designation", designation) for designation in LOOKUP_DESIGNATIONS]
    params += [("cycle", str(cycle)) for cycle in cycles]
    params += [("sort", "committee_id"), ("per_page", str(PER_PAGE))]
    for record in iter_numbered_pages(client, PATH, params, key=_committee_key):
        committee_id = record.get("committee_id")
        if not isinstance(committee_id, str):
            continue
        name, designation = record.get("name"), record.get("designation")
        yield _Committee(
            committee_id.upper(),
            name if isinstance(name, str) else None,
            designation if isinstance(designation, str) else None,
            frozenset(str(cid).upper() for cid in record.get("candidate_ids") or ()),
            frozenset(_as_ints(record.get("cycles"))),
        )


def _designations(
    client: FecClient, com: _Committee, cycles: list[int], known: Known,
    on_history: Callable[[list[CycleDesignation]], None] | None, result: Resolution,
) -> dict[int, CycleDesignation]:
    """The committee's designation in each requested cycle it was active in."""
    active = [cycle for cycle in cycles if cycle in com.cycles]
    if com.designation in CAMPAIGN_DESIGNATIONS:
        return {cycle: CycleDesignation(com.committee_id, cycle, com.designation)
                for cycle in active}
    missing = [cycle for cycle in active if (com.committee_id, cycle) not in known
               and not _pac_before(com.committee_id, cycle, known)]
    if missing:
        rows = fetch_history(client, com.committee_id)
        result.history_requests += 1
        for row in rows:
            known[(row.committee_id, row.cycle)] = row
        if on_history is not None:
            on_history(rows)
    return {cycle: known[(com.committee_id, cycle)] for cycle in active
            if (com.committee_id, cycle) in known}


def _pac_before(committee_id: str, cycle: int, known: Known) -> bool:
    """The committee was already something other than a campaign committee at the end of an
    earlier cycle: committees are converted from campaign to PAC, not back."""
    return any(row.designation not in CAMPAIGN_DESIGNATIONS
               for (cid, earlier), row in known.items()
               if cid == committee_id and earlier < cycle)


def _links_for(
    com: _Committee, requested: set[str], designations: dict[int, CycleDesignation]
) -> Iterator[CommitteeLink]:
    for cycle, row in sorted(designations.items()):
        for candidate_id in sorted(_campaign_of(com, requested, row)):
            yield CommitteeLink(candidate_id, com.committee_id, com.name,
                                row.designation or "", cycle)


def _campaign_of(com: _Committee, requested: set[str], row: CycleDesignation) -> set[str]:
    """The requested candidates whose campaign committee `com` was in the row's cycle."""
    if row.designation in CAMPAIGN_DESIGNATIONS:
        return set(com.candidate_ids & requested)
    former = row.former_candidate_id
    return {former} if former is not None and former in requested else set()


def _as_ints(values: Any) -> Iterable[int]:
    for value in values or ():
        try:
            yield int(value)
        except (TypeError, ValueError):
            continue
