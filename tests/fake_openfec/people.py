"""Legislators (congress-legislators shape) and the FEC committees linked to them.

The generator deliberately plants the awkward cases a sync tool meets in the real
data: senators whose first listed FEC id is an old House id, members with several
ids, ids that resolve to no committee at all, a committee authorized by two
candidates, a candidate with both a principal and an authorized committee, and
joint-fundraising / unauthorized committees that must not be synced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from .filers import Committee, Conversion
from .pools import FIRST_NAMES, LAST_NAMES, STATES, STREETS

PARTY_CODE = {"Democrat": "DEM", "Republican": "REP", "Independent": "IND"}
_FIRST_ELECTED = (2010, 2012, 2014, 2016, 2018, 2018, 2020, 2020, 2022, 2022, 2024, 2024)


@dataclass(frozen=True)
class Legislator:
    bioguide: str
    first: str
    last: str
    chamber: str  # "rep" or "sen", as in congress-legislators terms
    state: str
    district: int | None
    party: str
    first_year: int
    fec_ids: tuple[str, ...]
    current_id: str = ""
    has_fec_key: bool = True

    @property
    def official_full(self) -> str:
        return f"{self.first} {self.last}"

    def _terms(self) -> list[dict[str, Any]]:
        span = 6 if self.chamber == "sen" else 2
        terms: list[dict[str, Any]] = []
        if self.chamber == "sen" and any(i[0] == "H" for i in self.fec_ids):
            for start in (self.first_year - 3, self.first_year - 1):
                terms.append({"type": "rep", "start": f"{start}-01-03", "end": f"{start + 2}-01-03",
                              "state": self.state, "party": self.party, "district": 1})
        for start in range(self.first_year + 1, 2026, span):
            term: dict[str, Any] = {
                "type": self.chamber,
                "start": f"{start}-01-03",
                "end": f"{start + span}-01-03",
                "state": self.state,
                "party": self.party,
            }
            if self.chamber == "rep":
                term["district"] = self.district
            else:
                term["class"] = 1 + start % 3
            terms.append(term)
        return terms

    def to_json(self) -> dict[str, Any]:
        ids: dict[str, Any] = {
            "bioguide": self.bioguide,
            "govtrack": 400000 + int(self.bioguide[1:]) % 100000,
            "opensecrets": f"N00{int(self.bioguide[1:]) % 1000000:06d}",
        }
        if self.has_fec_key:
            ids["fec"] = list(self.fec_ids)
        return {
            "id": ids,
            "name": {"first": self.first, "last": self.last, "official_full": self.official_full},
            "bio": {"gender": "F" if int(self.bioguide[1:]) % 2 else "M"},
            "terms": self._terms(),
        }


@dataclass
class Specials:
    """Where the planted edge cases ended up, so tests can aim at them."""

    null_heavy_committee: str = ""
    shared_committee: str = ""
    p_and_a_candidate: str = ""
    unresolved_bioguides: list[str] = field(default_factory=list)
    no_fec_bioguides: list[str] = field(default_factory=list)
    non_campaign_committees: list[str] = field(default_factory=list)
    converted_committee: str = ""  # P until two cycles before the last, converted, then D
    converted_bioguide: str = ""
    same_name_committees: list[str] = field(default_factory=list)


class PeopleBuilder:
    """Builds legislators and committees from one seeded Random, in a fixed order."""

    def __init__(self, rng: random.Random, cycles: tuple[int, ...]) -> None:
        self.rng = rng
        self.last_cycle = max(cycles)
        self.cycles = cycles
        self.legislators: list[Legislator] = []
        self.committees: dict[str, Committee] = {}
        self.specials = Specials()
        self._cand_ids: set[str] = set()
        self._seats: set[tuple[str, int]] = set()
        self._bioguides: set[str] = set()

    def candidate_id(self, office: str, year: int, state: str, district: int,
                     rng: random.Random | None = None) -> str:
        while True:
            number = (rng or self.rng).randrange(1000)
            cid = f"{office}{year % 10}{state}{district:02d}{number:03d}"
            if cid not in self._cand_ids:
                self._cand_ids.add(cid)
                return cid

    def add_committee(self, leg: Legislator, cands: tuple[str, ...], designation: str,
                      cycles: tuple[int, ...], name: str,
                      rng: random.Random | None = None) -> Committee:
        rng = rng or self.rng
        while True:
            cid = f"C00{rng.randrange(100000, 1000000)}"
            if cid not in self.committees:
                break
        ctype = "N" if designation in ("J", "U") else ("S" if cands[0][0] == "S" else "H")
        city, state, zip5 = rng.choice(STATES[leg.state][1])
        com = Committee(
            committee_id=cid, name=name, designation=designation, committee_type=ctype,
            candidate_ids=cands, cycles=cycles, party=PARTY_CODE[leg.party], state=state,
            city=city, street_1=f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}", zip=zip5,
            treasurer_name=f"{rng.choice(LAST_NAMES)}, {rng.choice(FIRST_NAMES)}",
            first_file_date=f"{cycles[0] - 1}-0{rng.randrange(1, 10)}-1{rng.randrange(10)}",
        )
        self.committees[cid] = com
        return com

    def _seat(self, chamber: str) -> tuple[str, int | None]:
        """A free House district or Senate seat; gives up on uniqueness when full."""
        rng = self.rng
        codes = list(STATES)
        weights = [STATES[c][0] for c in codes]
        for attempt in range(200):
            state = rng.choices(codes, weights)[0]
            if chamber == "rep":
                seats = STATES[state][0]
                district = 0 if seats == 1 else rng.randint(1, seats)
                key = (state, district)
            else:
                district = None
                key = (state, -1) if (state, -1) not in self._seats else (state, -2)
            if key not in self._seats or attempt == 199:
                self._seats.add(key)
                return state, district
        raise AssertionError("unreachable")

    def legislator(self) -> Legislator:
        rng = self.rng
        chamber = "sen" if rng.random() < 0.19 else "rep"
        state, district = self._seat(chamber)
        party = rng.choices(["Democrat", "Republican", "Independent"], [48, 50, 2])[0]
        first_year = rng.choice(_FIRST_ELECTED)
        first_year = min(first_year, self.last_cycle - 2)
        office = "S" if chamber == "sen" else "H"
        current = self.candidate_id(office, first_year - 1, state, district or 0)
        ids = [current]
        roll = rng.random()
        if chamber == "sen" and roll < 0.35:
            seats = STATES[state][0]
            old_district = 0 if seats == 1 else rng.randint(1, seats)
            ids.insert(0, self.candidate_id("H", first_year - 7, state, old_district))
        elif chamber == "rep" and roll < 0.04:
            again = self.candidate_id("H", first_year - 5, state, district or 0)
            ids.insert(rng.randrange(2), again)
        elif chamber == "rep" and roll < 0.06:
            ids[:0] = [self.candidate_id("S", first_year - 3, state, 0),
                       self.candidate_id("H", first_year - 9, state, district or 0)]
        last = rng.choice(LAST_NAMES).title()
        while True:
            bioguide = f"{last[0]}{rng.randrange(1000000):06d}"
            if bioguide not in self._bioguides:
                self._bioguides.add(bioguide)
                break
        return Legislator(
            bioguide=bioguide, first=rng.choice(FIRST_NAMES).title(), last=last, chamber=chamber,
            state=state, district=district, party=party, first_year=first_year, fec_ids=tuple(ids),
            current_id=current,
        )

    def cycles_from(self, first: int, last: int | None = None) -> tuple[int, ...]:
        return tuple(range(first, (last or self.last_cycle) + 1, 2))

    def committees_for(self, leg: Legislator, *, force_a: bool = False) -> list[Committee]:
        """Principal committee for the current id, old committees for old ids, extras."""
        rng = self.rng
        made = []
        current = leg.current_id
        for cand in leg.fec_ids:
            office_name = "SENATE" if cand[0] == "S" else "CONGRESS"
            if cand == current:
                cycles = self.cycles_from(leg.first_year)
            elif rng.random() < 0.25:
                continue  # an old id nobody ever filed under: resolves to nothing
            else:
                end = leg.first_year - 2 if rng.random() < 0.7 else leg.first_year
                cycles = self.cycles_from(end - 6, end)
            name = f"{leg.last.upper()} FOR {office_name}"
            made.append(self.add_committee(leg, (cand,), "P", cycles, name))
        if force_a or rng.random() < 0.15:
            if not force_a:
                cycles = self.cycles_from(self.cycles[0], rng.choice(self.cycles))
            else:
                cycles = self.cycles
            name = f"FRIENDS OF {leg.official_full.upper()}"
            made.append(self.add_committee(leg, (current,), "A", cycles, name))
        return made

    def non_campaign(self, leg: Legislator, designation: str) -> Committee:
        cand = leg.current_id
        last = leg.last.upper()
        name = f"{last} VICTORY FUND" if designation == "J" else f"AMERICANS FOR {last}"
        com = self.add_committee(leg, (cand,), designation, self.cycles, name)
        self.specials.non_campaign_committees.append(com.committee_id)
        return com


def build_people(rng: random.Random, count: int, cycles: tuple[int, ...]) -> PeopleBuilder:
    """Generate `count` legislators and their committees; roles are planted by index.

    0: owns the committee with more NULL-date rows than a page; 1: a candidate with a
    principal and an authorized committee; 2 and 3: share an authorized committee;
    4: ids that resolve to nothing; last (when count >= 6): no `fec` key at all.
    """
    b = PeopleBuilder(rng, cycles)
    for i in range(count):
        leg = b.legislator()
        if count >= 6 and i == count - 1:
            leg = replace(leg, fec_ids=(), current_id="", has_fec_key=False)
            b.specials.no_fec_bioguides.append(leg.bioguide)
        b.legislators.append(leg)
    for i, leg in enumerate(b.legislators):
        if not leg.fec_ids:
            continue
        if count >= 5 and i == 4:
            b.specials.unresolved_bioguides.append(leg.bioguide)
            continue
        force_a = i == min(1, count - 1)
        made = b.committees_for(leg, force_a=force_a)
        if i == 0:
            principal = next(c for c in made if c.candidate_ids[0] == leg.current_id)
            b.specials.null_heavy_committee = principal.committee_id
        if force_a:
            b.specials.p_and_a_candidate = leg.current_id
        if i in (0, 5) or rng.random() < 0.08:
            b.non_campaign(leg, "J")
        if i == 1 or rng.random() < 0.04:
            b.non_campaign(leg, "U")
    _plant_shared(b, count)
    return b


def _plant_shared(b: PeopleBuilder, count: int) -> None:
    """One authorized committee backed by two candidates (fetched once by a sync)."""
    pair = [leg for j, leg in enumerate(b.legislators[:4]) if leg.fec_ids and j in (2, 3)]
    if len(pair) < 2:
        pair = [leg for leg in b.legislators if leg.fec_ids][:2]
    if len(pair) < 2 or count < 2:
        return
    cands = (pair[0].current_id, pair[1].current_id)
    name = f"{pair[0].last.upper()} {pair[1].last.upper()} UNITY COMMITTEE"
    com = b.add_committee(pair[0], cands, "A", b.cycles, name)
    b.specials.shared_committee = com.committee_id


# --- changes over time, drawn from a second Random so that a seed's other rows stay put ---


def plant_conversions(b: PeopleBuilder, rng: random.Random) -> None:
    """Old House principal committees of senators that became PACs (about half of them), and
    one planted for tests: principal until two cycles before the last, converted in the
    cycle before the last, a leadership PAC in the last."""
    if len(b.cycles) < 2:
        return
    for leg in b.legislators:
        if leg.chamber != "sen":
            continue
        for com in [c for c in b.committees.values() if c.candidate_ids[0] in leg.fec_ids]:
            old_house = com.candidate_ids[0][0] == "H" and com.designation == "P"
            if old_house and com.cycles[-1] < b.last_cycle and rng.random() < 0.5:
                _convert(b, com, leg, com.cycles[-1] + 2, rng)
    _plant_converted(b, rng)


def _convert(b: PeopleBuilder, com: Committee, leg: Legislator, cycle: int,
             rng: random.Random, leadership: bool | None = None) -> Committee:
    if leadership is None:
        leadership = rng.random() < 0.7
    conversion = Conversion(cycle, "D" if leadership else "U", "Q" if leadership else "N",
                            com.candidate_ids[0], leg.current_id if leadership else None)
    name = f"{leg.last.upper()} LEADERSHIP FUND" if leadership else com.name
    cycles = tuple(sorted({*com.cycles, *b.cycles_from(cycle)}))
    changed = replace(com, cycles=cycles, conversion=conversion, name=name)
    b.committees[com.committee_id] = changed
    return changed


def _plant_converted(b: PeopleBuilder, rng: random.Random) -> None:
    senators = [(i, leg) for i, leg in enumerate(b.legislators)
                if leg.chamber == "sen" and leg.fec_ids]
    if not senators:
        return
    later = [pair for pair in senators if pair[0] >= 6] or senators
    index, leg = next((p for p in later if not any(i[0] == "H" for i in p[1].fec_ids)), later[0])
    conversion_cycle = b.cycles[-2]
    house_id = b.candidate_id("H", conversion_cycle - 9, leg.state, 1, rng=rng)
    leg = replace(leg, fec_ids=(house_id, *leg.fec_ids))
    b.legislators[index] = leg
    cycles = b.cycles_from(conversion_cycle - 6, conversion_cycle - 2)
    com = b.add_committee(leg, (house_id,), "P", cycles, f"{leg.last.upper()} FOR CONGRESS",
                          rng=rng)
    com = _convert(b, com, leg, conversion_cycle, rng, leadership=True)
    b.specials.converted_committee = com.committee_id
    b.specials.converted_bioguide = leg.bioguide


def share_one_name(b: PeopleBuilder, count: int, rng: random.Random) -> None:
    """Give `count` campaign committees one and the same name (real names repeat: "FRIENDS
    OF JOHN SMITH"), so that a sort on name alone has ties."""
    campaign = sorted(cid for cid, com in b.committees.items() if com.designation in "PA")
    chosen = rng.sample(campaign, min(count, len(campaign)))
    for cid in chosen:
        b.committees[cid] = replace(b.committees[cid], name="CITIZENS FOR GOOD GOVERNMENT")
    b.specials.same_name_committees = sorted(chosen)
