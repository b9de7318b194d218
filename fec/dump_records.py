"""Rows of the dump's Schedule A table as the records the API serves for them.

The API's records come from openFEC's `ScheduleA` model over this same table
(webservices/common/models/itemized.py at ee6595e0, with the `ScheduleASchema` overrides in
schemas.py); `FIELDS` is that model's column -> field mapping. Values are converted the way
the API serializes them (marshmallow): dates `2025-04-02`, the load timestamp as Python's
isoformat (`2025-05-17T04:08:30.890000`), amounts as floats, booleans, integers, and the
ids the schema declares as strings; text is never touched. `memoed_subtotal` is computed
as the model does. The joined `committee` and `contributor` objects are not in the dump.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

from fec.dump_copy import decode_row
from fec.dump_errors import DumpSchemaChanged

Convert = Callable[[str], Any]

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?")
_COMMITTEE_ID = re.compile(r"C\d{8}")


def _as_date(text: str) -> str:
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError("not a timestamp")
    return text[:10]


def _as_datetime(text: str) -> str:
    """PostgreSQL's `2025-05-17 04:08:30.89` as Python's isoformat() writes it:
    `2025-05-17T04:08:30.890000`, and no fraction at all for a whole second."""
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError("not a timestamp")
    if len(text) == 19:
        return f"{text[:10]}T{text[11:]}"
    return f"{text[:10]}T{text[11:]}{'0' * (26 - len(text))}"


def _as_bool(text: str) -> bool:
    if text == "t":
        return True
    if text == "f":
        return False
    raise ValueError("not a boolean")


def _as_digits(text: str) -> str:
    if not text.isdigit():
        raise ValueError("not a whole number")
    return text


# API field <- (dump column, conversion); None keeps the text as it is.
FIELDS: dict[str, tuple[str, Convert | None]] = {
    "committee_id": ("cmte_id", None),
    "report_year": ("rpt_yr", int),
    "report_type": ("rpt_tp", None),
    "image_number": ("image_num", None),
    "filing_form": ("filing_form", None),
    "link_id": ("link_id", int),
    "line_number": ("line_num", None),
    "transaction_id": ("tran_id", None),
    "file_number": ("file_num", int),
    "committee_name": ("cmte_nm", None),
    "entity_type": ("entity_tp", None),
    "entity_type_desc": ("entity_tp_desc", None),
    "unused_contbr_id": ("contbr_id", None),
    "contributor_prefix": ("contbr_prefix", None),
    "contributor_name": ("contbr_nm", None),
    "recipient_committee_type": ("cmte_tp", None),
    "recipient_committee_org_type": ("org_tp", None),
    "recipient_committee_designation": ("cmte_dsgn", None),
    "contributor_first_name": ("contbr_nm_first", None),
    "contributor_middle_name": ("contbr_m_nm", None),
    "contributor_last_name": ("contbr_nm_last", None),
    "contributor_suffix": ("contbr_suffix", None),
    "contributor_street_1": ("contbr_st1", None),
    "contributor_street_2": ("contbr_st2", None),
    "contributor_city": ("contbr_city", None),
    "contributor_state": ("contbr_st", None),
    "contributor_zip": ("contbr_zip", None),
    "contributor_employer": ("contbr_employer", None),
    "contributor_occupation": ("contbr_occupation", None),
    "contributor_id": ("clean_contbr_id", None),
    "is_individual": ("is_individual", _as_bool),
    "receipt_type": ("receipt_tp", None),
    "receipt_type_desc": ("receipt_tp_desc", None),
    "receipt_type_full": ("receipt_desc", None),
    "memo_code": ("memo_cd", None),
    "memo_code_full": ("memo_cd_desc", None),
    "memo_text": ("memo_text", None),
    "contribution_receipt_date": ("contb_receipt_dt", _as_date),
    "contribution_receipt_amount": ("contb_receipt_amt", float),
    "contributor_aggregate_ytd": ("contb_aggregate_ytd", float),
    "candidate_id": ("cand_id", None),
    "candidate_name": ("cand_nm", None),
    "candidate_first_name": ("cand_nm_first", None),
    "candidate_last_name": ("cand_nm_last", None),
    "candidate_middle_name": ("cand_m_nm", None),
    "candidate_prefix": ("cand_prefix", None),
    "candidate_suffix": ("cand_suffix", None),
    "candidate_office": ("cand_office", None),
    "candidate_office_full": ("cand_office_desc", None),
    "candidate_office_state": ("cand_office_st", None),
    "candidate_office_state_full": ("cand_office_st_desc", None),
    "candidate_office_district": ("cand_office_district", None),
    "conduit_committee_id": ("conduit_cmte_id", None),
    "conduit_committee_name": ("conduit_cmte_nm", None),
    "conduit_committee_street1": ("conduit_cmte_st1", None),
    "conduit_committee_street2": ("conduit_cmte_st2", None),
    "conduit_committee_city": ("conduit_cmte_city", None),
    "conduit_committee_state": ("conduit_cmte_st", None),
    "conduit_committee_zip": ("conduit_cmte_zip", None),
    "donor_committee_name": ("donor_cmte_nm", None),
    "national_committee_nonfederal_account": ("national_cmte_nonfed_acct", None),
    "election_type": ("election_tp", None),
    "election_type_full": ("election_tp_desc", None),
    "fec_election_type_desc": ("fec_election_tp_desc", None),
    "fec_election_year": ("fec_election_yr", None),
    "two_year_transaction_period": ("two_year_transaction_period", int),
    "amendment_indicator": ("action_cd", None),
    "amendment_indicator_desc": ("action_cd_desc", None),
    "schedule_type": ("schedule_type", None),
    "schedule_type_full": ("schedule_type_desc", None),
    "increased_limit": ("increased_limit", None),
    "load_date": ("pg_date", _as_datetime),
    "sub_id": ("sub_id", _as_digits),
    "original_sub_id": ("orig_sub_id", _as_digits),
    "back_reference_transaction_id": ("back_ref_tran_id", None),
    "back_reference_schedule_name": ("back_ref_sched_nm", None),
    "pdf_url": ("pdf_url", None),
    "line_number_label": ("line_number_label", None),
}
# What a load cannot do without: every field db/donations.py stores, plus the columns that
# filter the rows and give the watermark. A missing optional column only drops its field.
REQUIRED_FIELDS = frozenset({
    "sub_id", "committee_id", "two_year_transaction_period", "load_date",
    "contributor_name", "contributor_first_name", "contributor_last_name",
    "contributor_employer", "contributor_occupation", "contributor_city", "contributor_state",
    "contributor_zip", "contributor_id", "entity_type", "is_individual",
    "contribution_receipt_amount", "contribution_receipt_date", "report_year", "report_type",
    "receipt_type", "line_number", "memo_code", "memo_text", "transaction_id",
    "back_reference_transaction_id", "file_number", "image_number", "pdf_url",
    "amendment_indicator",
})


class RowConverter:
    """Turns one COPY line of the table into an API record, by column position."""

    def __init__(self, columns: Sequence[str], where: str) -> None:
        self.where = where
        self.width = len(columns)
        position = {name: i for i, name in enumerate(columns)}
        missing = sorted(FIELDS[f][0] for f in REQUIRED_FIELDS if FIELDS[f][0] not in position)
        if missing:
            raise DumpSchemaChanged(f"{where} lacks the column(s) {', '.join(missing)} that the "
                                    "API's records are made of; its schema has changed")
        present = {field: spec for field, spec in FIELDS.items() if spec[0] in position}
        plain = [field for field, (_, convert) in present.items() if convert is None]
        self._plain_names = plain
        indices = [position[present[f][0]] for f in plain]
        # itemgetter of several indices returns a tuple, of one a bare value
        self._plain_values: Callable[[list[str | None]], Sequence[str | None]] = (
            itemgetter(*indices) if len(indices) > 1
            else lambda values: tuple(values[i] for i in indices))
        self._typed = [(field, position[column], column, convert)
                       for field, (column, convert) in present.items() if convert is not None]
        self._memo_at = position.get("memo_cd")
        self.committee_at = position["cmte_id"]

    def convert(self, line: bytes) -> dict[str, Any]:
        values = decode_row(line, self.width, self.where)
        # the same number of names and values by construction
        record: dict[str, Any] = dict(zip(self._plain_names, self._plain_values(values)))  # noqa: B905
        try:
            for field, at, _, convert in self._typed:
                text = values[at]
                record[field] = None if text is None else convert(text)
        except ValueError:
            self._explain(values)
            raise
        if self._memo_at is not None:
            record["memoed_subtotal"] = values[self._memo_at] == "X"
        return record

    def _explain(self, values: Sequence[str | None]) -> None:
        """Raise the error for the first column whose text does not convert."""
        for field, at, column, convert in self._typed:
            text = values[at]
            if text is None:
                continue
            try:
                convert(text)
            except ValueError:
                raise DumpSchemaChanged(
                    f"{self.where} holds {text[:40]!r} in column {column}, which the API "
                    f"serves as {field}: the column's type has changed") from None


def committee_prefixes(committee_ids: Iterable[str]) -> frozenset[bytes]:
    """`C00123456\\t` for each committee: the start of its rows when cmte_id comes first."""
    wanted = set()
    for committee_id in committee_ids:
        if not _COMMITTEE_ID.fullmatch(committee_id):
            raise ValueError(f"{committee_id!r} is not an FEC committee id (C + 8 digits)")
        wanted.add(committee_id.encode("ascii") + b"\t")
    return frozenset(wanted)
