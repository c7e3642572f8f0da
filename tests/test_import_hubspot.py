"""HubSpot exports: German and English labels, CSV and XLSX, associations, owners as names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from kam_core.ingest.loader import load

from .conftest import query

COMPANIES = "hubspot-crm-exports-all-companies-2024-05-01.csv"
CONTACTS = "hubspot-crm-exports-all-contacts-2024-05-01.csv"
DEALS = "hubspot-crm-exports-all-deals-2024-05-01.xlsx"
CONTACTS2 = "hubspot-crm-exports-all-contacts-2024-05-01_2.csv"


def write_export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # German labels (a German user's export): Datensatz-ID, Firmenname, ...
    (folder / COMPANIES).write_text(
        "Datensatz-ID,Firmenname,Branche,Land/Region,Jahresumsatz,Firmeninhaber,Erstellungsdatum\n"
        "433011660017,Müller GmbH,Maschinenbau,Deutschland,1500000,Anna  Schmidt,2024-01-02 10:00\n"
        "433011660018,Beta AG,,Schweiz,,anna schmidt,2024-01-02 10:00\n"
        "433011660019,Gamma SE,,,,,2024-01-02 10:00\n",
        encoding="utf-8",
    )
    (folder / CONTACTS).write_text(
        "Datensatz-ID,Vorname,Nachname,E-Mail,Berufsbezeichnung,Kontaktinhaber,Associated Company IDs,"
        "Associated Company IDs (Primary),Buying Role\n"
        "501,Eva,Klein,eva@x.de,CEO,Ben Ruiz,433011660017;433011660018,433011660018,Decision maker;Budget holder\n"
        "502,Fritz,,f@x.de,,Ben Ruiz,433011660017;433011660019,,\n"
        "503,Gabi,Lang,,,,,,Chief Wizard\n"
        "504,Hans,Roth,,,,433011660019,,End user\n",
        encoding="utf-8",
    )
    # a large export is split into several files: the second part of the contacts
    (folder / CONTACTS2).write_text(
        "Datensatz-ID,Vorname,Nachname,Kontaktinhaber,Associated Company IDs\n"
        "505,Ida,Berg,Dora Fox,433011660017\n"
        "501,Eva,Klein,,433011660018\n",
        encoding="utf-8",
    )
    # English labels, as .xlsx; Record IDs stored as numbers in the workbook
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Deals"
    ws.append(
        [
            "Record ID",
            "Deal Name",
            "Deal Stage",
            "Amount",
            "Close Date",
            "Create Date",
            "Deal owner",
            "Associated Company IDs",
            "Deal probability",
        ]
    )
    ws.append(
        [
            601,
            "Deal A",
            "Closed Won",
            1000,
            dt.datetime(2024, 3, 1),
            dt.datetime(2024, 1, 1, 9, 30),
            "Anna Schmidt",
            "433011660017",
            1,
        ]
    )
    ws.append(
        [
            602,
            "Deal B",
            "Contract Sent",
            500.5,
            dt.datetime(2024, 6, 1),
            dt.datetime(2024, 1, 1),
            "Carl Dorn",
            433011660018,
            0.9,
        ]
    )
    ws.append(
        [603, "Deal C", "closedlost", 20, dt.datetime(2024, 2, 1), dt.datetime(2024, 1, 1), None, None, 0]
    )
    ws.append(
        [
            604,
            "Deal D",
            "closedlost",
            30,
            dt.datetime(2024, 2, 1),
            dt.datetime(2024, 1, 1),
            None,
            "433011660019",
            0,
        ]
    )
    wb.save(folder / DEALS)
    return folder


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hs")
    db = root / "kam.duckdb"
    report = load([write_export(root / "export")], db)
    return report, db


def test_detected_and_counted(loaded) -> None:
    report, _ = loaded
    assert report.detected[0] == (
        f"HubSpot export detected: companies ({COMPANIES}), contacts ({CONTACTS}), contacts ({CONTACTS2}), "
        f"deals ({DEALS})"
    )
    counts = {f.source_file: (f.table, f.rows_read, f.rows_loaded, f.rows_rejected) for f in report.files}
    owners = f"owners in {COMPANIES}, {CONTACTS}, {CONTACTS2}, {DEALS}"
    assert counts == {
        owners: ("team", 4, 4, 0),
        COMPANIES: ("accounts", 3, 3, 0),
        CONTACTS: ("contacts", 4, 3, 1),
        CONTACTS2: ("contacts", 2, 1, 1),
        DEALS: ("opportunities", 4, 3, 1),
    }
    ignored = {f.source_file: f.ignored_columns for f in report.files}
    assert ignored[COMPANIES] == ["Erstellungsdatum"]
    assert ignored[CONTACTS] == ["E-Mail"]


def test_team_from_owner_names_with_stable_ids(loaded) -> None:
    _, db = loaded
    # "Anna  Schmidt" and "anna schmidt" are one owner: id = the name trimmed, lower-cased, spaces collapsed
    assert query(db, "select member_id, name from team order by 1") == [
        ("anna schmidt", "Anna Schmidt"),
        ("ben ruiz", "Ben Ruiz"),
        ("carl dorn", "Carl Dorn"),
        ("dora fox", "Dora Fox"),
    ]


def test_companies_german_labels(loaded) -> None:
    _, db = loaded
    assert query(
        db,
        "select account_id, name, industry, country, account_manager_id, annual_revenue "
        "from accounts order by 1",
    ) == [
        ("433011660017", "Müller GmbH", "Maschinenbau", "Deutschland", "anna schmidt", 1500000.0),
        ("433011660018", "Beta AG", None, "Schweiz", "anna schmidt", None),
        ("433011660019", "Gamma SE", None, None, None, None),
    ]


def test_contacts_primary_company_else_first_and_roles(loaded) -> None:
    _, db = loaded
    # 501: primary company given; roles Decision maker + Budget holder -> economic_buyer (first in order)
    # 502: no primary, two companies -> the first, with a warning; 504: End user -> user
    assert query(db, "select contact_id, account_id, name, title, buying_role from contacts order by 1") == [
        ("501", "433011660018", "Eva Klein", "CEO", "economic_buyer"),
        ("502", "433011660017", "Fritz", None, None),
        ("504", "433011660019", "Hans Roth", None, "user"),
        ("505", "433011660017", "Ida Berg", None, None),
    ]
    assert query(db, f"select row_number, reason from rejects where source_file = '{CONTACTS2}'") == [
        (3, f"duplicate key contact_id '501': first kept ({CONTACTS} row 2)")
    ]
    assert query(db, "select row_number, column_name, value, message from warnings") == [
        (
            3,
            "account_id",
            "433011660017;433011660019",
            "associated with 2 companies and none is marked primary: the first (433011660017) is used",
        )
    ]
    [(row, why)] = query(db, f"select row_number, reason from rejects where source_file = '{CONTACTS}'")
    assert row == 4
    assert why == (
        "the contact is associated with no company (Associated Company IDs is blank); "
        "buying_role 'Chief Wizard' is not one of: economic_buyer, "
        "decision_maker, technical_buyer, user, influencer, gatekeeper, coach"
    )


def test_deals_from_xlsx(loaded) -> None:
    _, db = loaded
    assert query(
        db,
        "select opportunity_id, account_id, name, stage, status, amount, probability, created_date, "
        "close_date from opportunities order by 1",
    ) == [
        (
            "601",
            "433011660017",
            "Deal A",
            "Closed Won",
            "won",
            1000.0,
            1.0,
            dt.date(2024, 1, 1),
            dt.date(2024, 3, 1),
        ),
        (
            "602",
            "433011660018",
            "Deal B",
            "Contract Sent",
            "open",
            500.5,
            0.9,
            dt.date(2024, 1, 1),
            dt.date(2024, 6, 1),
        ),
        (
            "604",
            "433011660019",
            "Deal D",
            "closedlost",
            "lost",
            30.0,
            0.0,
            dt.date(2024, 1, 1),
            dt.date(2024, 2, 1),
        ),
    ]
    [(row, why)] = query(db, f"select row_number, reason from rejects where source_file = '{DEALS}'")
    assert (row, why) == (
        4,
        "the deal is associated with no company (Associated Company IDs is blank)",
    )
