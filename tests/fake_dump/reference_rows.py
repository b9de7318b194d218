"""The rows of the reference archives made by a real pg_dump (make_reference.py).

Each row maps a column to the exact text PostgreSQL prints for it (None = NULL), so a
reader of the archive must give back these strings unchanged. The values are chosen to
be awkward: tabs, newlines, carriage returns, backslashes (also `\\N` and `\\.` as data),
empty strings beside NULLs, leading and trailing spaces, control characters, accents, CJK
and a 4-byte emoji, fractional seconds that PostgreSQL prints without trailing zeros.
"""

from __future__ import annotations

import random

from .schema import COLUMN_NAMES, child_table

Row = dict[str, str | None]

WANTED = ("C00000001", "C00000002")  # the committees a test asks for
OTHER = "C00000003"  # in the dump, never asked for


def make_row(sub_id: str, committee: str, cycle: str, **values: str | None) -> Row:
    """A plain row; keyword arguments override single columns."""
    base: Row = dict.fromkeys(COLUMN_NAMES)
    base.update({
        "cmte_id": committee, "cmte_nm": "REFERENCE FOR CONGRESS", "contbr_nm": "DOE, JANE",
        "contbr_nm_first": "JANE", "contbr_nm_last": "DOE", "contbr_st1": "1 MAIN ST",
        "contbr_city": "SPRINGFIELD", "contbr_st": "IL", "contbr_zip": "627011234",
        "entity_tp": "IND", "entity_tp_desc": "INDIVIDUAL", "contbr_employer": "SELF",
        "contbr_occupation": "WRITER", "election_tp": "P2026", "fec_election_tp_desc": "PRIMARY",
        "fec_election_yr": "2026", "election_tp_desc": "PRIMARY 2026",
        "contb_aggregate_ytd": "250.00", "contb_receipt_dt": "2025-04-02 00:00:00",
        "contb_receipt_amt": "40.00", "receipt_tp": "15", "receipt_tp_desc": "CONTRIBUTION",
        "action_cd": "A", "action_cd_desc": "ADD", "tran_id": f"SA11AI.{sub_id[-4:]}",
        "schedule_type": "SA", "schedule_type_desc": "ITEMIZED RECEIPTS", "line_num": "11AI",
        "image_num": "202505179000000001", "file_num": "1801234", "link_id": "4051720251234567890",
        "sub_id": sub_id, "filing_form": "F3", "rpt_tp": "Q2", "rpt_yr": "2025",
        "two_year_transaction_period": cycle,
        "pdf_url": "https://docquery.fec.gov/cgi-bin/fecimg/?202505179000000001",
        "contributor_name_text": "'doe':1 'jane':2", "is_individual": "t",
        "pg_date": "2025-05-17 04:08:30.89",
        "line_number_label": "Contributions From Individuals/Persons Other Than Political "
                             "Committees",
        "cmte_tp": "H", "cmte_dsgn": "P",
    })
    base.update(values)
    return base


C1, C2 = WANTED
ROWS_2026: tuple[Row, ...] = (
    make_row("4051720250000000001", C1, "2026"),
    make_row("4051720250000000002", C1, "2026", contbr_nm="SMITH,\tJOHN", contbr_st2="",
         memo_text="LINE ONE\nLINE TWO", contb_receipt_amt="-5.00", is_individual="f",
         pg_date="2025-05-17 04:08:30"),
    make_row("4051720250000000003", C2, "2026", contbr_employer="C:\\PATH\\TO",
         contbr_occupation="\\N", cand_nm="\\.", contbr_city="ENDS WITH\\",
         contb_receipt_dt=None, contb_receipt_amt="0.01", is_individual=None,
         pg_date="2025-01-01 00:00:00.000001", memo_cd="X", memo_cd_desc="MEMO ITEM"),
    make_row("4051720250000000004", C2, "2026", contbr_nm_first="  PADDED  ", contbr_m_nm="   ",
         memo_text="CR\rONLY", receipt_desc="CRLF\r\nEND", contb_receipt_amt="1234567.89",
         pg_date="2026-03-01 23:59:59.999999", contb_receipt_dt="2025-04-02 13:45:00"),
    make_row("4051720250000000005", C1, "2026", contbr_nm="JOSÉ Ñ ZOË", contbr_nm_first="JOSÉ",
         contbr_city="北京市", contbr_employer="😀 DONOR", memo_text="CTRL\b\f\v\x01END",
         contb_aggregate_ytd=None, contb_receipt_amt=None, pg_date="2025-12-31 12:00:00.5"),
    make_row("4051720250000000006", C1, "2026", memo_text="TAB\\tNOT A TAB",
         cand_office_district="\t", back_ref_tran_id="TRAILING NEWLINE\n",
         contbr_suffix="", contbr_prefix=None, contb_receipt_amt="0.00",
         orig_sub_id="4051720250000000001", clean_contbr_id="C00999999"),
    make_row("1051720250000000007", C2, "2025", contbr_nm="ODD PERIOD, KEPT OUT"),
    make_row("4051720250000000008", OTHER, "2026", contbr_nm="NOT ASKED FOR"),
    make_row("4051720250000000009", C2, "2026", contbr_nm="LAST, ROW",
             pg_date="2026-01-02 03:04:05.1"),
)


def _bulk(count: int) -> tuple[Row, ...]:
    """Plain varied rows, enough for the compressed table to span several 4 KiB chunks."""
    rng = random.Random(2026)
    names = ("GARCIA, ANA", "NGUYEN, MINH", "O'BRIEN, PAT", "MÜLLER, JÖRG", "SMITH, AL")
    rows = []
    for i in range(count):
        micro = rng.randrange(1_000_000)
        rows.append(make_row(
            f"4{rng.randrange(10 ** 18):018d}", WANTED[i % 2] if i % 3 else OTHER, "2026",
            contbr_nm=rng.choice(names), contbr_zip=f"{rng.randrange(10 ** 9):09d}",
            contb_receipt_amt=f"{rng.randrange(1, 500000) / 100:.2f}",
            contb_receipt_dt=f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} 00:00:00",
            pg_date=f"2025-06-{rng.randrange(1, 31):02d} 0{rng.randrange(10)}:1{rng.randrange(10)}"
                    f":2{rng.randrange(10)}" + (f".{micro:06d}".rstrip("0") if micro else ""),
            memo_text=None if i % 4 else f"NOTE {rng.randrange(10 ** 6)}"))
    return tuple(rows)


ROWS_2026 = ROWS_2026 + _bulk(150)
ROWS_2024: tuple[Row, ...] = (
    make_row("4111520230000000010", C1, "2024", election_tp="G2024", rpt_yr="2023",
         pg_date="2023-11-15 02:07:05.909"),
    make_row("4111520230000000011", OTHER, "2024"),
)
TABLE_ROWS: dict[str, tuple[Row, ...]] = {
    child_table(2024): ROWS_2024,
    child_table(2026): ROWS_2026,
}
