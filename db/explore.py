"""Views and full-text search for people who explore the database (Datasette, sqlite-utils).

The raw tables keep what the API sent. The views answer the common questions without its
traps: memo lines (memo_code 'X') repeat money already counted and are left out, and so are
rows amended away upstream (superseded_at set). A donation reaches a member only through a
committee mapped to that member for the donation's own two-year period
(fec_mappings.cycle = two_year_transaction_period): the sync maps a committee for a cycle
only when it was the member's principal (P) or authorized (A) committee then, or the
principal committee converted to a PAC in that cycle (whose designation then reads D or
U). A committee shared by several members counts in full for each of them;
`members_sharing_committee` says so.

`donations_fts` indexes contributor name, employer and occupation: an FTS5 table with
external content on `donations`, the form Datasette and sqlite-utils detect. New rows are
indexed by `index_new_rows`, which the writer calls in each page's transaction: one
INSERT ... SELECT per page costs far less than a trigger per row (tried: that halved the rate
of raw inserts; make bench measures what the index costs the writer). Triggers keep rows
already indexed right when a correction changes their text or when a row is deleted.

MIGRATION is one schema step (db/schema.py appends it to MIGRATIONS); every statement in it
is idempotent. Changing a view later takes a new step: DROP VIEW IF EXISTS, then CREATE.
"""

from __future__ import annotations

import sqlite3

FTS_TABLE = "donations_fts"
SEARCH_COLUMNS = ("contributor_name", "contributor_employer", "contributor_occupation")

_COLUMNS = ", ".join(SEARCH_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in SEARCH_COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in SEARCH_COLUMNS)
# FTS5 keeps one %_docsize row per indexed rowid (columnsize=1, the default, stated below so
# nobody turns it off): it is the index's own record of which rows it holds.
_INDEXED = f"EXISTS (SELECT 1 FROM {FTS_TABLE}_docsize WHERE id = old.rowid)"
_TEXT_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in SEARCH_COLUMNS)

# New rows get a rowid above every existing one (SQLite picks max(rowid) + 1), so the rows
# not yet indexed are those above the largest indexed rowid. One comparison, no OR: that
# keeps it a seek on the rowid instead of a scan of the whole table for every page.
_INDEX_NEW_ROWS = f"""
INSERT INTO {FTS_TABLE} (rowid, {_COLUMNS})
    SELECT rowid, {_COLUMNS} FROM donations
    WHERE rowid > coalesce((SELECT max(id) FROM {FTS_TABLE}_docsize), -9223372036854775808)
"""

_SEARCH = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5 (
    {_COLUMNS}, content="donations", columnsize=1
);
CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au
AFTER UPDATE OF {_COLUMNS} ON donations
WHEN ({_TEXT_CHANGED}) AND {_INDEXED}
BEGIN
    INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {_OLD});
    INSERT INTO {FTS_TABLE} (rowid, {_COLUMNS}) VALUES (new.rowid, {_NEW});
END;
CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad
AFTER DELETE ON donations
WHEN {_INDEXED}
BEGIN
    INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {_OLD});
END;
{_INDEX_NEW_ROWS};
"""

# Committee contributors are told apart by their FEC id; people have none, so by name and
# five-digit ZIP code.
_CONTRIBUTOR_KEY = (
    "coalesce(d.contributor_id,"
    " upper(trim(d.contributor_name)) || ' ' || coalesce(substr(d.contributor_zip, 1, 5), ''))"
)
# Exclusive, so that the three parts add up to the total: the FEC's own individual flag
# first, then committees of every kind (PACs, parties, other candidate committees).
_CONTRIBUTOR_KIND = (
    "CASE WHEN d.is_individual = 1 THEN 'individual'"
    " WHEN d.entity_type IN ('PAC', 'PTY', 'CCM', 'COM') THEN 'committee'"
    " ELSE 'other' END"
)
_AMOUNT = "contribution_receipt_amount"
# A mapping is campaign money when the committee was P or A in that cycle, or was the
# principal committee converted to a PAC during it (the history's former_candidate_id).
_CAMPAIGN = (
    "({m}.designation IN ('P', 'A') OR EXISTS (SELECT 1 FROM committee_cycles c"
    " WHERE c.committee_id = {m}.committee_id AND c.cycle = {m}.cycle"
    " AND c.former_candidate_id IS NOT NULL))"
)
# The aggregate views group (and rank) by the member's name and details as well as by
# bioguide_id, which already fixes them: SQLite moves a filter on grouping and partition
# columns into the view, so asking for one member by name stays as cheap as by id instead
# of totalling every member first.

_VIEWS = f"""
CREATE VIEW IF NOT EXISTS member_committees AS
SELECT m.bioguide_id, p.name AS member_name, p.party AS member_party,
       p.state AS member_state, p.chamber AS member_chamber, m.cycle, m.committee_id,
       max(m.committee_name) AS committee_name,
       CASE WHEN max(m.designation = 'P') THEN 'P' WHEN max(m.designation = 'A') THEN 'A'
            ELSE max(m.designation) END AS designation,
       (SELECT count(DISTINCT s.bioguide_id) FROM fec_mappings s
         WHERE s.cycle = m.cycle AND s.committee_id = m.committee_id
           AND {_CAMPAIGN.format(m="s")}) AS members_sharing_committee
