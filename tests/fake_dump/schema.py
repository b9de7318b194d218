"""The FEC's `disclosure.fec_fitem_sched_a` table as the fake dump holds it.

Columns in the table's own order (openFEC data/migrations: V0015 created 78 columns, V0074
renamed election_cycle to two_year_transaction_period in place, V0111 and V0150 appended
cmte_tp, org_tp, cmte_dsgn), each with its PostgreSQL type and the API field it is served
as (openFEC's ScheduleA model). `dump_values` turns an API record of the fake world back
into the text PostgreSQL's COPY writes for each column: the inverse of what a reader of
the dump must do, written here independently so that the two can be checked against
each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

SCHEMA = "disclosure"
PARENT = "fec_fitem_sched_a"

# (column, PostgreSQL type, API field or None for the three full-text search columns)
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("cmte_id", "character varying(9)", "committee_id"),
    ("cmte_nm", "character varying(200)", "committee_name"),
    ("contbr_id", "character varying(9)", "unused_contbr_id"),
    ("contbr_nm", "character varying(200)", "contributor_name"),
    ("contbr_nm_first", "character varying(38)", "contributor_first_name"),
    ("contbr_m_nm", "character varying(20)", "contributor_middle_name"),
    ("contbr_nm_last", "character varying(38)", "contributor_last_name"),
    ("contbr_prefix", "character varying(10)", "contributor_prefix"),
    ("contbr_suffix", "character varying(10)", "contributor_suffix"),
    ("contbr_st1", "character varying(34)", "contributor_street_1"),
    ("contbr_st2", "character varying(34)", "contributor_street_2"),
    ("contbr_city", "character varying(30)", "contributor_city"),
    ("contbr_st", "character varying(2)", "contributor_state"),
    ("contbr_zip", "character varying(9)", "contributor_zip"),
    ("entity_tp", "character varying(3)", "entity_type"),
    ("entity_tp_desc", "character varying(50)", "entity_type_desc"),
    ("contbr_employer", "character varying(38)", "contributor_employer"),
    ("contbr_occupation", "character varying(38)", "contributor_occupation"),
    ("election_tp", "character varying(5)", "election_type"),
    ("fec_election_tp_desc", "character varying(20)", "fec_election_type_desc"),
    ("fec_election_yr", "character varying(4)", "fec_election_year"),
    ("election_tp_desc", "character varying(20)", "election_type_full"),
    ("contb_aggregate_ytd", "numeric(14,2)", "contributor_aggregate_ytd"),
    ("contb_receipt_dt", "timestamp without time zone", "contribution_receipt_date"),
    ("contb_receipt_amt", "numeric(14,2)", "contribution_receipt_amount"),
    ("receipt_tp", "character varying(3)", "receipt_type"),
    ("receipt_tp_desc", "character varying(90)", "receipt_type_desc"),
    ("receipt_desc", "character varying(100)", "receipt_type_full"),
    ("memo_cd", "character varying(1)", "memo_code"),
    ("memo_cd_desc", "character varying(50)", "memo_code_full"),
    ("memo_text", "character varying(100)", "memo_text"),
    ("cand_id", "character varying(9)", "candidate_id"),
    ("cand_nm", "character varying(90)", "candidate_name"),
    ("cand_nm_first", "character varying(38)", "candidate_first_name"),
    ("cand_m_nm", "character varying(20)", "candidate_middle_name"),
    ("cand_nm_last", "character varying(38)", "candidate_last_name"),
    ("cand_prefix", "character varying(10)", "candidate_prefix"),
    ("cand_suffix", "character varying(10)", "candidate_suffix"),
    ("cand_office", "character varying(1)", "candidate_office"),
    ("cand_office_desc", "character varying(20)", "candidate_office_full"),
    ("cand_office_st", "character varying(2)", "candidate_office_state"),
    ("cand_office_st_desc", "character varying(20)", "candidate_office_state_full"),
    ("cand_office_district", "character varying(2)", "candidate_office_district"),
    ("conduit_cmte_id", "character varying(9)", "conduit_committee_id"),
    ("conduit_cmte_nm", "character varying(200)", "conduit_committee_name"),
    ("conduit_cmte_st1", "character varying(34)", "conduit_committee_street1"),
    ("conduit_cmte_st2", "character varying(34)", "conduit_committee_street2"),
    ("conduit_cmte_city", "character varying(30)", "conduit_committee_city"),
    ("conduit_cmte_st", "character varying(2)", "conduit_committee_state"),
    ("conduit_cmte_zip", "character varying(9)", "conduit_committee_zip"),
    ("donor_cmte_nm", "character varying(200)", "donor_committee_name"),
    ("national_cmte_nonfed_acct", "character varying(9)", "national_committee_nonfederal_account"),
    ("increased_limit", "character varying(1)", "increased_limit"),
    ("action_cd", "character varying(1)", "amendment_indicator"),
    ("action_cd_desc", "character varying(15)", "amendment_indicator_desc"),
    ("tran_id", "character varying(32)", "transaction_id"),
    ("back_ref_tran_id", "character varying(32)", "back_reference_transaction_id"),
    ("back_ref_sched_nm", "character varying(8)", "back_reference_schedule_name"),
    ("schedule_type", "character varying(8)", "schedule_type"),
    ("schedule_type_desc", "character varying(90)", "schedule_type_full"),
    ("line_num", "character varying(12)", "line_number"),
    ("image_num", "character varying(18)", "image_number"),
    ("file_num", "numeric(7,0)", "file_number"),
    ("link_id", "numeric(19,0)", "link_id"),
    ("orig_sub_id", "numeric(19,0)", "original_sub_id"),
    ("sub_id", "numeric(19,0) NOT NULL", "sub_id"),
    ("filing_form", "character varying(8) NOT NULL", "filing_form"),
    ("rpt_tp", "character varying(3)", "report_type"),
    ("rpt_yr", "numeric(4,0)", "report_year"),
    ("two_year_transaction_period", "numeric(4,0)", "two_year_transaction_period"),
    ("pdf_url", "text", "pdf_url"),
    ("contributor_name_text", "tsvector", None),
    ("contributor_employer_text", "tsvector", None),
    ("contributor_occupation_text", "tsvector", None),
    ("is_individual", "boolean", "is_individual"),
    ("clean_contbr_id", "character varying(9)", "contributor_id"),
    ("pg_date", "timestamp without time zone DEFAULT now()", "load_date"),
    ("line_number_label", "text", "line_number_label"),
    ("cmte_tp", "character varying(1)", "recipient_committee_type"),
    ("org_tp", "character varying(1)", "recipient_committee_org_type"),
    ("cmte_dsgn", "character varying(1)", "recipient_committee_designation"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _, _ in COLUMNS)
# Keys of an API record that no column holds: relationships the API joins in.
JOINED_FIELDS = ("committee", "contributor")


def child_table(cycle: int) -> str:
    return f"{PARENT}_{cycle - 1}_{cycle}"


def create_table_sql(table: str = PARENT, parent: str | None = None,
                     cycle: int | None = None) -> str:
    """The DDL pg_dump would print for the parent, or for a child that inherits it."""
    if parent is None:
        body = ",\n".join(f"    {name} {kind}" for name, kind, _ in COLUMNS)
        return f"CREATE TABLE {SCHEMA}.{table} (\n{body}\n);\n"
    check = (f"    CONSTRAINT check_two_year_transaction_period CHECK "
             f"((two_year_transaction_period = ANY ((ARRAY[{cycle - 1}, {cycle}])::numeric[])))")
    return f"CREATE TABLE {SCHEMA}.{table} (\n{check}\n)\nINHERITS ({SCHEMA}.{parent});\n"


def pg_timestamp(value: str) -> str:
    """An ISO datetime (as the API writes it) in PostgreSQL's output format: a space, and
    the fraction of a second without trailing zeros."""
    moment = datetime.fromisoformat(value)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text


def _tsvector(*words: Any) -> str | None:
    tokens = sorted({w.lower() for text in words if text for w in str(text).split()
                     if w.isalpha()})
    return " ".join(f"'{token}':{i}" for i, token in enumerate(tokens, 1)) or None


def _text_of(column: str, value: Any) -> str | None:
    if value is None:
        return None
    if column in ("contb_aggregate_ytd", "contb_receipt_amt"):
        return f"{float(value):.2f}"
    if column == "contb_receipt_dt":
        return f"{value} 00:00:00"
    if column == "pg_date":
        return pg_timestamp(value)
    if column == "is_individual":
        return "t" if value else "f"
    return str(value)


def dump_values(record: Mapping[str, Any]) -> list[str | None]:
    """One API record as the COPY text values of every column, in table order."""
    values: list[str | None] = []
    for column, _, field in COLUMNS:
        if field is not None:
            values.append(_text_of(column, record[field]))
        elif column == "contributor_name_text":
            values.append(_tsvector(record["contributor_name"]))
        elif column == "contributor_employer_text":
            values.append(_tsvector(record["contributor_employer"]))
        else:
            values.append(_tsvector(record["contributor_occupation"]))
    return values


def copy_statement(table: str, columns: Sequence[str] = COLUMN_NAMES) -> str:
    return f"COPY {SCHEMA}.{table} ({', '.join(columns)}) FROM stdin;\n"
