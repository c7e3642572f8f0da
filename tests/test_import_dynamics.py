"""Dynamics 365 "Export to Excel": hidden (Do Not Modify) columns, display names, lookups by name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from kam_core.ingest.loader import load

from .conftest import query

FOURTH = "7d51925c-cde2-e411-80db-00155d2a68cb"
LITWARE = "8d51925c-cde2-e411-80db-00155d2a68cb"
LITWARE2 = "9d51925c-cde2-e411-80db-00155d2a68cb"
RENE, PAUL, SID = (f"{n}-cde2-e411-80db-00155d2a68cb" for n in ("11111111", "22222222", "33333333"))
NEW = "c0ffee00-cde2-e411-80db-00155d2a68cb"
OPP1, OPP2, OPP3 = (f"{n}-cde2-e411-80db-00155d2a68cb" for n in ("a1111111", "a2222222", "a3333333"))


def workbook(path: Path, entity: str, headers: list[str], rows: list[list]) -> None:
    """A workbook as Export to Excel writes it: three hidden columns first, a very hidden sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = f"My Active {entity}s"
    ws.append(
        [f"(Do Not Modify) {entity}", "(Do Not Modify) Row Checksum", "(Do Not Modify) Modified On", *headers]
    )
    for i, r in enumerate(rows):
        ws.append([r[0], f"checksum{i}==", dt.datetime(2024, 5, 1, 12, 0), *r[1:]])
    for col in "ABC":
        ws.column_dimensions[col].hidden = True
    meta = wb.create_sheet("hiddenSheet")
    meta.sheet_state = "veryHidden"
    meta["A1"] = f"{entity.lower()}:metadata"
    wb.save(path)


def write_export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    workbook(
        folder / "Accounts.xlsx",
        "Account",
        [
            "Account Name",
            " Parent Account (Account) (Account)",
            "Owner",
            "Industry",
            "Address 1: Country/Region",
            "Annual Revenue",
            "Main Phone",
        ],
        [
            [FOURTH, "Fourth Coffee (sample)", None, "Yvonne McKay", "Retail", "USA", 5000000, "555-0150"],
            [
                LITWARE,
                "Litware, Inc. (sample)",
                "Fourth Coffee (sample)",
                "yvonne mckay",
                None,
                "USA",
                None,
                None,
            ],
            [LITWARE2, "Litware, Inc. (sample)", "Nobody Inc", None, None, None, None, None],
        ],
    )
    workbook(
        folder / "Contacts.xlsx",
        "Contact",
        [" Full Name", "Company Name (Account) (Account)", "Job Title", "Role", "Status"],
        [
            [
                RENE,
                "Rene Valdes (sample)",
                "Fourth Coffee (sample)",
                "Purchasing Manager",
                "Decision Maker",
                "Active",
            ],
            [PAUL, "Paul Cannon", "Litware, Inc. (sample)", None, "Employee", "Inactive"],
            [SID, "Sidney Higa", "Unknown Ltd", None, "Chief", "Active"],
            [NEW[:-1] + "1", "Ada Works", "adventure works (SAMPLE)", None, "Influencer", "Inactive"],
        ],
    )
    workbook(
        folder / "Opportunities.xlsx",
        "Opportunity",
        [
            "Topic",
            "Account",
            "Est. Revenue",
            "Actual Revenue",
            "Probability",
            "Est. Close Date",
            "Actual Close Date",
            "Status",
            "Status Reason",
            "Pipeline Phase",
            "Owner",
            "Created On",
        ],
        [
            [
                OPP1,
                "10 coffee machines",
                "Fourth Coffee (sample)",
                10000,
                None,
                40,
                dt.datetime(2024, 9, 1),
                None,
                "Open",
                "In Progress",
                "2-Develop",
                "Yvonne McKay",
                dt.datetime(2024, 1, 5, 10, 0),
            ],
            [
                OPP2,
                "Won deal",
                "Fourth Coffee (sample)",
                5000,
                4500,
                100,
                dt.datetime(2024, 5, 1),
                dt.datetime(2024, 4, 20),
                "Won",
                "Won",
                "3-Close",
                "Yvonne McKay",
                dt.datetime(2024, 1, 6),
            ],
            [
                OPP3,
                "Lost deal",
                FOURTH,
                700,
                None,
                1,
                dt.datetime(2024, 5, 1),
                dt.datetime(2024, 3, 1),
                None,
                "Out-Sold",
                None,
                "Zoe Ward",
                dt.datetime(2024, 1, 7),
            ],
        ],
    )
    # a second Account export (a split export): one new account, one already in the first file
    workbook(
        folder / "Accounts_2.xlsx",
        "Account",
        ["Account Name", "Owner"],
        [[NEW, "Adventure Works (sample)", None], [FOURTH, "Fourth Coffee (sample)", None]],
    )
    workbook(
        folder / "Leads.xlsx",
        "Lead",
        ["Subject", "First Name"],
        [["b1111111-0000-0000-0000-000000000000", "Coffee", "Kim"]],
    )
    return folder


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("dyn")
    export = write_export(root / "export")
    db = root / "kam.duckdb"
    return load([export], db), db, export


