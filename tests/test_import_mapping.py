"""The generic TOML mapping: validation, column maps, SQL tables, Northwind end-to-end, proposals."""

from __future__ import annotations

import csv
import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from kam_core.errors import LoadError
from kam_core.ingest.importers import mapping_hint, missing_analyses
from kam_core.ingest.importers.mapping import (
    Mapping,
    MappingError,
    TableMapping,
    draft_mapping_text,
    preview_mapping,
    propose_mapping,
)
from kam_core.ingest.loader import load
from kam_core.ingest.schema import create_schema
from kam_core.settings import Settings

from .conftest import ROOT, query

NORTHWIND = ROOT / "tests" / "fixtures" / "northwind"  # the public sample, committed (SOURCE.md)
NORTHWIND_MAPPING = ROOT / "mappings" / "northwind.toml"


# ---------------------------------------------------------------- the file format


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tables = 1", "tables must be a table of [tables.<name>] sections"),
        (
            "[tables.customers]\nfile = 'x.csv'",
            "tables.customers: no table 'customers'; expected one of team, ",
        ),
        (
            "[tables.accounts]\nfile = 'x.csv'\ncolumns = {acount_id = 'Nr'}",
            "tables.accounts.columns: accounts has no column 'acount_id'; columns are account_id, name",
        ),
        (
            "[tables.accounts]\nfile = 'x.csv'\nsql = 'select 1'",
            "give either file (with columns) or sql, not both",
        ),
        (
            "[tables.accounts]\nsql = \"copy (select 1) to 'x.csv'\"",
            "only a single SELECT is allowed, got COPY",
        ),
        (
            "[tables.accounts]\nsql = 'select 1; select 2'",
            "only a single SELECT is allowed, got 2 statements",
        ),
        (
            "[tables.accounts]\nsql = \"insert into accounts values ('a')\"",
            "only a single SELECT is allowed, got INSERT",
        ),
        ("[tables.accounts]\nsql = 'selec 1'", "the SQL does not parse"),
        ("decimal = ';'", 'decimal = \';\': expected "." or ","'),
        (
            "[tables.opportunities]\nfile = 'x.csv'\n[tables.opportunities.values.status]\n'Gewonnen' = 'victory'",
            "tables.opportunities.values.status: 'victory' is not one of open, won, lost",
        ),
        ("[tables.accounts]\nfile = 'x.csv'\nkolumns = {}", "tables.accounts: unknown key 'kolumns'"),
        ("[tables.accounts\n", "not valid TOML"),
        (
            "[tables.accounts]\nfile = 'x.csv'\ncolumns = {name = 3}",
            "tables.accounts.columns.name: expected a source",
        ),
    ],
)
def test_invalid_mappings_name_the_key(text: str, message: str) -> None:
    with pytest.raises(MappingError, match=None) as info:
        Mapping.from_toml(text, source="m.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("m.toml")


def test_round_trip_keeps_everything() -> None:
    m = Mapping(
        encoding="cp1252",
        decimal=",",
        date_format="%d.%m.%Y",
        null_values=["NULL", "-"],
        files={"od": "Order Details.csv"},
        tables={
            "accounts": TableMapping(
                "accounts",
                file="Kunden *.csv",
                columns={"account_id": "Kd.-Nr.", "name": ["Name 1", "Name 2"]},
                values={"phase": {'Ü "quoted"': "review", "weg": ""}},
                defaults={"country": "DE"},
            ),
            "revenue": TableMapping(
                "revenue", sql="select 1 as account_id\n-- it's a comment\n", decimal="."
            ),
            "contacts": TableMapping("contacts", columns={"piece": "Figur__c"}),
        },
    )
    text = m.to_toml()
    assert Mapping.from_toml(text) == m
    assert m.tables["contacts"].is_override and not m.tables["accounts"].is_override


# ---------------------------------------------------------------- column maps and SQL tables


def test_column_map_german_cp1252_with_values_defaults_and_dates(src: Path, tmp_path: Path) -> None:
    (src / "Kunden.csv").write_bytes(
        "Kd-Nr;Firma;Zusatz;Umsatz €;Phase;Seit\n"
        "K1;Müller;GmbH;1.234,50;Vorverkauf;15.03.2021\n"
        "K2;Groß;;;Wachstum;\n"
        "K3;Bäcker;AG;12,5;Unbekannt;31.02.2021\n".encode("cp1252")
    )
    (src / "Chancen.csv").write_text(
        "Nr,Kunde,Ergebnis,Wert\nC1,K1,Gewonnen,100\nC2,K2,offen,50\nC3,K9,Verloren,10\n", encoding="utf-8"
    )
    mfile = tmp_path / "m.toml"
    mfile.write_text(
        """
date_format = "%d.%m.%Y"

[tables.accounts]
file = "kunden.csv"
decimal = ","
[tables.accounts.columns]
account_id = "Kd-Nr"
name = ["Firma", "Zusatz"]
annual_revenue = "Umsatz €"
phase = "Phase"
key_account_since = "Seit"
[tables.accounts.values.phase]
"Unbekannt" = ""
[tables.accounts.defaults]
country = "DE"

[tables.opportunities]
file = "Chancen.csv"
[tables.opportunities.columns]
opportunity_id = "Nr"
account_id = "Kunde"
status = "Ergebnis"
amount = "Wert"
[tables.opportunities.values.status]
"Gewonnen" = "won"
"Verloren" = "lost"
""",
        encoding="utf-8",
    )
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    # 1.234,50 with a decimal comma = 1234.5; 'Unbekannt' maps to blank; 15.03.2021 by the date format
    assert query(
        db,
        "select account_id, name, country, annual_revenue, phase, key_account_since from accounts order by 1",
    ) == [
        ("K1", "Müller GmbH", "DE", 1234.5, "pre_sales", dt.date(2021, 3, 15)),
        ("K2", "Groß", "DE", None, "growth", None),
    ]
    assert query(db, "select opportunity_id, status from opportunities order by 1") == [
        ("C1", "won"),
        ("C2", "open"),
    ]
    assert query(db, "select source_file, row_number, raw_row, reason from rejects order by 1, 2") == [
        ("Chancen.csv", 4, "C3,K9,Verloren,10", "account_id 'K9' has no account in accounts"),
        (
            "Kunden.csv",
            4,
            "K3;Bäcker;AG;12,5;Unbekannt;31.02.2021",
            "key_account_since '31.02.2021' is not a date (YYYY-MM-DD or DD.MM.YYYY)",
        ),
    ]
    assert all(f.rows_read == f.rows_loaded + f.rows_rejected for f in report.files)


def test_sql_table_is_sandboxed_and_bad_references_are_fatal(src: Path, tmp_path: Path) -> None:
    (src / "kunden.csv").write_text("nr,firma\nK1,Alpha\n", encoding="utf-8")
    (src / "extra.csv").write_text("a\n1\n", encoding="utf-8")
    mfile = tmp_path / "m.toml"
    mfile.write_text(
        f"""
[files]
k = "KUNDEN.csv"

[tables.accounts]
sql = "select nr as account_id, firma as name from k"

[tables.contacts]
sql = "select * from read_csv('{src / "kunden.csv"}')"

[tables.team]
file = "mitarbeiter.csv"

[tables.revenue]
sql = "select nr as account_id from kunden where nonsense_column > 1"
""",
        encoding="utf-8",
    )
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    fatal = {f.table: f.fatal for f in report.files if f.fatal}
    assert "file system operations are disabled" in fatal["contacts"]
    assert fatal["team"].startswith(
        "mitarbeiter.csv: named by the mapping (tables.team.file) but not in the "
        "source; files found: extra.csv, kunden.csv"
    )
    assert "the mapping's SQL failed (Binder Error" in fatal["revenue"]
    assert query(db, "select account_id, name from accounts") == [("K1", "Alpha")]
    assert "extra.csv (not used by the mapping)" in report.ignored_files


def test_unknown_source_column_is_fatal_with_the_columns(src: Path, tmp_path: Path) -> None:
    (src / "kunden.csv").write_text("nr,firma\nK1,Alpha\n", encoding="utf-8")
    mfile = tmp_path / "m.toml"
    mfile.write_text('[tables.accounts]\nfile = "kunden.csv"\ncolumns = {account_id = "nr", name = "Firm"}\n')
    with pytest.raises(LoadError) as info:
        load([src], tmp_path / "kam.duckdb", mapping=mfile)
    assert (
        "kunden.csv: the mapping's tables.accounts.columns.name = 'Firm' names no column of this file; "
        "its columns are nr, firma"
    ) in str(info.value)


def test_unrecognised_source_points_to_mapping_with_a_draft(src: Path, tmp_path: Path) -> None:
    (src / "kunden.csv").write_text("Kundennummer,Firmenname,Land\nK1,Alpha,DE\n", encoding="utf-8")
    (src / "umsatz.csv").write_text(
        "Kundennummer,Monat,Sparte,Umsatz\nK1,2024-01,Software,10\n", encoding="utf-8"
    )
    with pytest.raises(LoadError) as info:
        load([src], tmp_path / "kam.duckdb")
    text = str(info.value)
    assert "no accounts file was found" in text
    assert "load with --mapping FILE" in text
    draft = text[text.index("# Draft mapping") :]
    parsed = Mapping.from_toml(draft)
    assert parsed.tables["accounts"].columns == {
        "account_id": "Kundennummer",
        "name": "Firmenname",
        "country": "Land",
    }
    assert parsed.tables["revenue"].columns == {
        "account_id": "Kundennummer",
        "period": "Monat",
        "product_line": "Sparte",
        "revenue": "Umsatz",
    }
    # canonical sources get no hint
    assert mapping_hint([src / "accounts.csv"]) is None


# ---------------------------------------------------------------- Northwind end-to-end


def northwind_net_total() -> Decimal:
    """Σ unitPrice × quantity × (1 − discount) over order_details.csv, exactly."""
    with (NORTHWIND / "order_details.csv").open(encoding="utf-8") as fh:
        return sum(
            (
                Decimal(r["unitPrice"]) * int(r["quantity"]) * (1 - Decimal(r["discount"]))
                for r in csv.DictReader(fh)
            ),
            Decimal(0),
        )


def test_northwind_loads_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "kam.duckdb"
    report = load([NORTHWIND], db, mapping=NORTHWIND_MAPPING)
    assert report.ok
    assert all(f.rows_rejected == 0 for f in report.files), report.lines()
    with (NORTHWIND / "customers.csv").open(encoding="utf-8") as fh:
        customers = sum(1 for _ in csv.DictReader(fh))
    assert customers == 91
    assert (
        query(db, "select count(*), count(account_manager_id), count(mentor_id) from accounts")[0][0]
        == customers
    )
    [(total, months)] = query(db, "select sum(revenue), count(distinct period) from revenue")
    assert total == pytest.approx(float(northwind_net_total()), abs=1e-6)
    assert float(northwind_net_total()) == pytest.approx(1265793.0395)  # SOURCE.md: 1,265,793.04
    assert months == 23  # 1996-07 .. 1998-05
    # ALFKI's 6 orders: employees 1 and 4 took 2 each, 6 and 3 one -> the tie goes to the lower id 1
    # (Davolio); the mentor is her manager 2 (Fuller)
    assert query(db, "select account_manager_id, mentor_id from accounts where account_id = 'ALFKI'") == [
        ("1", "2")
    ]
    assert query(db, "select name, role from team where member_id = '2'") == [
        ("Andrew Fuller", "Vice President Sales")
    ]
    assert query(db, "select count(*), min(date), max(date) from activities") == [
        (830, dt.date(1996, 7, 4), dt.date(1998, 5, 6))
    ]
    assert query(db, "select level, count(*) from contacts group by 1 order by 1") == [
        ("executive", 18),
        ("manager", 33),
        ("operational", 40),
    ]


def test_propose_preview_and_draft_on_northwind() -> None:
    files = sorted(NORTHWIND.glob("*.csv"))
    proposal = propose_mapping(files)
    accounts = proposal.tables["accounts"]
    assert accounts.file == "customers.csv"
    assert accounts.columns["account_id"] == "customerID" and accounts.confidence["account_id"] == 0.9
    assert accounts.columns["country"] == "country" and accounts.confidence["country"] == 1.0
    assert proposal.tables["team"].columns["name"] == ["firstName", "lastName"]
    activities = proposal.tables["activities"]
    assert activities.file == "orders.csv" and activities.columns["date"] == "orderDate"  # a synonym
    assert "order_details.csv" in proposal.notes[0]
    assert Mapping.from_toml(draft_mapping_text(files)) == proposal

    tables, rejects, problems = preview_mapping(Mapping.from_file(NORTHWIND_MAPPING), [NORTHWIND])
    assert problems == []
    assert len(tables["accounts"]) == 91 and len(tables["revenue"]) == 1000  # preview limit
    assert set(tables) == {"team", "accounts", "contacts", "activities", "revenue"}
    assert rejects.empty


# ---------------------------------------------------------------- what is missing


def test_missing_analyses() -> None:
    con = duckdb.connect()
    create_schema(con, ["accounts", "contacts", "revenue", "criteria"])
    con.execute("insert into accounts (account_id, name) values ('A', 'Alpha')")
    con.execute(
        "insert into contacts (contact_id, account_id, name, piece, attitude) values "
        "('C', 'A', 'X', 'pawn', 'champion')"
    )
    con.execute("insert into revenue values ('A', date '2024-01-01', 'S', 10, null)")
    con.execute("insert into criteria values ('K', 'Size', 'attractiveness', 1, 'manual')")
    got = missing_analyses(con)
    assert (
        "relationship coverage needs contacts' chess pieces: add contacts.csv with contact_id, piece" in got
    )
    assert not any("attitudes" in g for g in got)  # one champion is enough
    assert "margin needs gross margins: add a gross_margin column to revenue" in got
    assert "manual criteria need scores: add criterion_scores.csv with account_id, criterion_id, score" in got
    assert any(g.startswith("relationships.csv would fill relationship coverage") for g in got)
    assert not any(g.startswith("revenue.csv would fill") for g in got)
    con.execute("update contacts set piece = 'king'")
    assert not any("chess pieces" in g for g in missing_analyses(con))


# ---------------------------------------------------------------- SQL tables: rows read, rows lost, limits


def test_rows_an_inner_join_drops_are_shown_with_examples(src: Path, tmp_path: Path) -> None:
    (src / "kunden.csv").write_text("nr,firma\nK1,Alpha\nK2,Beta\n", encoding="utf-8")
    # 6 order lines; lines 3 and 6 (spreadsheet rows 4 and 7) name a product the catalogue lacks
    (src / "lines.csv").write_text(
        "kunde,monat,produkt,betrag\nK1,2024-01,P1,10\nK1,2024-01,P2,5\nK2,2024-02,P9,7\n"
        "K2,2024-02,P1,3\nK1,2024-03,P2,1\nK2,2024-03,P8,2\n", encoding="utf-8")
    (src / "produkte.csv").write_text("produkt,linie\nP1,Software\nP2,Service\n", encoding="utf-8")
    mfile = tmp_path / "m.toml"
    mfile.write_text('''
[tables.accounts]
file = "kunden.csv"
columns = {account_id = "nr", name = "firma"}

[tables.revenue]
sql = """
select l.kunde as account_id, l.monat as period, p.linie as product_line, sum(cast(l.betrag as double)) as revenue
from lines as l
join produkte as p on p.produkt = l.produkt
group by all
"""
''', encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    revenue = next(f for f in report.files if f.table == "revenue")
    assert revenue.inputs == [("lines.csv", 6), ("produkte.csv", 2)]
    assert revenue.line().startswith(
        "mapping tables.revenue (SQL) -> revenue: read lines.csv 6 + produkte.csv 2 rows; 4 loaded, 0 rejected, "
        "2 warnings")
    assert revenue.notes[0] == "4 rows produced by the SQL in " + revenue.notes[0].split(" in ")[1]
    assert revenue.notes[1] == (
        "join: 2 of 6 rows of lines.csv found no partner in produkte.csv and are not in the result (e.g. row 4: "
        "K2,2024-02,P9,7; row 7: K2,2024-03,P8,2); listed as warnings. Use a left join to keep them "
        "(docs/importing.md)")
    assert query(db, "select source_file, row_number, table_name, message from warnings order by 2") == [
        ("lines.csv", 4, "revenue", "no partner in produkte.csv (the join of mapping tables.revenue): this row "
         "is not in the SQL's result"),
        ("lines.csv", 7, "revenue", "no partner in produkte.csv (the join of mapping tables.revenue): this row "
         "is not in the SQL's result"),
    ]
    # 10 + 5 + 3 + 1 loaded; the 9 lost is visible above, not silently gone
    assert query(db, "select sum(revenue) from revenue") == [(19.0,)]


def test_a_sql_error_names_the_tables_that_exist(src: Path, tmp_path: Path) -> None:
    (src / "Kunden Liste.csv").write_text("nr,firma\nK1,Alpha\n", encoding="utf-8")
    (src / "2024 Umsatz.csv").write_text("nr,betrag\nK1,1\n", encoding="utf-8")
    mfile = tmp_path / "m.toml"
    mfile.write_text('[tables.accounts]\nsql = "select nr as account_id, firma as name from kunden"\n')
    with pytest.raises(LoadError) as info:
        load([src], tmp_path / "kam.duckdb", mapping=mfile)
    assert ("The source's files are the tables kunden_liste, t_2024_umsatz (a file's name without its extension, "
            "lower-case, every other character as _: Order Details.csv -> order_details)") in str(info.value)
    assert "Table with name kunden does not exist" in str(info.value)


def test_a_cross_join_in_a_mapping_is_stopped_by_its_limits(src: Path, tmp_path: Path) -> None:
    """The attack: a join without a condition over two 3,000-row files (9 M rows, 6 text columns)."""
    rows = "".join(f"K{i},Name {i} {'x' * 40}\n" for i in range(3000))
    (src / "a.csv").write_text("nr,firma\n" + rows, encoding="utf-8")
    (src / "b.csv").write_text("nr,firma\n" + rows, encoding="utf-8")
    mfile = tmp_path / "m.toml"
    mfile.write_text('[tables.accounts]\nsql = "select a.nr || b.nr as account_id, a.firma || b.firma as name, '
                     'a.firma as industry, b.firma as region from a, b"\n')
    for limits, setting in (({"mapping_sql_memory_mb": 128, "mapping_sql_time_limit_s": 60}, "mapping_sql_memory_mb"),
                            ({"mapping_sql_memory_mb": 8000, "mapping_sql_time_limit_s": 1}, "mapping_sql_time_limit_s")):
        started = time.perf_counter()
        with pytest.raises(LoadError) as info:
            load([src], tmp_path / "kam.duckdb", Settings.from_dict(limits), mapping=mfile)
        seconds = time.perf_counter() - started
        assert "mapping tables.accounts (SQL): the SQL was stopped" in str(info.value)
        assert f"(the setting {setting})" in str(info.value)
        assert seconds < 30, seconds
    assert not (tmp_path / "kam.duckdb").exists()


# ---------------------------------------------------------------- drafts and proposals (real shapes)

FIXTURES = ROOT / "tests" / "fixtures"


def test_the_draft_always_has_accounts_and_loads_order_lines_as_it_is(tmp_path: Path, capsys) -> None:
    from kam_core.cli import main

    assert main(["load", str(FIXTURES / "orderlines"), "--db", str(tmp_path / "x.duckdb")]) == 1
    err = capsys.readouterr().err
    assert err.count("# Draft mapping generated") == 1  # printed once
    draft = err[err.index("# Draft mapping") :]
    parsed = Mapping.from_toml(draft)
    # no customer file: accounts are derived from the order lines, one per customer
    accounts = parsed.tables["accounts"]
    assert (accounts.file, accounts.group_by, accounts.columns["account_id"], accounts.columns["name"]) == (
        "orders.csv", ["account_id"], "Customer ID", "Customer Name")
    # the lines carry days: revenue is summed per account, month and category; US dates get their format
    revenue = parsed.tables["revenue"]
    assert revenue.group_by == ["account_id", "period", "product_line"]
    assert revenue.aggregate == {"revenue": "sum", "gross_margin": "sum"}
    assert revenue.date_format == "%m/%d/%Y"
    mfile = tmp_path / "draft.toml"
    mfile.write_text(draft, encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    report = load([FIXTURES / "orderlines"], db, mapping=mfile)
    assert report.ok and query(db, "select count(*) from accounts") == [(4,)]


def test_a_head_count_is_never_proposed_as_an_id() -> None:
    files = sorted((FIXTURES / "pipeline").glob("*.csv"))
    proposal = propose_mapping(files)
    for tm in proposal.tables.values():
        for col, source in tm.columns.items():
            assert source != "employees", (tm.table, col)
    assert proposal.tables["team"].file == "sales_teams.csv"
    assert proposal.tables["team"].columns["member_id"] == "sales_agent"
    assert proposal.tables["accounts"].columns == {"account_id": "account", "name": "account", "industry": "sector",
                                                   "annual_revenue": "revenue"}


def test_a_mapping_without_accounts_says_which_table_to_add(tmp_path: Path) -> None:
    mfile = tmp_path / "m.toml"
    mfile.write_text('[tables.revenue]\nfile = "orders.csv"\ncolumns = { account_id = "Customer ID", period = '
                     '"Order Date", product_line = "Category", revenue = "Sales" }\n', encoding="utf-8")
    with pytest.raises(LoadError) as info:
        load([FIXTURES / "orderlines"], tmp_path / "kam.duckdb", mapping=mfile)
    text = str(info.value)
    assert text.startswith("nothing was built: the mapping m.toml has no [tables.accounts], and every load needs "
                           "the accounts: add [tables.accounts] with file = ")
    assert '[tables.accounts]\nfile = "orders.csv"\ngroup_by = ["account_id"]' in text


def test_the_time_limit_holds_inside_one_huge_value(src: Path, tmp_path: Path) -> None:
    """DuckDB checks an interrupt between chunks, not inside one function call: the worker is killed."""
    (src / "a.csv").write_text("nr,firma\nK1,Alpha\n", encoding="utf-8")
    mfile = tmp_path / "m.toml"
    # one regexp_replace over 200 M characters: ~9 s here, 0.4 GB
    mfile.write_text('[tables.accounts]\nsql = "select length(regexp_replace(repeat(firma, 40000000), \'a\', \'b\', '
                     '\'g\'))::varchar as account_id, nr as name from a"\n')
    started = time.perf_counter()
    with pytest.raises(LoadError, match=r"the SQL was stopped after 1 s \(the setting mapping_sql_time_limit_s\)"):
        load([src], tmp_path / "kam.duckdb",
             Settings.from_dict({"mapping_sql_time_limit_s": 1, "mapping_sql_memory_mb": 8000}), mapping=mfile)
    assert time.perf_counter() - started < 20


PIPELINE_EXPORT = """Account Name,Opportunity Name,Stage,Deal Value,Close Date,Opportunity Owner,Probability (%)
Acme Corp,Acme - Renewal 2026,Closed Won,"12,500.00",1/15/2026,Jane Doe,100
Acme Corp,Acme - Upsell,Proposal,"8,000.00",3/31/2026,Jane Doe,50
Globex,Globex - New Logo,Negotiation,,4/30/2026,John Roe,70
Initech,Initech - Pilot,Closed Lost,"3,200.00",2/28/2026,John Roe,0
acme corp ,Acme - Services,Qualification,"1,000.00",6/30/2026,Jane Doe,20
"""


def test_a_deal_pipeline_export_gets_accounts_by_name_and_its_deals(tmp_path: Path) -> None:
    src = tmp_path / "pipeline_export.csv"
    src.write_text(PIPELINE_EXPORT, encoding="utf-8")
    draft = draft_mapping_text([src])
    parsed = Mapping.from_toml(draft)
    accounts, opps = parsed.tables["accounts"], parsed.tables["opportunities"]
    assert (accounts.columns, accounts.group_by, accounts.normalise) == (
        {"account_id": "Account Name", "name": "Account Name"}, ["account_id"], ["account_id"])
    assert "region" not in accounts.columns  # "Stage" is a stage, never a misspelt "state"
    assert (opps.columns["opportunity_id"], opps.columns["account_id"], opps.columns["status"]) == (
        "Opportunity Name", "Account Name", "Stage")
    assert "Files that fit no table" not in draft and "No file fits a table" not in draft
    mfile = tmp_path / "draft.toml"
    mfile.write_text(draft, encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    assert report.ok
    # "acme corp " is Acme Corp: one account, named as first written
    assert query(db, "select account_id, name from accounts order by 1") == [
        ("acme corp", "Acme Corp"), ("globex", "Globex"), ("initech", "Initech")]
    assert query(db, "select account_id, status, count(*), sum(amount) from opportunities group by all order by 1, 2"
                 ) == [("acme corp", "open", 2, 9000.0), ("acme corp", "won", 1, 12500.0),
                       ("globex", "open", 1, None), ("initech", "lost", 1, 3200.0)]
    # accounts and opportunities both come from the file: the deal columns are used, not ignored by
    # the accounts; only the owner is read by neither
    assert [(f.table, f.ignored_columns) for f in report.files] == [
        ("accounts", ["Opportunity Owner"]), ("opportunities", ["Opportunity Owner"])]


def test_the_preview_shows_what_the_load_would_not_load_first(tmp_path: Path) -> None:
    src = tmp_path / "pipeline_export.csv"
    src.write_text(PIPELINE_EXPORT, encoding="utf-8")
    mapping = Mapping.from_toml('[tables.accounts]\nfile = "pipeline_export.csv"\ngroup_by = ["account_id"]\n'
                                'normalise = ["account_id"]\ncolumns = { account_id = "Account Name", name = '
                                '"Account Name" }\n[tables.opportunities]\nfile = "pipeline_export.csv"\n'
                                'columns = { name = "Opportunity Name", stage = "Stage" }\n')
    tables, rejects, problems = preview_mapping(mapping, [src])
    assert list(tables) == ["accounts"] and rejects.empty
    assert problems == [
        "FATAL pipeline_export.csv -> opportunities: the mapping gives no source for the required columns "
        "opportunity_id, account_id, status of opportunities. Fix: choose the columns of pipeline_export.csv that "
        "hold them ([tables.opportunities.columns]) or give a constant ([tables.opportunities.defaults]); its "
        "columns are Account Name, Opportunity Name, Stage, Deal Value, Close Date, Opportunity Owner, "
        "Probability (%)"]


def test_reading_options_that_reach_no_file_are_named(tmp_path: Path, capsys) -> None:
    from kam_core.cli import main

    (tmp_path / "accounts.csv").write_text("account_id,name\nA1,Alpha\n", encoding="utf-8")
    mfile = tmp_path / "m.toml"
    mfile.write_text('date_format = "%m/%d/%y"\n', encoding="utf-8")
    assert main(["load", str(tmp_path / "accounts.csv"), "--db", str(tmp_path / "k.duckdb"),
                 "--mapping", str(mfile)]) == 0
    assert ("mapping: date_format not applied to accounts.csv (loaded by its name, read as usual); to read it with "
            'the mapping\'s options, add [tables.accounts] with file = "accounts.csv"') in capsys.readouterr().out


@pytest.mark.parametrize("how", ["file", "sql"])
def test_short_rows_of_a_mapped_file_are_reported_under_its_table(how: str, src: Path, tmp_path: Path) -> None:
    """A row with fewer fields than the header loads with its missing cells blank, and the load
    says so under the table the file feeds (an SQL table's file is read by the worker process)."""
    (src / "kunden.csv").write_text("nr,firma,ort\nK1,Alpha,Berlin\nK2,Beta\n", encoding="utf-8")
    mfile = tmp_path / "m.toml"
    mfile.write_text(
        '[tables.accounts]\nsql = "select nr as account_id, firma as name, ort as region from kunden"\n'
        if how == "sql" else
        '[tables.accounts]\nfile = "kunden.csv"\n[tables.accounts.columns]\naccount_id = "nr"\nname = "firma"\n'
        'region = "ort"\n')
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    [accounts] = [f for f in report.files if f.table == "accounts"]
    note = ("1 row has fewer fields than the header (row 3: 2 of 3 fields): the missing cells were read as blank")
    assert note in accounts.notes and accounts.warnings == 1
    assert query(db, "select account_id, region from accounts order by 1") == [("K1", "Berlin"), ("K2", None)]
    assert query(db, "select source_file, row_number, message from warnings") == [("kunden.csv", 3, note)]


def test_the_mapping_check_opens_a_workbook_once(tmp_path: Path, monkeypatch) -> None:
    """Which export is it, and does it have an accounts sheet: one opening of the workbook (each
    reads every distinct text of the file), not one per detection."""
    import openpyxl

    from kam_core.ingest import readers
    from kam_core.ingest.importers.mapping import needs_mapping

    book = openpyxl.Workbook()
    book.active.title = "accounts"
    book.active.append(["account_id", "name"])
    book.active.append(["A-1", "Alpha"])
    book.save(tmp_path / "export.xlsx")
    opened = []
    real_open = readers.open_xlsx
    monkeypatch.setattr(readers, "open_xlsx", lambda path: (opened.append(path.name), real_open(path))[1])
    assert needs_mapping([tmp_path / "export.xlsx"]) is False  # an accounts sheet with account_id
    assert opened == ["export.xlsx"]
