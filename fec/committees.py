"""Resolve FEC candidate ids to their campaign committees in as few requests as possible.

One ``GET /committees/`` request carries many ``candidate_id`` values: the endpoint matches
committees whose ``candidate_ids`` overlap the list (openfec-api.md §4). It pages by page
number (``page``/``pages``), unlike Schedule A.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fec.client import FecClient
from fec.errors import PaginationError

logger = logging.getLogger(__name__)

PATH = "/committees/"
PER_PAGE = 100
CAMPAIGN_DESIGNATIONS = ("P", "A")  # principal and authorized campaign committees

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
    designation: str
    cycle: int


def fetch_committees(
    client: FecClient, candidate_ids: Sequence[str], cycles: Sequence[int]
) -> tuple[list[CommitteeLink], list[str]]:
    """Return (links, candidate ids that resolved to no committee in those cycles).

    A committee is linked to every requested candidate id in its ``candidate_ids``, once
    for each requested cycle in its ``cycles``.
    """
    if not cycles:
        raise ValueError("at least one cycle is needed")
    wanted = list(dict.fromkeys(cid.strip().upper() for cid in candidate_ids if cid.strip()))
    valid = [cid for cid in wanted if _CANDIDATE_ID.match(cid)]
    invalid = [cid for cid in wanted if not _CANDIDATE_ID.match(cid)]
    if invalid:
        logger.warning("Not a valid FEC candidate id, skipped: %s", ", ".join(invalid))
    cycle_set = sorted(set(cycles))
    links: dict[CommitteeLink, None] = {}  # ordered and de-duplicated
    for start in range(0, len(valid), CANDIDATES_PER_REQUEST):
        chunk = valid[start : start + CANDIDATES_PER_REQUEST]
        for record in _iter_committees(client, chunk, cycle_set):
            links.update(dict.fromkeys(_links_for(record, set(chunk), cycle_set)))
    resolved = {link.candidate_id for link in links}
    unresolved = [cid for cid in wanted if cid not in resolved]
    logger.info(
        "%d candidate ids -> %d committee links; %d unresolved",
        len(wanted), len(links), len(unresolved),
    )
    return list(links), unresolved


def _iter_committees(
    client: FecClient, candidate_ids: list[str], cycles: list[int]
) -> Iterator[dict[str, Any]]:
    params = [("candidate_id", cid) for cid in candidate_ids]
    params += [("designation", designation) for designation in CAMPAIGN_DESIGNATIONS]
    params += [("cycle", str(cycle)) for cycle in cycles]
    params.append(("per_page", str(PER_PAGE)))
    for page in range(1, MAX_PAGES + 1):
        body = client.get_json(PATH, [*params, ("page", str(page))], kind="lookup")
        results = body.get("results")
        pagination = body.get("pagination")
        if not isinstance(results, list) or not isinstance(pagination, dict):
            raise PaginationError(f"{PATH}: the API sent a page without results or pagination")
        yield from (record for record in results if isinstance(record, dict))
        pages = pagination.get("pages")
        if not results or (page >= pages if isinstance(pages, int) else len(results) < PER_PAGE):
            return
    raise PaginationError(f"{PATH}: still more pages after {MAX_PAGES}; giving up")


def _links_for(
    record: dict[str, Any], requested: set[str], cycles: list[int]
) -> Iterator[CommitteeLink]:
    committee_id = record.get("committee_id")
    designation = record.get("designation")
    if not isinstance(committee_id, str) or designation not in CAMPAIGN_DESIGNATIONS:
        return
    linked = {str(cid).upper() for cid in record.get("candidate_ids") or ()}
    active = set(_as_ints(record.get("cycles")))
    name = record.get("name")
    for candidate_id in sorted(linked & requested):
        for cycle in cycles:
            if cycle in active:
                yield CommitteeLink(
                    candidate_id,
                    committee_id,
                    name if isinstance(name, str) else None,
                    str(designation),
                    cycle,
                )


def _as_ints(values: Any) -> Iterator[int]:
    for value in values or ():
        try:
            yield int(value)
        except (TypeError, ValueError):
            continue