def test_fixture_has_hidden_columns(loaded) -> None:
    *_, export = loaded
    ws = openpyxl.load_workbook(export / "Accounts.xlsx").worksheets[0]
    assert [ws.column_dimensions[c].hidden for c in "ABCD"] == [True, True, True, False]


def test_detected_counted_ignored(loaded) -> None:
    report, _, _ = loaded
    assert report.detected[0] == (
        "Dynamics 365 export detected: account (Accounts.xlsx), account (Accounts_2.xlsx), "
        "contact (Contacts.xlsx), opportunity (Opportunities.xlsx)"
    )
    assert "Leads.xlsx (Dynamics 365 export of lead, not used by the KAM model)" in report.ignored_files
    counts = {f.source_file: (f.table, f.rows_read, f.rows_loaded, f.rows_rejected) for f in report.files}
    assert counts == {
        "owners in Accounts.xlsx, Accounts_2.xlsx, Opportunities.xlsx": ("team", 2, 2, 0),
        "Accounts.xlsx": ("accounts", 3, 3, 0),
        "Accounts_2.xlsx": ("accounts", 2, 1, 1),
        "Contacts.xlsx": ("contacts", 4, 2, 2),
        "Opportunities.xlsx": ("opportunities", 3, 3, 0),
    }
    ignored = {f.source_file: f.ignored_columns for f in report.files}
    assert ignored["Accounts.xlsx"] == ["Main Phone"]  # the hidden checksum columns are not listed


def test_accounts_guid_ids_parent_by_name(loaded) -> None:
    _, db, _ = loaded
    assert query(
        db,
        "select account_id, name, industry, country, parent_account_id, account_manager_id, "
        "annual_revenue from accounts order by 1",
    ) == [
        (FOURTH, "Fourth Coffee (sample)", "Retail", "USA", None, "yvonne mckay", 5000000.0),
        (LITWARE, "Litware, Inc. (sample)", None, "USA", FOURTH, "yvonne mckay", None),
        (LITWARE2, "Litware, Inc. (sample)", None, None, "Nobody Inc", None, None),
        (NEW, "Adventure Works (sample)", None, None, None, None, None),
    ]
    assert query(db, "select row_number, reason from rejects where source_file = 'Accounts_2.xlsx'") == [
        (3, f"duplicate key account_id '{FOURTH}': first kept (Accounts.xlsx row 2)")
    ]
    # an optional reference by name that names no account is kept, with a warning
    assert query(db, "select row_number, message from warnings") == [
        (4, "parent_account_id 'Nobody Inc' has no account in accounts (kept)")
    ]


def test_contacts_role_status_and_company_by_name(loaded) -> None:
    _, db, _ = loaded
    # names match without case; the account of the second export is found too
    assert query(
        db, "select contact_id, account_id, name, title, buying_role, is_active from contacts order by 1"
    ) == [
        (RENE, FOURTH, "Rene Valdes (sample)", "Purchasing Manager", "decision_maker", True),
        (NEW[:-1] + "1", NEW, "Ada Works", None, "influencer", False),
    ]
    assert query(
        db, "select row_number, reason from rejects where source_file = 'Contacts.xlsx' order by 1"
    ) == [
        (
            3,
            "Company Name 'Litware, Inc. (sample)' matches 2 accounts in Accounts.xlsx, Accounts_2.xlsx: ambiguous",
        ),
        (
            4,
            "Company Name 'Unknown Ltd' names no account in Accounts.xlsx, Accounts_2.xlsx; "
            "buying_role 'Chief' is not one of: economic_buyer, decision_maker, technical_buyer, user, influencer, "
            "gatekeeper, coach",
        ),
    ]


def test_opportunities_statecode_statuscode(loaded) -> None:
    _, db, _ = loaded
    # OPP2 won: actual revenue 4,500 and actual close date; OPP3 has no Status, its Status Reason
    # Out-Sold means lost; probability 40 -> 0.4 and 1 -> 0.01 (an integer percentage)
    assert query(
        db,
        "select opportunity_id, account_id, name, stage, status, amount, probability, created_date, "
        "close_date from opportunities order by 1",
    ) == [
        (
            OPP1,
            FOURTH,
            "10 coffee machines",
            "2-Develop",
            "open",
            10000.0,
            0.4,
            dt.date(2024, 1, 5),
            dt.date(2024, 9, 1),
        ),
        (OPP2, FOURTH, "Won deal", "3-Close", "won", 4500.0, 1.0, dt.date(2024, 1, 6), dt.date(2024, 4, 20)),
        (
            OPP3,
            FOURTH,
            "Lost deal",
            "Out-Sold",
            "lost",
            700.0,
            0.01,
            dt.date(2024, 1, 7),
            dt.date(2024, 3, 1),
        ),
    ]


def test_team_from_owner_names(loaded) -> None:
    _, db, _ = loaded
    assert query(db, "select member_id, name from team order by 1") == [
        ("yvonne mckay", "Yvonne McKay"),
        ("zoe ward", "Zoe Ward"),
    ]
