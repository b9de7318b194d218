"""Schedule A rows: a compact stored form, its generation, and the full API record.

A world holds tens of thousands of rows, so each is kept as a small frozen `Row`
(the fields the API filters and sorts on, plus a seed). The ~80-key record the API
returns is rebuilt from the seed on demand, identically every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from .filers import Committee
from .pools import (
    ALL_PLACES,
    CONDUITS,
    FIRST_NAMES,
    JOBS,
    LAST_NAMES,
    MIDDLE_INITIALS,
    PAC_NAMES,
    PARTY_COMMITTEES,
    PREFIXES,
    STREETS,
    SUFFIXES,
)


@dataclass(frozen=True, slots=True)
class Row:
    sub_id: str
    sid: int  # int(sub_id): the database orders and seeks on the bigint
    committee_id: str
    cycle: int
    date: str | None
    amount: float
    load_date: str
    seed: int
    profile: str
    employer: str | None = None  # set by a correction; otherwise derived from the seed
    amendment: str = "A"


@dataclass(frozen=True)
class Profile:
    entity_type: str
    entity_desc: str
    line: str
    receipt_type: str
    receipt_desc: str
    memo: bool
    individual: bool
    weight: float


PROFILES: dict[str, Profile] = {
    # name: entity, its description, line, receipt type, its description, memo?, individual?, weight
    "ind": Profile("IND", "INDIVIDUAL", "11AI", "15", "CONTRIBUTION", False, True, 0.58),
    "earmarked": Profile("IND", "INDIVIDUAL", "11AI", "15E", "EARMARKED CONTRIBUTION",
                         False, True, 0.22),
    "jfc_memo": Profile("IND", "INDIVIDUAL", "12", "15J", "MEMO (JOINT FUNDRAISING ALLOCATION)",
                        True, True, 0.05),
    "conduit_memo": Profile("PAC", "POLITICAL ACTION COMMITTEE", "11AI", "15E",
                            "EARMARKED CONTRIBUTION", True, True, 0.04),
    "pac": Profile("PAC", "POLITICAL ACTION COMMITTEE", "11C", "18K",
                   "CONTRIBUTION RECEIVED FROM REGISTERED FILER", False, False, 0.07),
    "party": Profile("PTY", "PARTY ORGANIZATION", "11B", "18K",
                     "CONTRIBUTION RECEIVED FROM REGISTERED FILER", False, False, 0.01),
    "candidate": Profile("CAN", "CANDIDATE", "11D", "15C", "CONTRIBUTION FROM CANDIDATE",
                         False, False, 0.01),
    "transfer": Profile("CCM", "CANDIDATE COMMITTEE", "12", "18G", "TRANSFER IN AFFILIATED",
                        False, False, 0.02),
}
_PROFILE_NAMES = list(PROFILES)
_PROFILE_WEIGHTS = [p.weight for p in PROFILES.values()]
LINE_LABELS = {
    "11AI": "Contributions From Individuals/Persons Other Than Political Committees",
    "11B": "Contributions From Political Party Committees",
    "11C": "Contributions From Other Political Committees",
    "11D": "Contributions From the Candidate",
    "12": "Transfers From Other Authorized Committees",
}
_SMALL = [5.0, 10.0, 15.0, 20.0, 25.0, 27.0, 50.0, 50.0, 100.0, 100.0, 150.0]
_LARGE = [200.0, 250.0, 250.0, 500.0, 500.0, 1000.0, 1000.0, 2000.0, 3300.0, 3500.0]
_DATE_BIAS = 0.55  # exponent < 1 pushes receipt dates toward the end of the cycle


def cycle_bounds(cycle: int, as_of: date) -> tuple[date, date]:
    start, end = date(cycle - 1, 1, 1), date(cycle, 12, 31)
    if start <= as_of < end:
        end = as_of
    return start, end


def unit_row_count(rng: random.Random, scale: float, cap: int, designation: str) -> int:
    """Heavy-tailed (Pareto) number of rows for one committee-cycle."""
    if designation != "P" and rng.random() < 0.12:
        return 0
    raw = 25.0 * (1.0 - rng.random()) ** (-1.0 / 1.15)
    if designation != "P":
        raw *= 0.4
    return int(min(raw, float(cap)) * scale)


def _amount(rng: random.Random, profile: str) -> float:
    if profile in ("pac", "party", "transfer"):
        value = rng.choice([250.0, 500.0, 1000.0, 1000.0, 2500.0, 5000.0])
    elif profile == "candidate":
        value = rng.choice([1000.0, 5000.0, 25000.0])
    elif rng.random() < 0.12:
        value = round(rng.uniform(3.0, 400.0), 2)
    else:
        value = rng.choice(_SMALL if rng.random() < 0.7 else _LARGE)
    if rng.random() < 0.006:
        value = -value  # returned, bounced or reattributed receipts show up negative
    return value


def _night_time(rng: random.Random, day: date) -> datetime:
    micro = 0 if rng.random() < 0.1 else rng.randrange(1, 1000000)
    clock = time(rng.randrange(1, 7), rng.randrange(60), rng.randrange(60), micro)
    return datetime.combine(day, clock)


def new_sub_id(rng: random.Random, loaded: datetime, paper: bool, used: set[str]) -> str:
    """19 digits: 1 (paper) or 4 (e-file), the processing date MMDDYYYY, 10 more digits."""
    while True:
        sub_id = f"{1 if paper else 4}{loaded:%m%d%Y}{rng.randrange(10 ** 10):010d}"
        if sub_id not in used:
            used.add(sub_id)
            return sub_id


def make_row(rng: random.Random, committee_id: str, cycle: int, bounds: tuple[date, date],
             used: set[str], *, null_date: bool = False, paper_share: float = 0.15,
             loaded: datetime | None = None, latest_receipt: date | None = None) -> Row:
    start, end = bounds
    if latest_receipt is not None:
        end = max(start, min(end, latest_receipt))
    profile = rng.choices(_PROFILE_NAMES, _PROFILE_WEIGHTS)[0]
    span = (end - start).days
    received = None if null_date else start + timedelta(days=int(span * rng.random() ** _DATE_BIAS))
    if loaded is None:
        base = received or start + timedelta(days=rng.randrange(span + 1))
        lag = timedelta(days=rng.randrange(1, 75))
        day = min(base + lag, bounds[1])
        loaded = _night_time(rng, max(day, base))
    sub_id = new_sub_id(rng, loaded, rng.random() < paper_share, used)
    return Row(
        sub_id=sub_id, sid=int(sub_id), committee_id=committee_id, cycle=cycle,
        date=received.isoformat() if received else None, amount=_amount(rng, profile),
        load_date=loaded.isoformat(), seed=rng.getrandbits(48), profile=profile,
    )


def generate_unit(rng: random.Random, committee: Committee, cycle: int, bounds: tuple[date, date],
                  count: int, null_rows: int, used: set[str]) -> list[Row]:
    rows = [make_row(rng, committee.committee_id, cycle, bounds, used) for _ in range(count)]
    # NULL receipt dates come mostly from paper filings, whose sub_ids start with 1
    rows += [make_row(rng, committee.committee_id, cycle, bounds, used, null_date=True,
                      paper_share=0.7) for _ in range(null_rows)]
    return rows


def _report(rng: random.Random, row: Row) -> tuple[int, str]:
    if row.date is None:
        return row.cycle - rng.randrange(2), rng.choice(["Q1", "Q2", "Q3", "YE"])
    year, month = int(row.date[:4]), int(row.date[5:7])
    if year == row.cycle and month in (10, 11):
        return year, "12G" if month == 10 else "30G"
    return year, ("Q1", "Q2", "Q3", "YE")[(month - 1) // 3]


def _person(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    middle = rng.choice(MIDDLE_INITIALS) if rng.random() < 0.3 else None
    suffix = rng.choice(SUFFIXES) if rng.random() < 0.03 else None
    employer, occupation = rng.choice(JOBS)
    name = f"{last}, {first}" + (f" {middle}" if middle else "") + (f" {suffix}" if suffix else "")
    return {
        "contributor_name": name, "contributor_first_name": first, "contributor_last_name": last,
        "contributor_middle_name": middle, "contributor_suffix": suffix,
        "contributor_prefix": rng.choice(PREFIXES) if rng.random() < 0.05 else None,
        "contributor_employer": employer, "contributor_occupation": occupation,
        "contributor_id": None, "contributor": None,
    }


def _organisation(rng: random.Random, row: Row, name: str, committee_id: str,
                  ctype: str) -> dict[str, Any]:
    nested = {
        "committee_id": committee_id, "name": name, "cycle": row.cycle, "committee_type": ctype,
        "designation": "U" if ctype != "H" else "P", "cycles": [row.cycle - 2, row.cycle],
        "treasurer_name": f"{rng.choice(LAST_NAMES)}, {rng.choice(FIRST_NAMES)}",
    }
    return {
        "contributor_name": name, "contributor_first_name": None, "contributor_last_name": None,
        "contributor_middle_name": None, "contributor_suffix": None, "contributor_prefix": None,
        "contributor_employer": None, "contributor_occupation": None,
        "contributor_id": committee_id, "contributor": nested if rng.random() < 0.8 else None,
    }


def _contributor(rng: random.Random, row: Row, committee: Committee) -> dict[str, Any]:
    if row.profile == "conduit_memo":
        cid, name = rng.choice(CONDUITS)[:2]
        who = _organisation(rng, row, name, cid, "N")
    elif row.profile == "pac":
        pac_id = f"C00{rng.randrange(100000, 1000000)}"
        who = _organisation(rng, row, rng.choice(PAC_NAMES), pac_id, "Q")
    elif row.profile == "party":
        party_id = f"C00{rng.randrange(100000, 1000000)}"
        who = _organisation(rng, row, rng.choice(PARTY_COMMITTEES), party_id, "Y")
    elif row.profile == "transfer":
        name = f"{committee.name} (PRIOR CYCLE)"
        who = _organisation(rng, row, name, committee.committee_id, "H")
    else:
        who = _person(rng)
    city, state, zip5 = rng.choice(ALL_PLACES)
    who.update({
        "contributor_street_1": f"{rng.randrange(1, 20000)} {rng.choice(STREETS)}",
        "contributor_street_2": f"APT {rng.randrange(1, 40)}" if rng.random() < 0.1 else None,
        "contributor_city": city, "contributor_state": state,
        "contributor_zip": zip5 + (f"{rng.randrange(10000):04d}" if rng.random() < 0.6 else ""),
    })
    if row.employer is not None:
        who["contributor_employer"] = row.employer
    return who


def _memo_text(rng: random.Random, row: Row, conduit: tuple[str, str, str, str, str]) -> str | None:
    if row.amount < 0:
        return "REATTRIBUTION TO SPOUSE" if rng.random() < 0.5 else "RETURNED CHECK"
    return {
        "earmarked": f"EARMARKED THROUGH {conduit[1]}",
        "conduit_memo": "* EARMARKED CONTRIBUTION: SEE BELOW",
        "jfc_memo": "JFC MEMO ALLOCATION",
    }.get(row.profile)


def materialize(row: Row, committee: Committee) -> dict[str, Any]:
    """The full Schedule A record (every key, every time) for a stored row."""
    rng = random.Random(row.seed)
    p = PROFILES[row.profile]
    e_file = row.sub_id[0] == "4"
    report_year, report_type = _report(rng, row)
    filed = row.load_date[:10].replace("-", "")  # image numbers start with the filing date
    image = f"{filed}{9 if e_file else 3}{rng.randrange(10 ** 9):09d}"
    conduit = rng.choice(CONDUITS)
    earmarked = row.profile == "earmarked"
    primary = row.date is not None and row.date < f"{row.cycle}-06-01" and rng.random() < 0.8
    record: dict[str, Any] = {
        "sub_id": row.sub_id, "original_sub_id": None, "link_id": rng.randrange(10 ** 18, 10 ** 19),
        "committee_id": row.committee_id,
        "committee_name": committee.name if rng.random() < 0.6 else None,
        "committee": committee.history(row.cycle),
        "recipient_committee_type": committee.type_in(row.cycle),
        "recipient_committee_org_type": None,
        "recipient_committee_designation": committee.designation_in(row.cycle),
        "report_year": report_year, "report_type": report_type, "filing_form": "F3",
        "file_number": rng.randrange(1_500_000, 1_950_000) if e_file
        else rng.randrange(900_000, 1_300_000),
        "image_number": image, "pdf_url": f"https://docquery.fec.gov/cgi-bin/fecimg/?{image}",
        "line_number": p.line, "line_number_label": LINE_LABELS[p.line],
        "transaction_id": f"SA{p.line}.{rng.randrange(1, 10 ** 6)}" if e_file else None,
        "back_reference_transaction_id": f"SA11AI.{rng.randrange(1, 10 ** 6)}"
        if p.memo and e_file else None,
        "back_reference_schedule_name": "SA11AI" if p.memo and e_file else None,
        "amendment_indicator": row.amendment,
        "amendment_indicator_desc": {"A": "ADD", "C": "CHANGE"}.get(row.amendment),
        "schedule_type": "SA", "schedule_type_full": "ITEMIZED RECEIPTS",
        "load_date": row.load_date,
        "entity_type": p.entity_type, "entity_type_desc": p.entity_desc,
        "is_individual": p.individual,
        "unused_contbr_id": None,
        "receipt_type": p.receipt_type, "receipt_type_desc": p.receipt_desc,
        "receipt_type_full": None,
        "memo_code": "X" if p.memo else None, "memo_code_full": None,
        "memo_text": _memo_text(rng, row, conduit), "memoed_subtotal": p.memo,
        "contribution_receipt_date": row.date, "contribution_receipt_amount": row.amount,
        "contributor_aggregate_ytd": round(abs(row.amount) * rng.choice((1, 1, 2, 3, 6)), 2),
        "increased_limit": None,
        "candidate_id": committee.candidate_ids[0] if row.profile == "candidate" else None,
        "candidate_name": None, "candidate_first_name": None, "candidate_last_name": None,
        "candidate_middle_name": None, "candidate_prefix": None, "candidate_suffix": None,
        "candidate_office": None, "candidate_office_full": None, "candidate_office_state": None,
        "candidate_office_state_full": None, "candidate_office_district": None,
        "conduit_committee_id": conduit[0] if earmarked else None,
        "conduit_committee_name": conduit[1] if earmarked else None,
        "conduit_committee_street1": "PO BOX 1000" if earmarked else None,
        "conduit_committee_street2": None,
        "conduit_committee_city": conduit[2] if earmarked else None,
        "conduit_committee_state": conduit[3] if earmarked else None,
        "conduit_committee_zip": conduit[4] if earmarked else None,
        "donor_committee_name": None, "national_committee_nonfederal_account": None,
        "election_type": f"{'P' if primary else 'G'}{row.cycle}",
        "election_type_full": f"{'PRIMARY' if primary else 'GENERAL'} {row.cycle}",
        "fec_election_type_desc": "PRIMARY" if primary else "GENERAL",
        "fec_election_year": str(row.cycle), "two_year_transaction_period": row.cycle,
    }
    record.update(_contributor(rng, row, committee))
    return record
