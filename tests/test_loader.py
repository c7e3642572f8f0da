"""The loader: every row loaded or rejected with a reason; fatal files; formats; atomic swap."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path

import duckdb
import openpyxl
import pytest

from kam_core.errors import LoadError
from kam_core.ingest import loader
from kam_core.ingest.loader import load
from kam_core.settings import Settings

from .conftest import MINI_ACCOUNTS, query, write


@pytest.fixture(autouse=True, params=[True, False], ids=["one-pass", "full-path"])
def both_paths(request, monkeypatch) -> None:
    """Every loader test runs with the one-pass attempt for clean CSV files and without it."""
    monkeypatch.setattr(loader, "TRY_ONE_PASS", request.param)


def reasons(db: Path, table: str | None = None) -> list[tuple[str, int, str]]:
    sql = "select source_file, row_number, reason from rejects"
    if table:
        sql += f" where table_name = '{table}'"
    return query(db, sql + " order by source_file, row_number")


def assert_counts_add_up(report) -> None:
    for f in report.files:
        assert f.rows_read == f.rows_loaded + f.rows_rejected, f


# ---------------------------------------------------------------- happy path and types


def test_types_enums_defaults(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv",
          "account_id,name,phase,annual_revenue,key_account_since\n"
          " A-1 ,Alpha GmbH, Delivery ,1000.5,2020-01-15\n"
          "A-2,Beta,pre-sales,2e6,15.03.2021\n"
          "A-3,Gamma,Vorverkauf,,\n")
    write(src, "contacts.csv",
          "contact_id,account_id,name,piece,attitude,is_active,level,buying_role\n"
          "C-1,A-1,Dr. K,KING,Opponent,ja,Executive,Economic Buyer\n"
          "C-2,A-1,P,,,,,\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert report.ok
    assert_counts_add_up(report)
    assert query(db, "select account_id, name, phase, annual_revenue, key_account_since from accounts order by 1") == [
        ("A-1", "Alpha GmbH", "delivery", 1000.5, dt.date(2020, 1, 15)),
        ("A-2", "Beta", "pre_sales", 2e6, dt.date(2021, 3, 15)),
        ("A-3", "Gamma", "pre_sales", None, None),
    ]
    assert query(db, "select contact_id, piece, attitude, is_active, level, buying_role from contacts order by 1") == [
        ("C-1", "king", "opponent", True, "executive", "economic_buyer"),
        ("C-2", "pawn", "neutral", True, None, None),
    ]


def test_probability_percent_and_range(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "opportunities.csv",
          "opportunity_id,account_id,status,amount,probability\n"
          "O-1,A-1,open,100,70\n"      # percent -> 0.7
          "O-2,A-1,Won,100,1\n"         # exactly 1 stays 1
          "O-3,A-1,open,100,0.25\n"
          "O-4,A-1,open,100,101\n"      # out of range
          "O-5,A-1,open,-5,\n"          # negative amount
          "O-6,A-1,maybe,10,\n")        # unknown status
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select opportunity_id, status, probability from opportunities order by 1") == [
        ("O-1", "open", 0.7), ("O-2", "won", 1.0), ("O-3", "open", 0.25)]
    got = reasons(db, "opportunities")
    assert [r[1] for r in got] == [5, 6, 7]
    assert "probability '101' is out of range (expected 0-1, or a percentage up to 100)" in got[0][2]
    assert "amount '-5' is out of range (expected at least 0)" in got[1][2]
    assert "status 'maybe' is not one of: open, won, lost" in got[2][2]


def test_amount_is_required_for_won_deals_only(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "opportunities.csv",
          "opportunity_id,account_id,status,amount,probability\n"
          "O-1,A-1,open,,0.5\n"       # open without amount: kept
          "O-2,A-1,open,,\n"
          "O-3,A-2,lost,,\n"          # lost without amount: kept
          "O-4,A-2,won,,\n"           # won without amount: rejected
          "O-5,A-2,won,250,\n"
          "O-6,A-1,open,NULL,\n")     # NULL is blank too
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert query(db, "select opportunity_id, status, amount from opportunities order by 1") == [
        ("O-1", "open", None), ("O-2", "open", None), ("O-3", "lost", None), ("O-5", "won", 250.0),
        ("O-6", "open", None)]
    assert reasons(db) == [("opportunities.csv", 5, "amount is blank (required when status is won)")]
    assert report.notes == [
        "opportunities: 3 open deals and 1 lost deal have no amount (kept: counted as deals, left out "
        "of value sums)"]
    assert report.notes[0] in report.lines()
    assert query(db, "select value from load_info where key = 'notes'") == [(report.notes[0],)]


def test_a_file_without_an_amount_column_keeps_its_open_deals(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "opportunities.csv", "opportunity_id,account_id,status\nO-1,A-1,open\nO-2,A-1,won\nO-3,A-2,open\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert query(db, "select opportunity_id from opportunities order by 1") == [("O-1",), ("O-3",)]
    assert reasons(db) == [("opportunities.csv", 3, "amount is blank (required when status is won)")]
    assert report.ok  # 1 of 3 rows rejected: not a failed table
    assert report.notes == ["opportunities: 2 open deals have no amount (kept: counted as deals, left out "
                            "of value sums)"]


def test_a_table_whose_every_row_is_rejected_is_left_out(src: Path, tmp_path: Path, capsys) -> None:
    """Every deal rejected: the table is not in the database (its figures show – and the file
    that would fill them, not a 0 that looks like data), the rows are kept as rejects, and a
    header-only file still gives an empty table."""
    from kam_core.metrics.report import run_report

    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "opportunities.csv", "opportunity_id,account_id,status,amount\nO-1,A-1,gewonnen,5\nO-2,A-2,offen!,7\n")
    write(src, "competitors.csv", "account_id,competitor\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert not report.ok and [f.table for f in report.failed_tables] == ["opportunities"]
    assert "opportunities" not in report.table_rows and report.table_rows["competitors"] == 0
    assert ("opportunities: every one of its 2 rows was rejected, so the table is left out: the figures that need "
            "it show – until the file is fixed and loaded again") in report.notes
    assert query(db, "select count(*) from duckdb_tables() where table_name = 'opportunities'") == [(0,)]
    assert len(reasons(db, "opportunities")) == 2  # nothing lost: both rows are rejects
    out = io.StringIO()
    assert run_report(db, "summary", None, "json", None, out) == 0
    summary = json.loads(out.getvalue())
    assert summary["open_pipeline"] is None and summary["open_opportunities"] is None
    assert "– empty: needs opportunities.csv for open_pipeline, weighted_pipeline, win_rate" in capsys.readouterr().err


def test_more_than_half_rejected_for_one_reason_is_a_failed_table(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    # the export names accounts by name, not by id: 3 of 4 rows fail the same way
    write(src, "contacts.csv",
          "contact_id,account_id,name\nC-1,Alpha,X\nC-2,Beta,Y\nC-3,A-1,Z\nC-4,Gamma,W\n")
    write(src, "revenue.csv", "account_id,period,product_line,revenue\nA-1,2024-01,S,1\nA-2,2024-13,S,2\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert not report.ok
    [failed] = report.failed_tables
    assert failed.table == "contacts"
    assert failed.failure == (
        "3 of 4 rows rejected for one reason, e.g. account_id 'Alpha' has no account in accounts (and others "
        "like it). Fix: the column must hold the ids of accounts.account_id exactly: check that it is the "
        "account's id (not its name), or map the right column in a mapping file")
    lines = report.lines()
    assert lines[0] == f"FAILED contacts (contacts.csv): {failed.failure}"
    # the good row loaded, the rest are rejects: nothing lost
    assert query(db, "select contact_id from contacts") == [("C-3",)]
    assert len(reasons(db, "contacts")) == 3
    # revenue: 1 of 2 rejected is not more than half
    assert [f.table for f in report.failed_tables] == ["contacts"]
    assert query(db, "select source_file, failure is not null from load_files order by file_ordinal") == [
        ("accounts.csv", False), ("contacts.csv", True), ("revenue.csv", False)]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("annual_revenue", "abc", "annual_revenue 'abc' is not a number"),
        ("annual_revenue", "-1", "annual_revenue '-1' is out of range (expected at least 0)"),
        ("annual_revenue", "#N/A", "annual_revenue holds the Excel error #N/A"),
        ("annual_revenue", "#DIV/0!", "annual_revenue holds the Excel error #DIV/0!"),
        ("key_account_since", "2021-02-30", "key_account_since '2021-02-30' is not a date"),
        ("key_account_since", "0201-01-01", "key_account_since '0201-01-01' is out of range"),
        ("phase", "lost_cause", "phase 'lost_cause' is not one of: pre_sales, negotiation"),
        ("name", "", "name is blank (required)"),
        ("name", "NULL", "name is blank (required)"),
        ("name", "#REF!", "name holds the Excel error #REF!"),
    ],
)
def test_bad_values_reject_the_row(src: Path, tmp_path: Path, column: str, value: str, reason: str) -> None:
    cols = {"account_id": "A-2", "name": "Beta", "annual_revenue": "", "key_account_since": "", "phase": ""}
    cols[column] = value
    header = ",".join(cols)
    write(src, "accounts.csv", f"{header}\nA-1,Alpha,,,\n" + ",".join(cols.values()) + "\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert report.files[0].rows_loaded == 1
    [(file, row, why)] = reasons(db)
    assert (file, row) == ("accounts.csv", 3)
    assert reason in why


SERIAL_FIX = "so format the column as a date in the spreadsheet before exporting"


@pytest.mark.parametrize(("cell", "reason"), [
    ("45123", "key_account_since '45123' is not a date (YYYY-MM-DD or DD.MM.YYYY): it looks like an Excel serial "
              f"day number (45123 = 2023-07-16), {SERIAL_FIX}"),
    ("45000.5", "key_account_since '45000.5' is not a date (YYYY-MM-DD or DD.MM.YYYY): it looks like an Excel "
                f"serial day number (45000.5 = 2023-03-15), {SERIAL_FIX}"),
    ("10000", "key_account_since '10000' is not a date (YYYY-MM-DD or DD.MM.YYYY): it looks like an Excel serial "
              f"day number (10000 = 1927-05-18), {SERIAL_FIX}"),
    # a year, a plain number, a German decimal: no guess
    ("2024", "key_account_since '2024' is not a date (YYYY-MM-DD or DD.MM.YYYY)"),
    ("123456", "key_account_since '123456' is not a date (YYYY-MM-DD or DD.MM.YYYY)"),
    ("45123,5", "key_account_since '45123,5' is not a date (YYYY-MM-DD or DD.MM.YYYY)"),
])
def test_an_excel_serial_date_is_rejected_with_what_it_looks_like(src: Path, tmp_path: Path, cell: str,
                                                                  reason: str) -> None:
    write(src, "accounts.csv", f'account_id,name,key_account_since\nA-1,Alpha,2020-01-01\nA-2,Beta,"{cell}"\n')
    db = tmp_path / "kam.duckdb"
    load([src], db)
    # never converted: the day number may be a guess (or a date of the 1904 system)
    assert query(db, "select account_id, key_account_since from accounts") == [("A-1", dt.date(2020, 1, 1))]
    assert reasons(db) == [("accounts.csv", 3, reason)]


def test_a_month_column_of_excel_serial_dates_fails_with_the_export_fix(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "revenue.csv", "account_id,period,product_line,revenue\nA-1,45292,S,1\nA-2,45323,S,2\n")
    report = load([src], tmp_path / "kam.duckdb")
    [failed] = report.failed_tables
    assert failed.failure == (
        "2 of 2 rows rejected for one reason, e.g. period '45292' is not a month (YYYY-MM or a date in the month): "
        f"it looks like an Excel serial day number (45292 = 2024-01-01), {SERIAL_FIX} (and others like it). Fix: "
        "format the date columns as dates in the spreadsheet before exporting (the file holds Excel's day numbers, "
        "such as 45123 for 2023-07-16)")


@pytest.mark.parametrize(("serial", "day"), [
    (1, "1900-01-01"), (59, "1900-02-28"), (60, "1900-02-29"), (61, "1900-03-01"), (45123, "2023-07-16"),
    (0, None),
])
def test_excel_day_numbers_of_the_1900_system(serial: int, day: str | None) -> None:
    from kam_core.ingest.checks import install_macros

    con = duckdb.connect()
    install_macros(con, Settings())
    assert con.execute("select kam_excel_day($n)", {"n": serial}).fetchone()[0] == day


def test_null_literal_is_missing_in_optional_columns(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id,name,industry,annual_revenue\nA-1,Alpha,null,NULL\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select industry, annual_revenue from accounts") == [(None, None)]


def test_relationship_strength_whole_and_in_range(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "team.csv", "member_id,name\nT-1,Anna\nT-2,Ben\nT-3,Cem\nT-4,Dora\n")
    write(src, "contacts.csv", "contact_id,account_id,name\nC-1,A-1,X\n")
    write(src, "relationships.csv",
          "member_id,contact_id,strength,last_contact_date\n"
          "T-1,C-1,4,2024-01-01\nT-2,C-1,2.5,\nT-3,C-1,5,\nT-4,C-1,,\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select member_id, strength from relationships") == [("T-1", 4)]
    got = [r[2] for r in reasons(db)]
    assert got == ["strength '2.5' is not a whole number", "strength '5' is out of range (expected 0 to 4)",
                   "strength is blank (required)"]


def test_booleans(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "team.csv", "member_id,name,is_active\n" + "".join(
        f"T-{i},N{i},{v}\n" for i, v in enumerate(["true", "0", "Yes", "nein", "WAHR", "falsch", "", "maybe"])))
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select is_active from team order by member_id") == [
        (True,), (False,), (True,), (False,), (True,), (False,), (True,)]
    assert reasons(db)[0][1:] == (9, "is_active 'maybe' is not true or false (also 1/0, yes/no, ja/nein)")


def test_revenue_period_forms_and_negative_allowed(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "revenue.csv",
          "account_id,period,product_line,revenue,gross_margin\n"
          "A-1,2024-03,Software,100,30\n"
          "A-1,2024-03-17,Software,50,\n"          # same key: kept, metrics sum
          "A-1,17.04.2024, Services ,-20,-5\n"     # credit note; product line trimmed
          "A-1,2024-13,Software,1,\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select period, product_line, revenue from revenue order by period, revenue") == [
        (dt.date(2024, 3, 1), "Software", 50.0), (dt.date(2024, 3, 1), "Software", 100.0),
        (dt.date(2024, 4, 1), "Services", -20.0)]
    assert "period '2024-13' is not a month" in reasons(db)[0][2]


def test_criteria_source_validation_and_derived_score_warning(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "criteria.csv",
          "criterion_id,name,axis,weight,source\n"
          "fit,Strategic fit,attractiveness,2,\n"
          "rev,Revenue,Attractiveness,1, TTM_Revenue \n"
          "bad,Bad,strength,1,turnover\n"
          "neg,Neg,strength,-1,manual\n")
    write(src, "criterion_scores.csv", "account_id,criterion_id,score\nA-1,fit,7\nA-1,rev,9\nA-1,nope,3\nA-2,fit,11\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select criterion_id, source from criteria order by 1") == [("fit", "manual"), ("rev", "ttm_revenue")]
    got = reasons(db)
    assert "source 'turnover' names no known metric: manual, annual_revenue" in got[0][2]
    assert "weight '-1' is out of range (expected at least 0)" in got[1][2]
    assert got[2][1:] == (4, "criterion_id 'nope' has no criterion in criteria")
    assert got[3][1:] == (5, "score '11' is out of range (expected 0 to 10)")
    assert query(db, "select row_number, message from warnings") == [
        (3, "criterion 'rev' is derived from the metric ttm_revenue; this manual score is ignored")]


# ---------------------------------------------------------------- keys and references


def test_duplicate_keys_first_kept_within_and_across_files(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id,name\nA-1,First\nA-2,Two\nA-1,Second\n")
    sub = src / "more"
    sub.mkdir()
    write(sub, "accounts.csv", "account_id,name\nA-2,Again\nA-3,Three\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert query(db, "select account_id, name from accounts order by 1") == [
        ("A-1", "First"), ("A-2", "Two"), ("A-3", "Three")]
    assert reasons(db) == [
        ("accounts.csv", 4, "duplicate key account_id 'A-1': first kept (row 2)"),
        ("more/accounts.csv", 2, "duplicate key account_id 'A-2': first kept (accounts.csv row 3)"),
    ]


def test_duplicate_of_a_rejected_row_is_kept(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id,name,annual_revenue\nA-1,Bad,abc\nA-1,Good,5\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select name from accounts") == [("Good",)]


def test_orphans_required_reject_optional_warn(src: Path, tmp_path: Path) -> None:
    write(src, "team.csv", "member_id,name\nT-1,Anna\n")
    write(src, "accounts.csv",
          "account_id,name,account_manager_id,mentor_id,parent_account_id\n"
          "A-1,Alpha,T-1,T-9,\nA-2,Beta,,,A-1\nA-3,Gamma,,,A-404\n")
    write(src, "contacts.csv", "contact_id,account_id,name\nC-1,A-1,X\nC-2,A-99,Y\n")
    write(src, "activities.csv", "activity_id,date,account_id,contact_id,member_id,type\n"
          "X-1,2024-01-01,A-1,C-1,T-1,call\nX-2,2024-01-02,A-1,C-77,T-8,call\nX-3,2024-01-02,A-5,,,call\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert report.ok
    assert [r[1:] for r in reasons(db)] == [
        (4, "account_id 'A-5' has no account in accounts"),
        (3, "account_id 'A-99' has no account in accounts"),
    ]
    assert query(db, "select source_file, row_number, column_name, message from warnings order by 1, 2, 3") == [
        ("accounts.csv", 2, "mentor_id", "mentor_id 'T-9' has no team member in team (kept)"),
        ("accounts.csv", 4, "parent_account_id", "parent_account_id 'A-404' has no account in accounts (kept)"),
        ("activities.csv", 3, "contact_id", "contact_id 'C-77' has no contact in contacts (kept)"),
        ("activities.csv", 3, "member_id", "member_id 'T-8' has no team member in team (kept)"),
    ]
    assert query(db, "select count(*) from activities") == [(2,)]


def test_references_into_unloaded_tables_are_not_checked(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id,name,account_manager_id\nA-1,Alpha,T-9\n")
    write(src, "relationships.csv", "member_id,contact_id,strength\nT-9,C-9,3\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert report.table_rows == {"accounts": 1, "relationships": 1}
    assert query(db, "select count(*) from warnings") == [(0,)]


# ---------------------------------------------------------------- CSV dialects and encodings


def test_german_excel_csv_cp1252(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv",
          "account_id;name;country;annual_revenue;key_account_since\r\n"
          "A-1;Müller & Söhne GmbH;Österreich;1.234.567,89;01.02.2019\r\n"
          "A-2;Café Crème € AG;Schweiz;12,5;31.12.2020\r\n",
          encoding="cp1252")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert report.files[0].rows_loaded == 2
    assert query(db, "select name, country, annual_revenue, key_account_since from accounts order by account_id") == [
        ("Müller & Söhne GmbH", "Österreich", 1234567.89, dt.date(2019, 2, 1)),
        ("Café Crème € AG", "Schweiz", 12.5, dt.date(2020, 12, 31)),
    ]


def test_german_thousands_without_decimals(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id;name;annual_revenue\nA-1;A;12.500\nA-2;B;3.000.000\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select annual_revenue from accounts order by 1") == [(12500.0,), (3000000.0,)]


def test_utf8_bom_and_header_matching(src: Path, tmp_path: Path) -> None:
    write(src, "Accounts.CSV", "\ufeff Account_ID ,NAME,Key Account Since\nA-1,Ärzte eG,2020-01-01 10:00:00\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select account_id, name, key_account_since from accounts") == [
        ("A-1", "Ärzte eG", dt.date(2020, 1, 1))]


def test_rfc4180_quoting_rows_and_raw_text(src: Path, tmp_path: Path) -> None:
    text = ('account_id,name,industry\n'
            'A-1,"Multi\nline ""quoted"", name",Retail\n'
            'A-2,Beta,Retail,extra\n'
            'A-3,Gamma,=1+2\n')
    write(src, "accounts.csv", text)
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert query(db, "select account_id, name, industry from accounts order by 1") == [
        ("A-1", 'Multi\nline "quoted", name', "Retail"), ("A-3", "Gamma", "=1+2")]
    assert query(db, "select row_number, raw_row, reason from rejects") == [
        (3, "A-2,Beta,Retail,extra",
         "the row has 4 fields but the header has 3; a delimiter inside a value must be quoted")]


def test_blank_lines_count_as_spreadsheet_rows(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id,name\nA-1,A\n\nA-2,\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert report.files[0].rows_read == 2
    assert reasons(db) == [("accounts.csv", 4, "name is blank (required)")]


def test_long_text_kept_verbatim(src: Path, tmp_path: Path) -> None:
    long = "x" * 3_000_000
    write(src, "accounts.csv", f"account_id,name,industry\nA-1,Alpha,{long}\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select length(industry) from accounts") == [(3_000_000,)]


def test_header_only_file_is_an_empty_table(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "reviews.csv", "account_id,review_date,mentor_id,rating,notes\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert report.table_rows["reviews"] == 0 and report.ok


def test_date_order_setting_for_slashed_dates(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id,name,key_account_since\nA-1,A,03/04/2020\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select key_account_since from accounts") == [(dt.date(2020, 4, 3),)]
    load([src], db, Settings({"date_order": "mdy"}))
    assert query(db, "select key_account_since from accounts") == [(dt.date(2020, 3, 4),)]



@pytest.mark.parametrize(("order", "cells", "expected"), [
    ("mdy", ["02/03/24", "02/23/26 08:55 PM", "12/31/69"], [(2024, 2, 3), (2026, 2, 23), (1969, 12, 31)]),
    ("dmy", ["03/02/24", "23.02.26 20:55", "31/12/68"], [(2024, 2, 3), (2026, 2, 23), (2068, 12, 31)]),
])
def test_two_digit_years_read_with_the_usual_pivot(src: Path, tmp_path: Path, order: str, cells: list[str],
                                                    expected: list[tuple[int, int, int]]) -> None:
    rows = "".join(f"A-{i},A,{c}\n" for i, c in enumerate(cells))
    write(src, "accounts.csv", "account_id,name,key_account_since\n" + rows)
    db = tmp_path / "kam.duckdb"
    load([src], db, Settings({"date_order": order}))
    assert query(db, "select key_account_since from accounts order by account_id") == [
        (dt.date(*e),) for e in expected]


def test_dates_out_of_range_get_a_date_fix(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id,name,key_account_since\nA-1,A,1850-01-01\nA-2,B,1860-02-03\n")
    report = load([src], tmp_path / "kam.duckdb")
    [failed] = report.failed_tables
    assert failed.failure.endswith("Fix: the dates were read with the wrong format: give the day order (date_order "
                                   'in kam.toml) or the date format (date_format = "%m/%d/%y" in a mapping file)')


# ---------------------------------------------------------------- fatal files


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("contacts.csv", b"", "contacts.csv: the file is empty (0 bytes); expected a header row"),
        ("contacts.csv", b"\x00\x01\x02binary", "contacts.csv: this is not a text file"),
        ("contacts.csv", b"contact_id,name\nC-1,X\n",
         "contacts.csv: required column account_id missing for table contacts; expected columns "
         "contact_id*, account_id*, name*"),
        ("contacts.csv", b"contact_id,account_id,name,Account_ID\nC-1,A-1,X,A-2\n",
         "contacts.csv: column account_id appears twice (columns 2 and 4)"),
        ("contacts.xlsx", b"not a zip", "contacts.xlsx: cannot be opened as an Excel workbook"),
        ("contacts.parquet", b"PAR1garbage", "contacts.parquet: cannot be read as Parquet"),
    ],
)
def test_fatal_file_others_still_load(src: Path, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    (src / name).write_bytes(content)
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert not report.ok
    [fatal] = report.fatal_files
    assert fatal.fatal.startswith(message), fatal.fatal
    assert report.table_rows == {"accounts": 2}  # the contacts table was not built at all
    assert query(db, "select count(*) from accounts") == [(2,)]


def test_no_accounts_builds_nothing_and_keeps_old_database(src: Path, tmp_path: Path) -> None:
    db = tmp_path / "kam.duckdb"
    write(src, "accounts.csv", MINI_ACCOUNTS)
    load([src], db)
    (src / "accounts.csv").write_text("id,title\n1,x\n")
    with pytest.raises(LoadError, match="required columns account_id, name missing"):
        load([src], db)
    assert query(db, "select count(*) from accounts") == [(2,)]
    (src / "accounts.csv").unlink()
    write(src, "contacts.csv", "contact_id,account_id,name\nC-1,A-1,X\n")
    with pytest.raises(LoadError, match="no accounts file was found"):
        load([src], db)
    assert query(db, "select count(*) from accounts") == [(2,)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_crash_mid_load_leaves_previous_database(src: Path, tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "kam.duckdb"
    write(src, "accounts.csv", MINI_ACCOUNTS)
    load([src], db)
    write(src, "accounts.csv", "account_id,name\nA-9,New\n")
    write(src, "contacts.csv", "contact_id,account_id,name\nC-1,A-9,X\n")

    from kam_core.ingest import loader

    def boom(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(loader, "_write_load_info", boom)
    with pytest.raises(RuntimeError):
        load([src], db)
    assert query(db, "select account_id from accounts order by 1") == [("A-1",), ("A-2",)]
    assert [p.name for p in tmp_path.iterdir() if p.name != "src"] == ["kam.duckdb"]


def test_swap_while_a_reader_has_the_old_file_open(src: Path, tmp_path: Path) -> None:
    db = tmp_path / "kam.duckdb"
    write(src, "accounts.csv", MINI_ACCOUNTS)
    load([src], db)
    reader = duckdb.connect(str(db), read_only=True)
    write(src, "accounts.csv", "account_id,name\nA-9,New\n")
    load([src], db)
    assert reader.execute("select count(*) from accounts").fetchone() == (2,)  # old snapshot
    reader.close()
    assert query(db, "select account_id from accounts") == [("A-9",)]


def test_missing_source_path(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="does not exist"):
        load([tmp_path / "nope"], tmp_path / "kam.duckdb")
    assert not (tmp_path / "kam.duckdb").exists()


def test_unknown_files_and_columns_are_listed(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id,name,Custom__c\nA-1,A,x\n")
    write(src, "notes.csv", "a,b\n")
    write(src, "readme.md", "hello")
    report = load([src], tmp_path / "kam.duckdb")
    assert report.files[0].ignored_columns == ["Custom__c"]
    assert any(i.startswith("notes.csv (no table is named 'notes'") for i in report.ignored_files)
    assert any(i.startswith("readme.md (not a CSV") for i in report.ignored_files)


# ---------------------------------------------------------------- Excel, Parquet, zip


def _workbook(path: Path, sheets: dict[str, list[list]]) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)


def test_xlsx_one_sheet_per_table(src: Path, tmp_path: Path) -> None:
    _workbook(src / "crm.xlsx", {
        "Accounts": [["account_id", "name", "annual_revenue", "key_account_since"],
                     ["A-1", "Alpha", 1500.0, dt.datetime(2021, 5, 1)],
                     [None, None, None, None],
                     ["A-2", "Beta", "#N/A", None]],
        "Opportunities": [["opportunity_id", "account_id", "status", "amount", "probability"],
                          ["O-1", "A-1", "open", 10, 40]],
        "Notes": [["x"], [1]],
    })
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert query(db, "select account_id, annual_revenue, key_account_since from accounts") == [
        ("A-1", 1500.0, dt.date(2021, 5, 1))]
    assert reasons(db) == [("crm.xlsx [Accounts]", 4, "annual_revenue holds the Excel error #N/A")]
    assert query(db, "select probability from opportunities") == [(0.4,)]
    assert any("Notes" in i for i in report.ignored_files)


def test_a_workbook_is_opened_once_per_load(src: Path, tmp_path: Path, monkeypatch) -> None:
    """Opening a workbook reads every distinct text of the file (seconds for a large export): the
    load opens it once for the export detection, its sheet names and every sheet, and closes it."""
    from kam_core.ingest import readers

    _workbook(src / "crm.xlsx", {
        "Accounts": [["account_id", "name"], ["A-1", "Alpha"], ["A-2", "Beta"]],
        "Contacts": [["contact_id", "account_id", "name"], ["C-1", "A-1", "Ann"]],
        "Reviews": [["account_id", "review_date"], ["A-2", "2025-01-31"]],
    })
    opened, closed = [], []
    real_open = readers.open_xlsx

    def counting_open(path):
        book = real_open(path)
        opened.append(path.name)
        real_close = book.close
        book.close = lambda: (closed.append(path.name), real_close())[1]
        return book

    monkeypatch.setattr(readers, "open_xlsx", counting_open)
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert [f.rows_loaded for f in report.files] == [2, 1, 1]
    assert opened == ["crm.xlsx"] and closed == ["crm.xlsx"]
    # outside a load, each use opens and closes the file as before
    assert readers.xlsx_sheet_names(src / "crm.xlsx") == ["Accounts", "Contacts", "Reviews"]
    assert opened == closed == ["crm.xlsx", "crm.xlsx"]

def test_xlsx_one_file_per_table(src: Path, tmp_path: Path) -> None:
    _workbook(src / "accounts.xlsx", {"Sheet1": [["account_id", "name"], ["A-1", "Alpha"]]})
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select account_id from accounts") == [("A-1",)]


FORMULA_FIX = "open the file in Excel and save it, or export values"


def test_a_formula_without_a_saved_value_is_named_in_the_reason_and_the_warnings(src: Path, tmp_path: Path) -> None:
    # openpyxl writes formulas without their values, as any tool does that is not Excel
    _workbook(src / "crm.xlsx", {
        "Accounts": [["account_id", "name", "industry"], ["A-1", "Alpha", "Retail"], ["A-2", '="Be"&"ta"', None]],
        "Contacts": [["contact_id", "account_id", "name", "title", "piece"],
                     ["C-1", "A-1", "Pat", "=UPPER(\"cfo\")", '="king"'], ["C-2", "A-1", "Sam", "CEO", None],
                     ["C-3", "A-1", None, None, None]],
    })
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    # the rows load or are rejected as before; only the words are clearer
    assert [(f.rows_loaded, f.rows_rejected) for f in report.files] == [(1, 1), (2, 1)]
    assert reasons(db) == [
        ("crm.xlsx [Accounts]", 3, "name holds a formula without a saved value (sheet Accounts, row 3, column B), "
         f"so it is blank (required): {FORMULA_FIX}"),
        ("crm.xlsx [Contacts]", 4, "name is blank (required)"),  # an empty cell stays an empty cell
    ]
    assert query(db, "select source_file, row_number, column_name, value, message from warnings order by 2, 3") == [
        ("crm.xlsx [Contacts]", 2, "piece", '="king"', "piece holds a formula without a saved value (sheet "
         f"Contacts, row 2, column E), so it was read as blank and took the default pawn: {FORMULA_FIX}"),
        ("crm.xlsx [Contacts]", 2, "title", '=UPPER("cfo")', "title holds a formula without a saved value (sheet "
         f"Contacts, row 2, column D), so it was read as blank: {FORMULA_FIX}"),
    ]
    assert query(db, "select contact_id, title, piece from contacts order by 1") == [
        ("C-1", None, "pawn"), ("C-2", "CEO", "pawn")]
    accounts, contacts = report.files
    assert accounts.notes == ["1 cell of sheet Accounts (name) holds a formula without a saved value, so it was "
                              f"read as blank: {FORMULA_FIX}"]
    assert contacts.notes == ["2 cells of sheet Contacts (title, piece) hold a formula without a saved value, so "
                              f"they were read as blank: {FORMULA_FIX}"]
    assert contacts.warnings == 2


def test_a_formula_required_for_most_rows_fails_the_table_with_the_formula_fix(src: Path, tmp_path: Path) -> None:
    _workbook(src / "accounts.xlsx", {"Sheet1": [["account_id", "name"], ["A-1", "Alpha"],
                                                 *[[f"A-{i}", f'=UPPER("a{i}")'] for i in range(2, 5)]]})
    report = load([src], tmp_path / "kam.duckdb")
    [failed] = report.failed_tables
    assert failed.failure == (
        "3 of 4 rows rejected for one reason, e.g. name holds a formula without a saved value (sheet Sheet1, row 3, "
        f"column B), so it is blank (required): {FORMULA_FIX} (and others like it). Fix: open the file in Excel and "
        "save it (Excel then saves the formulas' values), or export values instead of formulas")


def _with_saved_values(path: Path, cells: dict[str, bytes]) -> None:
    """Rewrite cells of the first sheet as Excel saves them: ``{"B3": b'<c r="B3" ...>...</c>'}``."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as zin:
        items = [(info, zin.read(info.filename)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in items:
            if info.filename == "xl/worksheets/sheet1.xml":
                for ref, xml in cells.items():
                    data, n = re.subn(rb'<c r="' + ref.encode() + rb'".*?</c>', xml, data)
                    assert n == 1, ref
            zout.writestr(info, data)


def test_a_formula_with_its_saved_value_or_an_empty_text_result_is_a_plain_cell(src: Path, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    _workbook(src / "accounts.xlsx", {"Sheet1": [["account_id", "name", "industry"], ["A-1", "=X", "Retail"],
                                                 ["A-2", "=Y", "=Z"]]})
    _with_saved_values(src / "accounts.xlsx", {
        "B2": b'<c r="B2" t="str"><f>UPPER("alpha")</f><v>ALPHA</v></c>',
        "B3": b'<c r="B3" t="str"><f>IF(1,"","x")</f><v></v></c>',  # Excel's save of a formula giving ""
        "C3": b'<c r="C3" t="str"><f>IF(1,"","x")</f><v></v></c>',
    })
    calls: list[set[int]] = []
    real = loader.xlsx_formulas_without_values
    monkeypatch.setattr(loader, "xlsx_formulas_without_values",
                        lambda path, sheet, columns: (calls.append(columns), real(path, sheet, columns))[1])
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert reasons(db) == [("accounts.xlsx", 3, "name is blank (required)")]
    assert query(db, "select account_id, name from accounts") == [("A-1", "ALPHA")]
    assert report.files[0].notes == [] and report.files[0].warnings == 0
    assert calls == [{2, 3}]  # read for the columns with blank cells
    # a sheet without a blank cell in a column the table uses is not read again
    calls.clear()
    _workbook(src / "accounts.xlsx", {"Sheet1": [["account_id", "name", "notes"], ["A-1", "Alpha", None]]})
    load([src], db)
    assert calls == []


@pytest.mark.parametrize(("xml", "found"), [
    (b'<c r="B3"><f>1+2</f></c>', [(3, 2, "=1+2")]),  # no value at all
    (b'<c r="B3"><f>1+2</f><v/></c>', [(3, 2, "=1+2")]),
    (b'<c r="B3"><f t="shared" si="0"/><v></v></c>', [(3, 2, "")]),  # a shared formula's other cells
    (b'<c r="B3"><f>1+2</f><v>3</v></c>', []),
    (b'<c r="B3" t="str"><f>IF(1,"","x")</f><v></v></c>', []),
    (b'<c r="B3" t="s"><v>0</v></c>', []),
])
def test_formula_cells_without_a_saved_value_in_the_sheet_xml(tmp_path: Path, xml: bytes, found: list) -> None:
    from kam_core.ingest.readers import xlsx_formulas_without_values

    path = tmp_path / "book.xlsx"
    _workbook(path, {"Data": [["a", "b"], ["1", "x"], ["2", "y"]]})
    _with_saved_values(path, {"B3": xml})
    assert xlsx_formulas_without_values(path, "Data", {2}) == found
    assert xlsx_formulas_without_values(path, "Data", {1}) == []  # only the columns asked for


def test_parquet_and_zip(src: Path, tmp_path: Path) -> None:
    import zipfile

    con = duckdb.connect()
    con.execute(
        f"copy (select 'A-' || i as account_id, 'Name ' || i as name, i * 10.0 as annual_revenue "
        f"from range(3) t(i)) to '{src / 'accounts.parquet'}' (format parquet)")
    con.close()
    zpath = tmp_path / "export.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("export/contacts.csv", "contact_id,account_id,name\nC-1,A-1,X\nC-2,A-7,Y\n")
    db = tmp_path / "kam.duckdb"
    report = load([src / "accounts.parquet", zpath], db)
    assert report.table_rows == {"accounts": 3, "contacts": 1}
    assert reasons(db) == [("export/contacts.csv", 3, "account_id 'A-7' has no account in accounts")]


def test_counts_in_equal_loaded_plus_rejected_on_the_demo(tmp_path: Path) -> None:
    from kam_core.appdata import DEMO_DIR

    if not DEMO_DIR.is_dir():
        pytest.skip("demo export not generated yet")
    report = load([DEMO_DIR], tmp_path / "kam.duckdb")
    assert report.ok
    assert_counts_add_up(report)
    assert report.table_rows["accounts"] >= 100
    assert os.path.getsize(tmp_path / "kam.duckdb") > 0


# ---------------------------------------------------------------- found in review


def test_period_with_a_time_of_day_is_its_month(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "revenue.csv", "account_id,period,product_line,revenue\n"
          "A-1,2024-03-15 10:00:00,X,100\nA-1,2024-03-31T12:00,X,1\nA-1,2024-02,X,100\nA-1,15.04.2024 08:00,X,5\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select distinct period from revenue order by 1") == [
        (dt.date(2024, 2, 1),), (dt.date(2024, 3, 1),), (dt.date(2024, 4, 1),)]
    assert query(db, "select value from load_info where key = 'data_as_of'") == [("2024-04-01",)]


def test_unterminated_quote_rejects_one_row_and_keeps_the_rest(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", 'account_id,name,annual_revenue\nA1,"One,1\nA2,Two,2\nA3,Three,3\nA4,Four,4\n')
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert query(db, "select account_id from accounts order by 1") == [("A2",), ("A3",), ("A4",)]
    assert query(db, "select row_number, raw_row, reason from rejects") == [
        (2, 'A1,"One,1', 'a quoted value is never closed (a " without its closing ")')]


def test_raw_row_is_the_original_text(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", 'account_id;name;annual_revenue\nA1;NULL;5\n"A2";"  ";x\nA3;Ok;1;\n')
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert query(db, "select row_number, raw_row from rejects order by 1") == [
        (2, "A1;NULL;5"), (3, "A2;  ;x"), (4, "A3;Ok;1;")]
    # and a clean file read by DuckDB's own reader shows the cells as read
    clean = tmp_path / "clean"
    clean.mkdir()
    write(clean, "accounts.csv", "account_id,name,annual_revenue\nA1,NULL,5\nA2,\"a, b\",x\n")
    load([clean], db)
    assert query(db, "select row_number, raw_row from rejects order by 1") == [
        (2, "A1,NULL,5"), (3, 'A2,"a, b",x')]


def test_more_fields_than_the_header_is_rejected_even_when_blank(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", "account_id;name\nA-1;Alpha;\nA-2;Beta\n")
    db = tmp_path / "kam.duckdb"
    load([src], db)
    assert query(db, "select account_id from accounts") == [("A-2",)]
    assert query(db, "select row_number, reason from rejects") == [
        (2, "the row has 3 fields but the header has 2; a delimiter inside a value must be quoted")]


def test_line_breaks_inside_values_on_the_fast_path(src: Path, tmp_path: Path) -> None:
    rows = "".join(f'A-{i},"Name\n{i}",{i}\n' if i % 3 == 0 else f"A-{i},Name {i},{i}\n" for i in range(1, 40))
    write(src, "accounts.csv", "account_id,name,annual_revenue\n" + rows + "A-99,Bad,x\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert report.files[0].rows_read == 40
    assert query(db, "select name from accounts where account_id = 'A-3'") == [("Name\n3",)]
    # 39 records, 13 of them two lines long: the bad one is spreadsheet row 41
    assert query(db, "select row_number, reason from rejects") == [(41, "annual_revenue 'x' is not a number")]


# ---------------------------------------------------------------- rows with fewer fields than the header

SHORT_NOTE = ("2 rows have fewer fields than the header (row 3: 2 of 4 fields, row 5: 1 of 4 fields): "
              "the missing cells were read as blank")
SHORT_ROWS = "A-2,Beta\nA-3,Gamma,,\nA-4\n"  # rows 3-5: two fields, four (two empty), one
# Each case makes another reader read the file (row 2 is the first record): (its bytes, the reader)
SHORT_READERS = {
    "streamed": ("A-1,Alpha,Retail,5\n" + SHORT_ROWS, "streamed"),
    "line break in a quoted value": ('A-1,"Al\npha",Retail,5\n' + SHORT_ROWS, "serial"),
    "blank line": ("A-1,Alpha,Retail,5\n" + SHORT_ROWS + "\nA-5,Epsilon,Retail,1\n", "python"),
    "quote never closed": ('A-1,Alpha,Retail,5\n' + SHORT_ROWS + 'A-5,"Eps,Retail,1\n', "python"),
    "stray NUL": ("A-1,Al\x00pha,Retail,5\n" + SHORT_ROWS, "materialised"),
    "Windows-1252": ("A-1,Müller € GmbH,Retail,5\n" + SHORT_ROWS, "streamed"),
}


@pytest.mark.parametrize("case", list(SHORT_READERS))
def test_rows_with_fewer_fields_load_with_a_warning_on_every_reader(case: str, src: Path, tmp_path: Path,
                                                                     monkeypatch) -> None:
    from kam_core.ingest import readers

    body, reader = SHORT_READERS[case]
    text = "account_id,name,industry,annual_revenue\n" + body
    (src / "accounts.csv").write_bytes(text.encode("cp1252" if case == "Windows-1252" else "utf-8"))
    used: list[str] = []
    for name, label in (("_stage_csv_python", "python"), ("_stage_csv_duckdb", "materialised")):
        real = getattr(readers, name)
        monkeypatch.setattr(readers, name, lambda *a, _real=real, _label=label: (used.append(_label), _real(*a))[1])
    real_serial = loader.serial
    monkeypatch.setattr(loader, "serial", lambda staged: (used.append("serial"), real_serial(staged))[1])
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert_counts_add_up(report)
    assert used == ([] if reader == "streamed" else [reader])
    [f] = report.files
    assert SHORT_NOTE in f.notes
    # the rows load as before: missing cells blank; a missing required cell rejects its row
    assert query(db, "select account_id, industry, annual_revenue from accounts where account_id in ('A-2', 'A-3') "
                     "order by 1") == [("A-2", None, None), ("A-3", None, None)]
    assert (5, "name is blank (required)") in [(r, why) for _, r, why in reasons(db)]
    assert query(db, "select source_file, row_number, table_name, column_name, value, message from warnings "
                     "where message like '%fewer fields%'") == [
        ("accounts.csv", 3, "accounts", None, "2", SHORT_NOTE)]
    assert f.warnings == query(db, "select count(*) from warnings")[0][0]


def test_many_short_rows_name_the_first_five(src: Path, tmp_path: Path, capsys) -> None:
    from kam_core.cli import main

    rows = "".join(f"A-{i},Name {i}\n" if i % 2 else f"A-{i},Name {i},Retail\n" for i in range(1, 14))
    write(src, "accounts.csv", "account_id,name,industry\n" + rows)
    assert main(["load", str(src), "--db", str(tmp_path / "kam.duckdb")]) == 0
    out = capsys.readouterr().out
    assert ("accounts.csv -> accounts: 13 read, 13 loaded, 0 rejected, 1 warning" in out)
    assert ("  7 rows have fewer fields than the header (row 2: 2 of 3 fields, row 4: 2 of 3 fields, row 6: 2 of 3 "
            "fields, row 8: 2 of 3 fields, row 10: 2 of 3 fields, and 2 more): the missing cells were read as blank"
            in out.splitlines())


def test_a_row_with_every_field_some_empty_is_not_short(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", 'account_id,name,industry\nA-1,Alpha,\nA-2,Beta,""\n')
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert report.files[0].notes == [] and report.files[0].warnings == 0
    assert query(db, "select count(*) from warnings") == [(0,)]


def test_schema_doc_is_generated_from_the_schema() -> None:
    """docs/schema.md is the model as kam_core/ingest/schema.py declares it; regenerate with
    ``python -m kam_core.ingest.schema > docs/schema.md``."""
    from kam_core.ingest.schema import TABLES, schema_markdown

    from .conftest import ROOT

    doc = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    assert doc == schema_markdown(), "docs/schema.md is stale: python -m kam_core.ingest.schema > docs/schema.md"
    for table in TABLES.values():
        assert f"## {table.name}\n" in doc
        for c in table.columns:
            assert f"| `{c.name}` |" in doc
    assert "| `amount` | number | when status is won | at least 0 |" in doc


def test_stray_nuls_in_quoted_text_load_and_are_reported(src: Path, tmp_path: Path) -> None:
    # a few NULs in long text fields, as real CRM exports have them: a text file, not a binary one
    rows = [f'A-{i},Customer {i},"{"a long note " * 20}{i}"' for i in range(3, 103)]
    rows[10] = 'A-13,Customer 13,"a long\x00 note with two\x00 NULs"'
    rows[50] = 'A-53,Customer 53,"\x00"'  # only a NUL: blank
    text = "account_id,name,notes\n" + 'A-1,"Al\x00pha",x\nA-2,Beta,y\n' + "\n".join(rows) + "\n"
    (src / "accounts.csv").write_bytes(text.encode("utf-8"))
    write(src, "contacts.csv", "contact_id,account_id,name\nC-1,A-1,X\n")
    db = tmp_path / "kam.duckdb"
    report = load([src], db)
    assert report.ok and report.files[0].rows_loaded == 102
    assert query(db, "select name from accounts where account_id = 'A-1'") == [("Alpha",)]
    assert report.files[0].notes == [
        "4 stray NUL characters removed from the cells (name 1, notes 3): a warning, not a reject",
    ]
    assert report.files[0].warnings == 2
    # rows as a spreadsheet numbers them: A-1 is row 2, A-13 row 14
    assert query(db, "select source_file, row_number, table_name, column_name, value, message from warnings "
                     "order by row_number") == [
        ("accounts.csv", 2, "accounts", "name", "1", "1 NUL character removed from name in row 2; the text is "
         "kept without them"),
        ("accounts.csv", 14, "accounts", "notes", "3", "3 NUL characters removed from notes in 2 rows (the "
         "first is row 14); the text is kept without them"),
    ]
    # a file with no NUL has no such warning; the contact references the cleaned id
    assert query(db, "select account_id from contacts") == [("A-1",)]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"PK\x03\x04" + bytes(60), "it is a zip archive (an .xlsx workbook is one): name it .xlsx or .zip"),
        (b"PAR1" + bytes(60), "it is a Parquet file: name it .parquet"),
        (b"%PDF-1.4\n" + bytes(60), "it is a PDF document"),
        (b"\x89PNG\r\n\x1a\n" + bytes(60), "it is a PNG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(60), "it is an old Excel .xls workbook: save it as .xlsx or CSV"),
        (b"account_id,name\n" + bytes(range(0, 32)) * 8, "of its first bytes are control characters"),
    ],
)
def test_binary_files_are_fatal_by_evidence(src: Path, tmp_path: Path, content: bytes, why: str) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    (src / "contacts.csv").write_bytes(content)
    report = load([src], tmp_path / "kam.duckdb")
    [fatal] = report.fatal_files
    assert fatal.fatal.startswith("contacts.csv: this is not a text file (") and why in fatal.fatal


def test_utf16_without_bom_is_text(src: Path, tmp_path: Path) -> None:
    (src / "accounts.csv").write_bytes("account_id,name\nA-1,Ärger AG\n".encode("utf-16-le"))
    db = tmp_path / "kam.duckdb"
    assert load([src], db).ok
    assert query(db, "select name from accounts") == [("Ärger AG",)]


def test_an_empty_accounts_file_says_so_once_without_a_mapping_detour(src: Path, tmp_path: Path, capsys) -> None:
    from kam_core.cli import main
    from kam_core.ingest.importers.mapping import needs_mapping

    (src / "accounts.csv").write_bytes(b"")
    write(src, "team.csv", "member_id,name\nm1,Anna\n")
    assert main(["load", str(src), "--db", str(tmp_path / "kam.duckdb")]) == 1
    assert capsys.readouterr().err == (
        "error: nothing was built: accounts.csv is empty (0 bytes) and accounts is required: re-export it (a header "
        "row with at least account_id, name, and one row per account)\n")
    assert not needs_mapping(sorted(src.iterdir()))  # the Data page shows the load's message, not the mapping screen
