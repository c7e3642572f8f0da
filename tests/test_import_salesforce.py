"""Salesforce Data Export: objects to tables, ids, sentinel, currencies, roles, side files.

The fixture is a small export written in the exact shape of a real one (every field quoted,
Windows-1252, ``0``/``1`` booleans, ``YYYY-MM-DD HH:MM:SS``, the ``000000000000000AAA``
sentinel, 18-character ids with 15-character references to them, Spanish stage names).
Expected tables are written out by hand below.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest

from kam_core.errors import LoadError
from kam_core.ingest.importers.salesforce import SF_MACROS, sf18
from kam_core.ingest.loader import load
from kam_core.settings import Settings

from .conftest import query

# 18-character ids; the 15-character forms (first 15 characters) are used as references.
# Checksums by hand: per 5-character chunk, bit i = character i is A-Z, 0-31 -> A..Z0..5.
# 'Kam01' -> K = bit 0 -> 1 -> 'B'; '0058a', '00000' -> 0 -> 'A'.
U1 = "0058a00000Kam01AAB"  # Jürgen Groß
U2 = "0058a00000Ben02AAB"  # Ana Peña
# 'XyZab' -> X bit 0 + Z bit 2 = 1 + 4 = 5 -> 'F'
A1 = "0018a00001XyZabAAF"
# 'QqRrS' -> Q bit 0 + R bit 2 + S bit 4 = 1 + 4 + 16 = 21 -> 'V'
A2 = "0018a00001QqRrSAAV"
A3 = "0018a00001Del00AAB"
A4 = "0018a00001Cop00AAB"
C1, C2, C3, C4 = (f"0038a00000Con0{i}AAB" for i in range(1, 5))
O1, O2, O3, O4 = (f"0068a00000Opp0{i}AAB" for i in range(1, 5))
SENTINEL = "000000000000000AAA"


def quoted_csv(rows: list[list[str]]) -> str:
    """Every field quoted, LF line ends, as the Data Export writes them."""
    return "".join(",".join('"' + c.replace('"', '""') + '"' for c in row) + "\n" for row in rows)


def write_export(folder: Path, encoding: str = "cp1252") -> Path:
    folder.mkdir(parents=True, exist_ok=True)

    def w(name: str, rows: list[list[str]]) -> None:
        (folder / name).write_bytes(quoted_csv(rows).encode(encoding))

    w(
        "User.csv",
        [
            [
                "Id",
                "Username",
                "FirstName",
                "LastName",
                "Title",
                "Department",
                "City",
                "IsActive",
                "UserRoleId",
                "ManagerId",
                "Region__c",
            ],
            [
                U1,
                "jg@x.de",
                "Jürgen",
                "Groß",
                "Key Account Manager",
                "Vertrieb",
                "München",
                "1",
                SENTINEL,
                "",
                "DACH",
            ],
            [U2, "ap@x.co", "Ana", "Peña", "Account Executive", "Sales", "Bogotá", "0", "", SENTINEL, ""],
        ],
    )
    w(
        "Account.csv",
        [
            [
                "Id",
                "IsDeleted",
                "MasterRecordId",
                "Name",
                "Type",
                "ParentId",
                "BillingState",
                "BillingCountry",
                "Industry",
                "AnnualRevenue",
                "OwnerId",
                "CreatedDate",
                "CurrencyIsoCode",
                "Tier__c",
            ],
            [
                A1,
                "0",
                "",
                "Nestlé España",
                "Customer",
                SENTINEL,
                "Madrid",
                "Spain",
                "Food",
                "1820000",
                U1[:15],
                "2019-05-02 10:11:12",
                "MXN",
                "A",
            ],
            [
                A2,
                "0",
                "",
                "Café € Ltd",
                "Customer",
                A1[:15],
                "",
                "Colombia",
                "",
                "",
                U2,
                "2020-01-01 00:00:00",
                "USD",
                "",
            ],
            [A3, "1", "", "Deleted Corp", "", "", "", "", "", "", U1, "2020-01-01 00:00:00", "USD", ""],
            [A4, "0", "", "Peso SA", "", "", "", "", "", "5000", U2, "2020-01-01 00:00:00", "COP", ""],
        ],
    )
    w(
        "CurrencyType.csv",
        [
            ["Id", "IsoCode", "ConversionRate", "DecimalPlaces", "IsActive", "IsCorporate"],
            ["01L1", "USD", "1", "2", "1", "1"],
            ["01L2", "MXN", "18.2", "2", "1", "0"],
            ["01L3", "EUR", "0.92", "2", "1", "0"],
        ],
    )
    w(
        "Contact.csv",
        [
            [
                "Id",
                "IsDeleted",
                "AccountId",
                "FirstName",
                "LastName",
                "Title",
                "Department",
                "MailingCity",
                "OwnerId",
                "ReportsToId",
            ],
            [C1, "0", A1, "José", "Núñez", "Director Compras", "Compras", "Madrid", U1, SENTINEL],
            [C2, "0", A2[:15], "", "Smith", "", "", "", U2, ""],
            [C3, "0", "", "Private", "Person", "", "", "", U1, ""],
            [C4, "0", A1, "Eva", "Ruiz", "", "", "", U1, ""],
        ],
    )
    w(
        "OpportunityContactRole.csv",
        [
            ["Id", "OpportunityId", "ContactId", "Role", "IsDeleted"],
            ["00K1", O1, C1, "Influencer", "0"],
            ["00K2", O2, C1[:15], "Economic Buyer", "0"],
            ["00K3", O1, C4, "Tomador de decisiones", "0"],
            ["00K4", O2, C2, "Other", "0"],
        ],
    )
    w(
        "Opportunity.csv",
        [
            [
                "Id",
                "IsDeleted",
                "AccountId",
                "Name",
                "StageName",
                "Amount",
                "Probability",
                "CloseDate",
                "IsClosed",
                "IsWon",
                "CurrencyIsoCode",
                "CreatedDate",
                "Loss_Reason__c",
            ],
            [
                O1,
                "0",
                A1[:15],
                "Kaffeemaschinen",
                "Negociación",
                "18200",
                "70",
                "2024-09-30 00:00:00",
                "0",
                "0",
                "MXN",
                "2024-01-15 08:30:00",
                "",
            ],
            [
                O2,
                "0",
                A2,
                "Servicio",
                "Cerrada ganada",
                "1000",
                "100",
                "2024-03-31 00:00:00",
                "1",
                "1",
                "USD",
                "2024-01-16 00:00:00",
                "",
            ],
            [
                O3,
                "0",
                A2,
                "Perdida",
                "Perdida",
                "500",
                "1",
                "2024-04-30 00:00:00",
                "1",
                "0",
                "EUR",
                "2024-01-17 00:00:00",
                "Precio",
            ],
            [
                O4,
                "0",
                A2,
                "COP deal",
                "Prospección",
                "1000000",
                "10",
                "2024-12-31 00:00:00",
                "0",
                "0",
                "COP",
                "2024-01-18 00:00:00",
                "",
            ],
        ],
    )
    w(
        "Task.csv",
        [
            [
                "Id",
                "WhoId",
                "WhatId",
                "Subject",
                "ActivityDate",
                "Status",
                "OwnerId",
                "Type",
                "IsDeleted",
                "AccountId",
                "IsClosed",
                "CreatedDate",
                "TaskSubtype",
            ],
            [
                "00T8a00000Tsk01AAB",
                C1,
                O1[:15],
                "Llamada",
                "2024-02-01 00:00:00",
                "Completed",
                U1,
                "Call",
                "0",
                "",
                "1",
                "2024-02-01 09:00:00",
                "Call",
            ],
            [
                "00T8a00000Tsk02AAB",
                C1[:15],
                "",
                "Mail",
                "2024-02-05 00:00:00",
                "Completed",
                U1,
                "",
                "0",
                "",
                "1",
                "2024-02-05 09:00:00",
                "Email",
            ],
            [
                "00T8a00000Tsk03AAB",
                "",
                "0XB8a0000000001AAA",
                "Note",
                "2024-02-03 00:00:00",
                "Completed",
                U1,
                "",
                "0",
                "",
                "1",
                "2024-02-03 09:00:00",
                "Task",
            ],
            [
                "00T8a00000Tsk04AAB",
                C2,
                "",
                "Follow up",
                "2099-01-01 00:00:00",
                "Open",
                U1,
                "Call",
                "0",
                A2,
                "0",
                "2024-02-03 09:00:00",
                "Task",
            ],
            [
                "00T8a00000Tsk05AAB",
                C1,
                "",
                "Gone",
                "2024-02-03 00:00:00",
                "Completed",
                U1,
                "",
                "1",
                A1,
                "1",
                "2024-02-03 09:00:00",
                "Task",
            ],
        ],
    )
    w(
        "Event.csv",
        [
            [
                "Id",
                "WhoId",
                "WhatId",
                "Subject",
                "ActivityDateTime",
                "ActivityDate",
                "AccountId",
                "OwnerId",
                "Type",
                "IsDeleted",
            ],
            [
                "00U8a00000Evt01AAB",
                C1,
                A1,
                "Reunión",
                "2024-03-10 09:00:00",
                "2024-03-10 00:00:00",
                A1,
                U1,
                "Meeting",
                "0",
            ],
            [
                "00U8a00000Evt02AAB",
                C2,
                "",
                "Visit",
                "2024-01-20 14:00:00",
                "2024-01-20 00:00:00",
                A2,
                U2,
                "",
                "0",
            ],
        ],
    )
    w("Case.csv", [["Id", "IsDeleted", "CaseNumber", "Subject"], ["5008a00000Cas01AAB", "0", "00001", "x"]])
    w("UserRole.csv", [["Id", "Name", "ParentRoleId"]])  # header only: an empty object
    (folder / "ContentVersion").mkdir(exist_ok=True)
    (folder / "ContentVersion" / "0688a00000Fil01AAB").write_bytes(b"%PDF-1.4 binary")
    # side files: canonical CSVs next to the export
    (folder / "contacts.csv").write_text(
        f"contact_id,piece,attitude\n{C1},king,champion\n0038a00000Zzz99AAB,queen,\n{C2},,skeptic\n",
        encoding="utf-8",
    )
    (folder / "accounts.csv").write_text(
        f"account_id,mentor_id,phase\n{A1},{U2},growth\n{A2},,\n", encoding="utf-8"
    )
    (folder / "criteria.csv").write_text(
        "criterion_id,name,axis,weight\nK1,Size,attractiveness,1\n", encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sf")
    export = write_export(root / "export")
    db = root / "kam.duckdb"
    report = load([export], db, Settings.from_dict({"currency": "EUR"}))
    return report, db


def rows(db: Path, sql: str) -> list[tuple]:
    return query(db, sql)


def test_detection_messages_and_ignored_objects(loaded) -> None:
    report, _ = loaded
    assert report.ok
    assert report.detected[0] == (
        "Salesforce Data Export detected: 8 objects used (User, Account, Contact, Opportunity, Task, Event, "
        "OpportunityContactRole, CurrencyType), 2 ignored"
    )
    assert (
        "contacts.csv: merged into the export's contacts by contact_id (non-blank cells update)"
        in report.detected
    )
    assert "Case.csv (Salesforce object not used by the KAM model)" in report.ignored_files
    assert "UserRole.csv (Salesforce object not used by the KAM model)" in report.ignored_files
    assert (
        "ContentVersion/ (1 files: attachments and documents, not used by the KAM model)"
        in report.ignored_files
    )


def test_every_row_counted_once_with_original_file_names(loaded) -> None:
    report, _ = loaded
    counts = {(f.source_file, f.table): (f.rows_read, f.rows_loaded, f.rows_rejected) for f in report.files}
    assert counts == {
        ("User.csv", "team"): (2, 2, 0),
        ("Account.csv", "accounts"): (4, 2, 2),
        ("accounts.csv", "accounts"): (2, 2, 0),
        ("Contact.csv", "contacts"): (4, 3, 1),
        ("contacts.csv", "contacts"): (3, 2, 1),
        ("Task.csv + Event.csv (derived)", "relationships"): (2, 2, 0),
        ("Task.csv", "activities"): (5, 3, 2),
        ("Event.csv", "activities"): (2, 2, 0),
        ("Opportunity.csv", "opportunities"): (4, 3, 1),
        ("criteria.csv", "criteria"): (1, 1, 0),
    }
    ignored = {f.source_file: f.ignored_columns for f in report.files}
    assert ignored["Account.csv"] == ["Tier__c"]  # custom fields are listed, not loaded
    assert ignored["Opportunity.csv"] == ["Loss_Reason__c"]


def test_team_from_users_cp1252(loaded) -> None:
    _, db = loaded
    assert rows(db, "select * from team order by member_id") == [
        (U2, "Ana Peña", "Account Executive", "Sales", "Bogotá", False),
        (U1, "Jürgen Groß", "Key Account Manager", "Vertrieb", "München", True),
    ]


def test_accounts_ids_sentinel_currency(loaded) -> None:
    _, db = loaded
    # A1: 1,820,000 MXN / 18.2 (MXN per USD) * 0.92 (EUR per USD) = 92,000 EUR; owner given as 15 characters
    # A2: parent given as A1's 15-character id; blank revenue stays blank
    assert rows(
        db,
        "select account_id, name, industry, region, country, parent_account_id, account_manager_id, "
        "annual_revenue from accounts order by account_id",
    ) == [
        (A2, "Café € Ltd", None, None, "Colombia", A1, U2, None),
        (A1, "Nestlé España", "Food", "Madrid", "Spain", None, U1, 92000.0),
    ]
    # accounts.csv next to the export sets A1's mentor and phase; its blank cells for A2 change nothing
    assert rows(db, "select account_id, mentor_id, phase from accounts order by 1") == [
        (A2, None, None),
        (A1, U2, "growth"),
    ]
    assert rows(
        db, "select row_number, reason from rejects where source_file = 'Account.csv' order by 1"
    ) == [
        (4, "deleted in Salesforce (IsDeleted = 1)"),
        (5, "CurrencyIsoCode 'COP' has no conversion rate in CurrencyType.csv"),
    ]
    [(raw,)] = rows(db, "select raw_row from rejects where source_file = 'Account.csv' and row_number = 5")
    assert raw.startswith(f"{A4},0,,Peso SA,")


def test_contacts_roles_and_side_file_merge(loaded) -> None:
    _, db = loaded
    # C1 has Influencer and Economic Buyer roles: the first in buying_role order wins.
    # contacts.csv sets C1 king/champion and C2's attitude; C2's blank piece keeps the default.
    assert rows(
        db,
        "select contact_id, account_id, name, title, department, location, buying_role, piece, "
        "attitude, is_active from contacts order by contact_id",
    ) == [
        (
            C1,
            A1,
            "José Núñez",
            "Director Compras",
            "Compras",
            "Madrid",
            "economic_buyer",
            "king",
            "champion",
            True,
        ),
        (C2, A2, "Smith", None, None, None, None, "pawn", "skeptic", True),
        (C4, A1, "Eva Ruiz", None, None, None, None, "pawn", "neutral", True),
    ]
    assert rows(
        db, "select source_file, row_number, reason from rejects where table_name = 'contacts' order by 1, 2"
    ) == [
        (
            "Contact.csv",
            4,
            "the contact has no AccountId (a private contact in Salesforce): it belongs to no account",
        ),
        ("contacts.csv", 3, "no contact '0038a00000Zzz99AAB' in the export"),
    ]
    assert rows(db, "select source_file, row_number, column_name, value, message from warnings") == [
        (
            "Contact.csv",
            5,
            "buying_role",
            "Tomador de decisiones",
            "OpportunityContactRole.Role 'Tomador de decisiones' names no buying role; buying_role left blank "
            "(map it in a mapping file under [tables.contacts.values.buying_role])",
        ),
    ]


def test_opportunities_status_from_flags_probability_and_currency(loaded) -> None:
    _, db = loaded
    # O1: 18,200 MXN / 18.2 * 0.92 = 920 EUR, open (IsClosed 0) despite the Spanish stage; 70 -> 0.7
    # O2: 1,000 USD * 0.92 = 920 EUR, won; O3: 500 EUR as is, lost; Probability '1' means 1 % -> 0.01
    assert rows(
        db,
        "select opportunity_id, account_id, stage, status, amount, probability, created_date, "
        "close_date from opportunities order by 1",
    ) == [
        (O1, A1, "Negociación", "open", 920.0, 0.7, dt.date(2024, 1, 15), dt.date(2024, 9, 30)),
        (O2, A2, "Cerrada ganada", "won", 920.0, 1.0, dt.date(2024, 1, 16), dt.date(2024, 3, 31)),
        (O3, A2, "Perdida", "lost", 500.0, 0.01, dt.date(2024, 1, 17), dt.date(2024, 4, 30)),
    ]
    assert rows(db, "select row_number, reason from rejects where source_file = 'Opportunity.csv'") == [
        (5, "CurrencyIsoCode 'COP' has no conversion rate in CurrencyType.csv")
    ]


def test_activities_account_from_what_or_who(loaded) -> None:
    _, db = loaded
    # T1: account via its opportunity (WhatId, 15 characters); T2: via its contact (WhoId); E1: AccountId
    assert rows(
        db,
        "select activity_id, date, account_id, contact_id, member_id, type from activities "
        "order by activity_id",
    ) == [
        ("00T8a00000Tsk01AAB", dt.date(2024, 2, 1), A1, C1, U1, "Call"),
        ("00T8a00000Tsk02AAB", dt.date(2024, 2, 5), A1, C1, U1, "Email"),
        ("00T8a00000Tsk04AAB", dt.date(2099, 1, 1), A2, C2, U1, "Call"),
        ("00U8a00000Evt01AAB", dt.date(2024, 3, 10), A1, C1, U1, "Meeting"),
        ("00U8a00000Evt02AAB", dt.date(2024, 1, 20), A2, C2, U2, "Event"),
    ]
    got = rows(db, "select row_number, reason from rejects where source_file = 'Task.csv' order by 1")
    assert got == [
        (
            4,
            "no account for this task: AccountId is blank and neither WhatId nor WhoId leads to an account",
        ),
        (6, "deleted in Salesforce (IsDeleted = 1)"),
    ]


def test_relationships_derived_from_completed_activities(loaded) -> None:
    _, db = loaded
    # U1-C1: T1, T2 (closed tasks) and E1 = 3 activities -> strength 2, last 2024-03-10.
    # U2-C2: E2 = 1 -> strength 1. T4 (open, due 2099) and the deleted T5 do not count.
    assert rows(db, "select * from relationships order by member_id") == [
        (U2, C2, 1, dt.date(2024, 1, 20)),
        (U1, C1, 2, dt.date(2024, 3, 10)),
    ]


def test_side_file_for_a_table_the_export_lacks_loads_as_usual(loaded) -> None:
    _, db = loaded
    assert rows(db, "select criterion_id, name, axis, weight, source from criteria") == [
        ("K1", "Size", "attractiveness", 1.0, "manual")
    ]


def test_reports_to_from_reports_to_id_keyed_as_contact_id(tmp_path: Path, capsys) -> None:
    """ReportsToId is the manager's Contact Id: the same 18-character key as contact_id, so a
    15-character reference finds its contact. A manager who is not loaded keeps the row (and the
    id, as the loader keeps an export's chart) with a warning naming the file, row and value."""
    from kam_core.cli import main

    export = write_export(tmp_path / "export")
    c5, c6, gone = "0038a00000Con05AAB", "0038a00000Con06AAB", "0038a00000Gone1AAB"
    header = ["Id", "IsDeleted", "AccountId", "FirstName", "LastName", "ReportsToId"]
    (export / "Contact.csv").write_bytes(quoted_csv([
        header,
        [C1, "0", A1, "José", "Núñez", SENTINEL],  # the top of the chart: the empty-lookup sentinel
        [C2, "0", A2, "", "Smith", ""],
        [C3, "0", "", "Private", "Person", C1],  # rejected: no account
        [C4, "0", A1, "Eva", "Ruiz", C1[:15]],  # the 15-character form of José's id
        [c5, "0", A1, "Ana", "Gómez", C4],
        [c6, "0", A1, "Leo", "Ríos", gone],  # a manager not in the export
        ["0038a00000Con07AAB", "0", A1, "Max", "Paz", C3],  # a manager whose row was rejected
    ]).encode("cp1252"))
    db = tmp_path / "kam.duckdb"
    assert main(["load", str(export), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert query(db, "select contact_id, reports_to from contacts order by contact_id") == [
        (C1, None), (C2, None), (C4, C1), (c5, C4), (c6, gone), ("0038a00000Con07AAB", C3)]
    assert query(db, "select row_number, column_name, value, message from warnings "
                     "where source_file = 'Contact.csv' and column_name = 'reports_to' order by 1") == [
        (7, "reports_to", gone, f"reports_to '{gone}' has no contact in contacts (kept)"),
        (8, "reports_to", C3, f"reports_to '{C3}' has no contact in contacts (kept)"),
    ]
    assert f"  Contact.csv row 7: reports_to '{gone}' has no contact in contacts (kept)" in out.splitlines()
    assert query(db, "select row_number from rejects where source_file = 'Contact.csv'") == [(4,)]
    # the workbench's org chart reads the column as loaded
    from kam_core.workbench.edits import Workbench

    chart = Workbench(db).records("contacts", A1).set_index("contact_id")["reports_to"].dropna().to_dict()
    assert chart == {C4: C1, c5: C4, c6: gone, "0038a00000Con07AAB": C3}


def test_sf18_sql_matches_python_and_known_pair() -> None:
    con = duckdb.connect()
    con.execute(SF_MACROS)
    # the pair measured on a real export: RecordType.Id vs Account.RecordTypeId
    assert con.execute("select kam_sfid('0128a000000NQFW')").fetchone()[0] == "0128a000000NQFWAA4"
    rnd = random.Random(3)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    ids = ["".join(rnd.choice(alphabet) for _ in range(15)) for _ in range(200)]
    got = con.execute("select list_transform($ids, lambda x: kam_sfid(x))", {"ids": ids}).fetchone()[0]
    assert got == [sf18(i) for i in ids]
    assert con.execute(f"select kam_sfid('{SENTINEL}'), kam_sfid(''), kam_sfid(' {A1} ')").fetchone() == (
        None,
        None,
        A1,
    )


def test_zip_utf8_other_currency_and_mapping_overrides(tmp_path: Path) -> None:
    """A zipped UTF-8 export, currency USD, no CurrencyType.csv, custom fields mapped by a mapping file."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "Account.csv").write_text(
        quoted_csv(
            [
                ["Id", "IsDeleted", "Name", "AnnualRevenue", "OwnerId", "CurrencyIsoCode", "KAM_Phase__c"],
                [A1, "0", "Nestlé", "100", "", "USD", "Vorverkauf"],
                [A2, "0", "Peso", "100", "", "MXN", ""],
            ]
        ),
        encoding="utf-8",
    )
    (export / "Contact.csv").write_text(
        quoted_csv(
            [
                ["Id", "IsDeleted", "AccountId", "FirstName", "LastName", "Chess_Piece__c", "Haltung__c"],
                [C1, "0", A1, "Zoë", "Ødegård", "Dame", "Fürsprecher"],
            ]
        ),
        encoding="utf-8",
    )
    # an Opportunity.csv without CurrencyIsoCode (a single-currency org): amounts taken as they are
    (export / "Opportunity.csv").write_text(
        quoted_csv(
            [
                [
                    "Id",
                    "IsDeleted",
                    "AccountId",
                    "Name",
                    "StageName",
                    "Amount",
                    "Probability",
                    "IsClosed",
                    "IsWon",
                ],
                [O1, "0", A1, "Deal", "Closed Won", "250.5", "100", "1", "1"],
            ]
        ),
        encoding="utf-8",
    )
    (export / "Task.csv").write_text(
        quoted_csv(
            [
                ["Id", "WhoId", "AccountId", "ActivityDate", "OwnerId", "IsClosed", "IsDeleted"],
                ["00T8a00000Tsk01AAB", C1, A1, "2024-02-01 00:00:00", U1, "1", "0"],
            ]
        ),
        encoding="utf-8",
    )
    (export / "relationships.csv").write_text(
        f"member_id,contact_id,strength\n{U1},{C1},4\n", encoding="utf-8"
    )
    archive = tmp_path / "WE_00D8a000000XYZ_1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in export.iterdir():
            zf.write(p, p.name)
    mapping = tmp_path / "sf.toml"
    mapping.write_text(
        '[tables.accounts.columns]\nphase = "KAM_Phase__c"\n'
        '[tables.contacts.columns]\npiece = "Chess_Piece__c"\nattitude = "Haltung__c"\n'
        '[tables.contacts.values.piece]\n"Dame" = "queen"\n'
        '[tables.contacts.values.attitude]\n"Fürsprecher" = "champion"\n',
        encoding="utf-8",
    )
    db = tmp_path / "kam.duckdb"
    report = load([archive], db, Settings.from_dict({"currency": "USD"}), mapping=mapping)
    assert "no CurrencyType.csv: only amounts already in USD can be loaded" in report.detected
    assert "Opportunity.csv has no CurrencyIsoCode column: amounts are taken as USD" in report.detected
    # a relationships.csv next to the export replaces the derived relationships
    assert "relationships.csv given: relationships are not derived from Task/Event" in report.detected
    assert query(db, "select member_id, contact_id, strength from relationships") == [(U1, C1, 4)]
    assert query(db, "select opportunity_id, status, amount, probability from opportunities") == [
        (O1, "won", 250.5, 1.0)
    ]
    assert query(db, "select account_id, name, phase, annual_revenue from accounts") == [
        (A1, "Nestlé", "pre_sales", 100.0)
    ]
    assert query(db, "select row_number, reason from rejects") == [
        (3, "CurrencyIsoCode 'MXN' has no conversion rate in CurrencyType.csv")
    ]
    assert query(db, "select name, piece, attitude from contacts") == [("Zoë Ødegård", "queen", "champion")]
    assert {f.source_file: f.ignored_columns for f in report.files}["Contact.csv"] == []


# ---------------------------------------------------------------- a real-shaped export: NULs, currency

SF_NUL = Path(__file__).parent / "fixtures" / "salesforce_nul"


def test_stray_nuls_are_dropped_and_reported_corporate_currency_used(tmp_path: Path) -> None:
    db = tmp_path / "kam.duckdb"
    report = load([SF_NUL], db)  # currency not set: the export's corporate currency (USD) is used
    assert report.ok and report.currency == "USD"
    assert query(db, "select value from load_info where key = 'currency'") == [("USD",)]
    assert ("amounts in USD, the corporate currency of CurrencyType.csv (the setting currency is not set "
            "in kam.toml; set it to convert the amounts to another currency)") in report.detected
    # 1,820,000 MXN / 18.2 = 100,000 USD; 45,000,000 COP / 4500 = 10,000 USD; open and lost deals kept
    assert query(db, "select name, status, amount from opportunities order by name") == [
        ("COL-COCACOLA-INST-150", "open", 10000.0),
        ("ECU-Favorita-Piloto-100", "lost", None),
        ("ECU-Favorita-Piloto-50", "won", 9225.225),
        ("MEX-Quala-250 (abr)", "won", 100000.0),
        ("Oportunidad de prueba", "open", None),
    ]
    assert query(db, "select name, annual_revenue from accounts order by name") == [
        ("Aceite La Favorita", 5000000.0), ("Coca-Cola FEMSA Colombia", None), ("Quala México", 10000000.0)]
    # every row loaded; the NULs are warnings per file and column, not rejects
    assert sum(f.rows_rejected for f in report.files) == 0
    assert query(db, "select source_file, row_number, column_name, value from warnings order by 1, 2, 3") == [
        ("Account.csv", 2, "Description", "1"),
        ("Contact.csv", 2, "Description", "1"),
        ("Event.csv", 2, "Description", "1"),
        ("Opportunity.csv", 3, "NextStep", "1"),
        ("Opportunity.csv", 5, "Loss_Reason__c", "2"),
        ("Task.csv", 2, "Description", "3"),
    ]
    [task_warning] = query(db, "select message from warnings where source_file = 'Task.csv'")
    assert task_warning == ("3 NUL characters removed from Description in 2 rows (the first is row 2); "
                            "the text is kept without them",)
    opp = next(f for f in report.files if f.source_file == "Opportunity.csv")
    assert opp.notes == ["3 stray NUL characters removed from the cells (NextStep 1, Loss_Reason__c 2): a "
                         "warning, not a reject"]
    assert query(db, "select count(*) from activities where type = 'Call'") == [(1,)]
    assert not query(db, "select name from accounts where contains(name, chr(0))")
    lines = report.lines()
    assert ("opportunities: 1 open deal and 1 lost deal have no amount (kept: counted as deals, left out of "
            "value sums)") in lines
    assert ("ignored: 6 files (Salesforce object not used by the KAM model): Asset.csv, Campaign.csv, Case.csv, "
            "… (--verbose lists them all)") in lines
    assert "ignored: Quote.csv (Salesforce object not used by the KAM model)" in report.lines(verbose=True)


def test_a_configured_currency_without_rate_stops_with_one_message(tmp_path: Path) -> None:
    db = tmp_path / "kam.duckdb"
    with pytest.raises(LoadError) as info:
        load([SF_NUL], db, Settings.from_dict({"currency": "EUR"}))  # set, even though it is the default
    assert str(info.value).startswith(
        "nothing was built: Account.csv: the setting currency = 'EUR' has no conversion rate in "
        "CurrencyType.csv, and 2 of 3 rows have an AnnualRevenue in another currency. CurrencyType.csv has "
        "rates for COP, MXN, PEN, USD; corporate currency USD: set currency in kam.toml to one of them")
    assert not db.exists()
    # a configured currency with a rate converts to it: 9225.225 USD = 167,899.095 MXN
    report = load([SF_NUL], db, Settings.from_dict({"currency": "MXN"}))
    assert report.currency == "MXN"
    assert query(db, "select amount from opportunities where name = 'ECU-Favorita-Piloto-50'") == [(167899.095,)]


def test_a_fatal_file_does_not_make_another_table_fatal(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(SF_NUL, export)
    (export / "Opportunity.csv").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)  # not text
    report = load([export], tmp_path / "kam.duckdb")
    fatal = {f.source_file: f.fatal for f in report.fatal_files}
    assert list(fatal) == ["Opportunity.csv"]
    assert fatal["Opportunity.csv"].startswith(
        "Opportunity.csv: this is not a text file (it is a PDF document); expected a CSV file")
    assert {f.source_file for f in report.files if f.table == "activities" and f.rows_loaded} == {
        "Task.csv", "Event.csv"}


def test_an_unreadable_lookup_file_is_a_note_of_the_table_that_uses_it(tmp_path: Path, monkeypatch) -> None:
    """Task and Event look up their accounts through Opportunity.csv: when it cannot be read, the
    activities still load (with a note) and only the opportunities are fatal, naming their file."""
    from kam_core.errors import FatalFileError
    from kam_core.ingest.importers import salesforce

    real = salesforce.SalesforceExport.raw

    def raw(self, con, obj):
        if obj == "Opportunity":
            raise FatalFileError("Opportunity.csv: cannot be read (a disk error)")
        return real(self, con, obj)

    monkeypatch.setattr(salesforce.SalesforceExport, "raw", raw)
    report = load([SF_NUL], tmp_path / "kam.duckdb")
    assert [(f.source_file, f.fatal) for f in report.fatal_files] == [
        ("Opportunity.csv", "Opportunity.csv: cannot be read (a disk error)")]
    task = next(f for f in report.files if f.source_file == "Task.csv")
    assert task.rows_loaded == 3
    assert "activities are not linked to accounts through their opportunity: Opportunity.csv: cannot be read " \
        "(a disk error)" in task.notes
    assert query(tmp_path / "kam.duckdb", "select count(*) from activities") == [(5,)]
