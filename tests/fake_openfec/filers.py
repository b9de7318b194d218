"""An FEC committee as the fake knows it, and how the API renders it.

A committee's designation can change between cycles: members turn an old principal
committee into a leadership PAC (D) or an unauthorized PAC (U). The committee list and
detail views show only the latest cycle's designation; the history views and Schedule A's
nested `committee` object show each cycle's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .pools import STATE_NAMES

CAMPAIGN_DESIGNATIONS = ("P", "A")
DESIGNATION_FULL = {
    "P": "Principal campaign committee",
    "A": "Authorized by a candidate",
    "J": "Joint fundraising committee",
    "U": "Unauthorized",
    "D": "Leadership PAC",
}
COMMITTEE_TYPE_FULL = {"H": "House", "S": "Senate", "N": "PAC - Nonqualified",
                       "Q": "PAC - Qualified"}
PARTY_FULL = {"DEM": "DEMOCRATIC PARTY", "REP": "REPUBLICAN PARTY", "IND": "INDEPENDENT"}


@dataclass(frozen=True)
class Conversion:
    """A principal committee turned into a PAC during `cycle` (FEC's "PCC to PAC" case).

    In that cycle it was the candidate's committee at the start and a PAC at the end: its
    history row carries the new designation with convert_to_pac_flag and former_candidate_id.
    From the next cycle on it is simply a PAC (a leadership PAC, D, sponsored by `sponsor`,
    or an unauthorized committee, U)."""

    cycle: int
    designation: str  # "D" or "U"
    committee_type: str  # "Q" or "N"
    former_candidate_id: str
    sponsor: str | None = None  # the candidate id a leadership PAC is linked to afterwards


@dataclass(frozen=True)
class Committee:
    committee_id: str
    name: str
    designation: str  # as registered; see designation_in() for a given cycle
    committee_type: str
    candidate_ids: tuple[str, ...]
    cycles: tuple[int, ...]
    party: str | None
    state: str
    city: str
    street_1: str
    zip: str
    treasurer_name: str
    first_file_date: str
    conversion: Conversion | None = None

    def designation_in(self, cycle: int) -> str:
        """The designation the history view shows for `cycle` (its latest in that cycle)."""
        if self.conversion is not None and cycle >= self.conversion.cycle:
            return self.conversion.designation
        return self.designation

    def type_in(self, cycle: int) -> str:
        if self.conversion is not None and cycle >= self.conversion.cycle:
            return self.conversion.committee_type
        return self.committee_type

    @property
    def latest_designation(self) -> str:
        """What /committees/ reports: the designation of the committee's latest cycle."""
        return self.designation_in(self.cycles[-1])

    @property
    def latest_type(self) -> str:
        return self.type_in(self.cycles[-1])

    def converted_in(self, cycle: int) -> bool:
        return self.conversion is not None and cycle == self.conversion.cycle

    def is_campaign_in(self, cycle: int) -> bool:
        """Its receipts of `cycle` are campaign money: it was the candidate's principal or
        authorized committee in that cycle, if only until a conversion to a PAC."""
        if cycle not in self.cycles:
            return False
        return self.designation_in(cycle) in CAMPAIGN_DESIGNATIONS or self.converted_in(cycle)

    def linked_in(self, cycle: int) -> bool:
        """Candidate linkage rows exist for `cycle` (ofec_cand_cmte_linkage_mv)."""
        return cycle in self.cycles and (
            self.conversion is None or cycle <= self.conversion.cycle)

    def sponsored_in(self, cycle: int) -> str | None:
        """The sponsor of a leadership PAC in `cycle` (cand_cmte_linkage_alternate)."""
        conv = self.conversion
        if conv is None or conv.sponsor is None or cycle not in self.cycles:
            return None
        return conv.sponsor if cycle >= conv.cycle else None

    @property
    def is_campaign(self) -> bool:
        """A campaign committee in at least one of its cycles."""
        return any(self.is_campaign_in(cycle) for cycle in self.cycles)

    def _common(self, cycle: int) -> dict[str, Any]:
        designation, committee_type = self.designation_in(cycle), self.type_in(cycle)
        return {
            "committee_id": self.committee_id,
            "name": self.name,
            "designation": designation,
            "designation_full": DESIGNATION_FULL[designation],
            "committee_type": committee_type,
            "committee_type_full": COMMITTEE_TYPE_FULL[committee_type],
            "organization_type": None,
            "organization_type_full": None,
            "filing_frequency": "Q",
            "party": self.party,
            "party_full": PARTY_FULL.get(self.party or ""),
            "state": self.state,
            "treasurer_name": self.treasurer_name,
            "candidate_ids": list(self.candidate_ids),
            "cycles": list(self.cycles),
            "cycles_has_activity": list(self.cycles),
            "cycles_has_financial": list(self.cycles),
            "last_cycle_has_activity": self.cycles[-1],
            "last_cycle_has_financial": self.cycles[-1],
            "first_file_date": self.first_file_date,
            "last_file_date": f"{self.cycles[-1] - 1}-10-15",
            "first_f1_date": self.first_file_date,
            "last_f1_date": self.first_file_date,
            "affiliated_committee_name": None,
        }

    def history(self, cycle: int) -> dict[str, Any]:
        """The nested `committee` object of a Schedule A row (CommitteeHistory)."""
        out = self._common(cycle)
        out.update({
            "cycle": cycle,
            "is_active": True,
            "state_full": STATE_NAMES.get(self.state),
            "street_1": self.street_1,
            "street_2": None,
            "city": self.city,
            "zip": self.zip,
            "designated_agent_name": None,
            "designated_agent_city": None,
            "designated_agent_state": None,
        })
        return out

    def history_profile(self, cycle: int, former_name: str | None = None,
                        former_election_year: int | None = None) -> dict[str, Any]:
        """A record of the committee history endpoints (CommitteeHistoryProfile)."""
        out = self.history(cycle)
        converted = self.converted_in(cycle) and self.conversion is not None
        sponsor = self.sponsored_in(cycle)
        out.update({
            "convert_to_pac_flag": converted,
            "former_committee_name": self.name if converted else None,
            "former_candidate_id": self.conversion.former_candidate_id
            if converted and self.conversion else None,
            "former_candidate_name": former_name if converted else None,
            "former_candidate_election_year": former_election_year if converted else None,
            "sponsor_candidate_ids": [sponsor] if sponsor else None,
            "committee_label": _label(self.type_in(cycle), self.designation_in(cycle)),
            "jfc_committee": [],
        })
        return out

    def detail(self) -> dict[str, Any]:
        """A record of /committees/ and /candidate/{id}/committees/: one row per committee,
        its latest cycle's designation and type (ofec_committee_detail_mv)."""
        out = self._common(self.cycles[-1])
        sponsor = self.sponsored_in(self.cycles[-1])
        out.update({
            "sponsor_candidate_ids": [sponsor] if sponsor else None,
            "sponsor_candidate_list": [{"sponsor_candidate_id": sponsor}] if sponsor else [],
            "street_1": self.street_1,
            "street_2": None,
            "city": self.city,
            "zip": self.zip,
            "email": None,
            "fax": None,
            "website": None,
            "form_type": "F1",
            "leadership_pac": None,
            "lobbyist_registrant_pac": None,
            "party_type": None,
            "party_type_full": None,
            "treasurer_city": self.city,
            "treasurer_state": self.state,
            "custodian_name_full": None,
        })
        return out


def _label(committee_type: str, designation: str) -> str:
    if designation == "D":
        return "Leadership PAC"
    if designation in CAMPAIGN_DESIGNATIONS:
        return f"{COMMITTEE_TYPE_FULL[committee_type]} {DESIGNATION_FULL[designation].lower()}"
    return COMMITTEE_TYPE_FULL[committee_type]