FROM fec_mappings m JOIN politicians p ON p.bioguide_id = m.bioguide_id
WHERE {_CAMPAIGN.format(m="m")}
GROUP BY m.bioguide_id, m.cycle, m.committee_id;

CREATE VIEW IF NOT EXISTS donations_to_members AS
SELECT mc.bioguide_id, mc.member_name, mc.member_party, mc.member_state, mc.member_chamber,
       d.two_year_transaction_period AS cycle, d.committee_id, mc.committee_name,
       mc.designation AS committee_designation, mc.members_sharing_committee,
       d.sub_id, d.contribution_receipt_date, d.{_AMOUNT},
       d.contributor_name, d.contributor_employer, d.contributor_occupation,
       d.contributor_city, d.contributor_state, d.contributor_zip, d.entity_type,
       d.is_individual, {_CONTRIBUTOR_KIND} AS contributor_kind,
       {_CONTRIBUTOR_KEY} AS contributor_key, d.contributor_id, d.receipt_type,
       d.line_number, d.memo_text, d.report_year, d.report_type, d.pdf_url,
       d.rowid AS donation_rowid
FROM donations d
JOIN member_committees mc
  ON mc.committee_id = d.committee_id AND mc.cycle = d.two_year_transaction_period
WHERE d.memo_code IS NOT 'X' AND d.superseded_at IS NULL;

CREATE VIEW IF NOT EXISTS member_cycle_totals AS
SELECT bioguide_id, member_name, member_party, member_state, member_chamber, cycle,
       count(*) AS itemized_receipts,
       round(total({_AMOUNT}), 2) AS total_amount,
       round(total(CASE WHEN contributor_kind = 'individual' THEN {_AMOUNT} END), 2)
           AS from_individuals,
       round(total(CASE WHEN contributor_kind = 'committee' THEN {_AMOUNT} END), 2)
           AS from_committees,
       round(total(CASE WHEN contributor_kind = 'other' THEN {_AMOUNT} END), 2)
           AS from_others,
       count(DISTINCT contributor_key) AS distinct_contributors,
       count(DISTINCT committee_id) AS committees,
       round(total(CASE WHEN members_sharing_committee > 1 THEN {_AMOUNT} END), 2)
           AS through_shared_committees
FROM donations_to_members
GROUP BY bioguide_id, member_name, member_party, member_state, member_chamber, cycle;

CREATE VIEW IF NOT EXISTS member_top_contributors AS
SELECT bioguide_id, member_name, cycle,
       rank() OVER (PARTITION BY bioguide_id, member_name, cycle
                    ORDER BY round(total({_AMOUNT}), 2) DESC) AS rank,
       max(contributor_name) AS contributor_name, max(contributor_kind) AS contributor_kind,
       max(entity_type) AS entity_type, max(contributor_city) AS contributor_city,
       max(contributor_state) AS contributor_state, contributor_key,
       count(*) AS receipts, round(total({_AMOUNT}), 2) AS total_amount,
       min(contribution_receipt_date) AS first_receipt_date,
       max(contribution_receipt_date) AS last_receipt_date
FROM donations_to_members
WHERE contributor_key IS NOT NULL
GROUP BY bioguide_id, member_name, cycle, contributor_key;

CREATE VIEW IF NOT EXISTS member_top_employers AS
SELECT bioguide_id, member_name, cycle,
       rank() OVER (PARTITION BY bioguide_id, member_name, cycle
                    ORDER BY round(total({_AMOUNT}), 2) DESC) AS rank,
       upper(trim(contributor_employer)) AS employer,
       count(DISTINCT contributor_key) AS contributors, count(*) AS receipts,
       round(total({_AMOUNT}), 2) AS total_amount
FROM donations_to_members
WHERE contributor_kind = 'individual' AND trim(coalesce(contributor_employer, '')) <> ''
GROUP BY bioguide_id, member_name, cycle, upper(trim(contributor_employer));
"""

MIGRATION: str = _VIEWS + _SEARCH


def index_new_rows(conn: sqlite3.Connection) -> int:
    """Add the donations not yet in the full-text index; returns how many.

    Runs inside the caller's transaction, so rows and their index entries commit together."""
    return conn.execute(_INDEX_NEW_ROWS).rowcount
