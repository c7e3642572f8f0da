"""Declarative mappings: filters, lookups on a normalised key, grouping, formulas — and three
differently shaped public-style exports that load with mappings containing no SQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kam_core.errors import LoadError
from kam_core.ingest.importers.mapping import Mapping, MappingError, TableMapping
from kam_core.ingest.importers.mapping.model import Lookup
from kam_core.ingest.loader import load

from .conftest import ROOT, query

FIXTURES = ROOT / "tests" / "fixtures"
MAPPINGS = ROOT / "mappings"


def rejects(db: Path) -> list[tuple[str, int, str, str]]:
    return query(db, "select source_file, row_number, table_name, reason from rejects order by 1, 2, 3")


@pytest.mark.parametrize("name", ["orderlines", "erp-monthly", "pipeline", "northwind"])
def test_example_mappings_need_no_sql_except_northwinds_accounts(name: str) -> None:
    mapping = Mapping.from_file(MAPPINGS / f"{name}.toml")
    with_sql = sorted(t for t, tm in mapping.tables.items() if tm.sql is not None)
    # Northwind's account manager is the employee with most of the customer's orders (an aggregate
    # of another file): the one SQL table left among the example mappings
    assert with_sql == (["accounts"] if name == "northwind" else [])
    assert Mapping.from_toml(mapping.to_toml()) == mapping


# ---------------------------------------------------------------- order lines (shop export)


def test_order_lines_give_accounts_revenue_and_activities(tmp_path: Path) -> None:
    db = tmp_path / "kam.duckdb"
    report = load([FIXTURES / "orderlines"], db, mapping=MAPPINGS / "orderlines.toml")
    assert report.ok, report.lines()
    # one account per customer; the first non-empty value of each column; the manager is the person
    # of the customer's region, found without case and spaces ('south', ' West')
    assert query(db, "select account_id, name, industry, region, account_manager_id from accounts order by 1") == [
        ("BH-11710", "Brosina Hoffman", "Home Office", " West", "Anna Andreadi"),
        ("CG-12520", "Claire Gute", "Consumer", "South", "Cassandra Brandow"),
        ("DV-13045", "Darrin Van Huff", "Corporate", "West", "Anna Andreadi"),
        ("SO-20335", "Sean O'Donnell", "Consumer", "south", "Cassandra Brandow"),
    ]
    # revenue per customer, month and category: the two label lines of order 100007 are summed,
    # the returned order 100005 is left out, the line with Sales 'n/a' is rejected
    assert query(db, "select account_id, strftime(period, '%Y-%m'), product_line, round(revenue, 4), "
                     "round(gross_margin, 4) from revenue order by 1, 2, 3") == [
        ("BH-11710", "2023-03", "Office Supplies", 15.552, 5.4432),
        ("CG-12520", "2023-01", "Furniture", 261.96, 41.9136),
        ("CG-12520", "2023-01", "Office Supplies", 14.62, 6.8714),
        ("CG-12520", "2023-02", "Furniture", 731.94, 219.582),
        ("CG-12520", "2023-03", "Office Supplies", 14.62, 6.8714),  # 7.31 + 7.31, 3.4357 + 3.4357
        ("DV-13045", "2023-01", "Office Supplies", 22.0, 9.0),
        ("DV-13045", "2023-01", "Technology", 907.152, 90.7152),
        ("SO-20335", "2023-02", "Furniture", 957.5775, -383.031),
        ("SO-20335", "2023-02", "Office Supplies", 22.368, 2.5164),
    ]
    assert rejects(db) == [
        ("orders.csv", 9, "revenue", "left out by the mapping's where_not: ret.Returned is 'Yes'"),
        ("orders.csv", 11, "revenue", "revenue 'n/a' is not a number"),
    ]
    # one activity per order, the returned one included (it was a contact with the customer)
    assert query(db, "select count(*), min(date), max(date) from activities") == [
        (7, dt.date(2023, 1, 15), dt.date(2023, 3, 9))]
    assert query(db, "select activity_id, account_id, member_id, type from activities where activity_id = "
                     "'CA-2023-100004'") == [("CA-2023-100004", "SO-20335", "Cassandra Brandow", "order")]
    revenue = next(f for f in report.files if f.table == "revenue")
    assert revenue.inputs == [("orders.csv", 12), ("returns.csv", 1)]
    assert revenue.line().startswith("orders.csv -> revenue: read orders.csv 12 + returns.csv 1 rows; 9 loaded, "
                                     "2 rejected")
    assert ("10 rows combined into 9 (one per account_id, period, product_line); revenue, gross_margin summed"
            in revenue.notes)
    # every file row is accounted for: 9 combined rows from 10 lines + 2 rejected lines = 12
    assert revenue.rows_read == revenue.rows_loaded + revenue.rows_rejected
    # a combined row's raw text names the rows it came from
    assert query(db, "select count(*) from rejects where table_name = 'revenue'") == [(2,)]


# ---------------------------------------------------------------- monthly revenue per customer x article (ERP)


def test_erp_monthly_revenue_with_an_article_lookup(tmp_path: Path) -> None:
    db = tmp_path / "kam.duckdb"
    report = load([FIXTURES / "erp_monthly"], db, mapping=MAPPINGS / "erp-monthly.toml")
    assert report.ok, report.lines()
    # Windows-1252 names, the first non-empty Kunde per Kundennr, the default country
    assert query(db, "select account_id, name, country from accounts order by 1") == [
        ("10001", "Müller Maschinenbau GmbH", "DE"),
        ("10002", "Schröder & Söhne KG", "DE"),
        ("10003", "Bäckerei Groß", "DE"),
    ]
    # decimal comma and thousands dots; 'wartung  basis' finds 'Wartung Basis'; Set A + Set B summed
    # (350,50 + 49,50); the credit note counts negative; MM.YYYY months
    assert query(db, "select account_id, strftime(period, '%Y-%m'), product_line, revenue, gross_margin "
                     "from revenue order by 1, 2, 3") == [
        ("10001", "2024-01", "Ersatzteile", 400.0, 120.0),
        ("10001", "2024-01", "Service", 1200.0, 480.0),
        ("10001", "2024-02", "Ersatzteile", -50.0, -15.0),
        ("10001", "2024-02", "Service", 1200.0, 480.0),
        ("10002", "2024-01", "Software", 2400.0, 1920.0),
        ("10003", "2024-01", "Ersatzteile", 99.9, 29.97),
        ("10003", "2024-02", "Ersatzteile", 99.9, 29.97),
    ]
    assert rejects(db) == [
        ("umsatz.csv", 8, "revenue", "left out by the mapping's where: Belegart 'Proforma' is none of 'Rechnung', "
         "'Gutschrift'"),
        ("umsatz.csv", 9, "revenue", "no row of artikel.csv matches Artikel 'Schulung Tag' (compared without case and "
         "spaces)"),
    ]
    accounts = next(f for f in report.files if f.table == "accounts")
    assert accounts.notes == ["10 rows combined into 3 (one per account_id); other columns take the first "
                              "non-empty value"]


# ---------------------------------------------------------------- a deal pipeline with agents and managers


def test_pipeline_with_agents_managers_and_hand_typed_names(tmp_path: Path) -> None:
    db = tmp_path / "kam.duckdb"
    report = load([FIXTURES / "pipeline"], db, mapping=MAPPINGS / "pipeline.toml")
    assert report.ok, report.lines()
    assert query(db, "select member_id, location from team order by 1") == [
        ("Anna Snelling", "Central"), ("Cecily Lampkin", "Central"), ("Daniell Hammack", "East"),
        ("Donn Cantrell", "East"), ("Dustin Brinkmann", "Central"), ("Rocco Neubert", "East")]
    assert query(db, "select account_id, parent_account_id, annual_revenue from accounts where account_id = "
                     "'Codehow'") == [("Codehow", "Acme Corporation", 2714.9)]
    # 'acme corporation' and 'GTXPro' are found without case and spaces; open deals keep no amount
    assert query(db, "select opportunity_id, account_id, product_line, stage, status, amount, close_date "
                     "from opportunities order by 1") == [
        ("1C1I7A6R", "Acme Corporation", "GTX", "Won", "won", 1054.0, dt.date(2024, 3, 1)),
        ("EC4QE1BX", "Acme Corporation", "MG", "Won", "won", 50.0, dt.date(2024, 3, 7)),
        ("LAWBH4JF", "Codehow", "GTX", "Lost", "lost", None, dt.date(2024, 2, 12)),
        ("MV1LWRNH", "Bioholding", "GTX", "Engaging", "open", None, None),
        ("PE84CX4O", "Dontechi", "MG", "Engaging", "open", None, None),
        ("Z063OYW0", "Codehow", "GTX", "Won", "won", 4514.0, dt.date(2024, 3, 11)),
        ("ZNBS69V1", "Betasoloin", "MG", "Lost", "lost", 0.0, dt.date(2024, 3, 4)),
    ]
    assert ("opportunities: 2 open deals and 1 lost deal have no amount (kept: counted as deals, left out of "
            "value sums)") in report.notes
    unknown = "no row of accounts.csv matches account 'Unknown Corp' (compared without case and spaces)"
    assert rejects(db) == [
        ("sales_pipeline.csv", 8, "activities", "left out by the mapping's where_not: deal_stage is 'Prospecting'"),
        ("sales_pipeline.csv", 8, "opportunities", "account_id is blank (required)"),
        ("sales_pipeline.csv", 10, "activities", unknown),
        ("sales_pipeline.csv", 10, "opportunities", unknown),
    ]
    # the agents met the customers: one activity per engaged deal
    assert query(db, "select member_id, count(*) from activities group by 1 order by 1") == [
        ("Anna Snelling", 2), ("Cecily Lampkin", 2), ("Daniell Hammack", 2), ("Donn Cantrell", 1)]
    # sales_pipeline.csv feeds opportunities and activities: what one reads is not "ignored" in the
    # other's line (every column of it is read by one or the other)
    assert {(f.source_file, f.table): f.ignored_columns for f in report.files} == {
        ("sales_teams.csv", "team"): ["manager"],
        ("accounts.csv", "accounts"): ["year_established", "employees"],
        ("sales_pipeline.csv", "activities"): [],
        ("sales_pipeline.csv", "opportunities"): [],
    }


def test_the_pipeline_load_as_the_user_reads_it(tmp_path: Path, capsys) -> None:
    from kam_core.cli import main

    assert main(["load", str(FIXTURES / "pipeline"), "--db", str(tmp_path / "kam.duckdb"),
                 "--mapping", str(MAPPINGS / "pipeline.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    ignored = [line for line in lines if "ignored:" in line]
    assert ignored == ["  columns outside the model, ignored: manager",
                       "  columns outside the model, ignored: year_established, employees"]
    unknown = "no row of accounts.csv matches account 'Unknown Corp' (compared without case and spaces)"
    assert [line for line in lines if line.startswith("  sales_pipeline.csv row")] == [
        "  sales_pipeline.csv row 8: left out by the mapping's where_not: deal_stage is 'Prospecting' (-> activities)",
        "  sales_pipeline.csv row 8: account_id is blank (required) (-> opportunities)",
        f"  sales_pipeline.csv row 10: {unknown} (-> activities)",
        f"  sales_pipeline.csv row 10: {unknown} (-> opportunities)",
    ]


def test_tables_from_two_sheets_of_one_workbook_keep_their_own_ignored_columns(tmp_path: Path) -> None:
    import openpyxl

    src = tmp_path / "src"
    src.mkdir()
    wb = openpyxl.Workbook()
    wb.active.title = "Kunden"
    for row in (["nr", "firma", "notiz"], ["K1", "Alpha", "x"]):
        wb["Kunden"].append(row)
    deals = wb.create_sheet("Deals")
    for row in (["id", "kunde", "phase", "bemerkung"], ["D1", "K1", "open", "y"]):
        deals.append(row)
    wb.save(src / "crm.xlsx")
    mfile = tmp_path / "m.toml"
    mfile.write_text('''
[tables.accounts]
file = "crm.xlsx"
sheet = "Kunden"
columns = { account_id = "nr", name = "firma" }
[tables.opportunities]
file = "crm.xlsx"
sheet = "Deals"
columns = { opportunity_id = "id", account_id = "kunde", status = "phase" }
''', encoding="utf-8")
    report = load([src], tmp_path / "kam.duckdb", mapping=mfile)
    assert report.ok, report.lines()
    # one file name, two sheets: each table's columns are its own sheet's
    assert [(f.table, f.ignored_columns) for f in report.files] == [
        ("accounts", ["notiz"]), ("opportunities", ["bemerkung"])]


def test_an_unused_column_named_like_a_mapped_one_is_only_ignored(tmp_path: Path) -> None:
    """name comes from firma; the file's own "name" column is not read: listed as ignored, never a
    second name column (it made the load stop: "column name appears twice")."""
    src = write_source(tmp_path / "src", {"kunden.csv": "nr,firma,name\nK1,Alpha,old\n"})
    mfile = tmp_path / "m.toml"
    mfile.write_text('[tables.accounts]\nfile = "kunden.csv"\ncolumns = { account_id = "nr", name = "firma" }\n',
                     encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    assert report.ok
    assert query(db, "select account_id, name from accounts") == [("K1", "Alpha")]
    assert report.files[0].ignored_columns == ["name"]


def test_a_column_read_through_a_lookup_is_not_ignored_in_its_files_line(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", {
        "kunden.csv": "nr,firma,betreuer,notiz\nK1,Alpha,Ada,x\nK2,Beta,Bob,\n",
        "besuche.csv": "datum,kunde\n2024-01-05,K1\n2024-01-09,k2\n",
    })
    mfile = tmp_path / "m.toml"
    mfile.write_text('''
[tables.accounts]
file = "kunden.csv"
columns = { account_id = "nr", name = "firma" }
[tables.activities]
file = "besuche.csv"
columns = { date = "datum", account_id = "kd.nr", member_id = "kd.betreuer" }
[tables.activities.lookups.kd]
file = "kunden.csv"
on = { kunde = "nr" }
''', encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    assert query(db, "select account_id, member_id from activities order by 1") == [("K1", "Ada"), ("K2", "Bob")]
    # the visits read betreuer through the lookup: only notiz is read by nothing
    assert {f.source_file: f.ignored_columns for f in report.files} == {"kunden.csv": ["notiz"], "besuche.csv": []}
    assert query(db, "select source_file, ignored_columns from load_files order by 1") == [
        ("besuche.csv", None), ("kunden.csv", "notiz")]


# ---------------------------------------------------------------- the keys, one by one


def write_source(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_formula_rejects_a_row_whose_operand_is_not_a_number(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", {
        "kunden.csv": "nr,firma\nK1,Alpha\n",
        "lines.csv": "kunde,monat,linie,preis,menge,rabatt\nK1,2024-01,S,10,3,0.5\nK1,2024-01,S,2.5,x,0\n"
                     "K1,2024-02,S,4,2,\n",
    })
    mfile = tmp_path / "m.toml"
    mfile.write_text('''
[tables.accounts]
file = "kunden.csv"
columns = { account_id = "nr", name = "firma" }
[tables.revenue]
file = "lines.csv"
columns = { account_id = "kunde", period = "monat", product_line = "linie" }
formulas = { revenue = "preis * menge * (1 - rabatt)", gross_margin = '-"preis" / 2' }
''', encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    load([src], db, mapping=mfile)
    # 10 x 3 x 0.5 = 15; a blank discount leaves the product blank: revenue is required
    assert query(db, "select revenue, gross_margin from revenue") == [(15.0, -5.0)]
    assert rejects(db) == [
        ("lines.csv", 3, "revenue", "revenue = preis * menge * (1 - rabatt): menge 'x' is not a number"),
        ("lines.csv", 4, "revenue", "revenue is blank (required)"),
    ]


LOOKUP_MISSES = {
    "kunden.csv": "nr,firma\nK1,Alpha\nK2,Beta\n",
    "deals.csv": "id,kunde,phase\nD1,K1,Open\nD2,K9,Open\nD3,,Open\nD4,k 9,\nD5, ,Lost\n",
}
LOOKUP_MISSES_MAPPING = '''
[tables.accounts]
file = "kunden.csv"
columns = { account_id = "nr", name = "firma" }
[tables.opportunities]
file = "deals.csv"
columns = { opportunity_id = "id", account_id = "kd.nr", status = "phase" }
[tables.opportunities.values.status]
Open = "open"
Lost = "lost"
[tables.opportunities.lookups.kd]
file = "kunden.csv"
on = { kunde = "nr" }
'''


def test_a_lookup_miss_is_the_one_reason_for_the_column_it_leaves_blank(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", LOOKUP_MISSES)
    mfile = tmp_path / "m.toml"
    mfile.write_text(LOOKUP_MISSES_MAPPING, encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    load([src], db, mapping=mfile)
    miss = "no row of kunden.csv matches kunde 'K9' (compared without case and spaces)"
    assert rejects(db) == [
        ("deals.csv", 3, "opportunities", miss),  # not also "account_id is blank (required)"
        ("deals.csv", 4, "opportunities", "account_id is blank (required)"),  # the key itself is blank
        # the miss explains account_id only: the blank status is its own reason
        ("deals.csv", 5, "opportunities", "no row of kunden.csv matches kunde 'k 9' (compared without case and "
         "spaces); status is blank (required)"),
        ("deals.csv", 6, "opportunities", "account_id is blank (required)"),  # a blank of spaces is blank
    ]


def test_a_miss_early_in_a_chain_of_lookups_is_the_one_reason(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", {
        "kunden.csv": "nr,firma\nK1,Alpha\n",
        "artikel.csv": "artikel,gruppe\nA1,G1\nA2,G2\nA3,\n",
        "gruppen.csv": "gruppe,linie\nG1,Service\n",
        "umsatz.csv": "kunde,monat,artikel,betrag\nK1,2024-01,A1,10\nK1,2024-01,A9,20\nK1,2024-02,A2,30\n"
                      "K1,2024-02,A3,40\n",
    })
    mfile = tmp_path / "m.toml"
    mfile.write_text('''
[tables.accounts]
file = "kunden.csv"
columns = { account_id = "nr", name = "firma" }
[tables.revenue]
file = "umsatz.csv"
columns = { account_id = "kunde", period = "monat", product_line = "grp.linie", revenue = "betrag" }
[tables.revenue.lookups.art]
file = "artikel.csv"
on = { artikel = "artikel" }
[tables.revenue.lookups.grp]
file = "gruppen.csv"
on = { "art.gruppe" = "gruppe" }
''', encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    load([src], db, mapping=mfile)
    assert rejects(db) == [
        # the article is unknown: its group, and so the product line, cannot be found either
        ("umsatz.csv", 3, "revenue", "no row of artikel.csv matches artikel 'A9' (compared without case and spaces)"),
        ("umsatz.csv", 4, "revenue", "no row of gruppen.csv matches art.gruppe 'G2' (compared without case and "
         "spaces)"),
        # the article is known but names no group: nothing to look up, the column is blank
        ("umsatz.csv", 5, "revenue", "product_line is blank (required)"),
    ]
    # grouped by month and line (each row checked first): the same single reason
    mfile.write_text(mfile.read_text().replace('revenue = "betrag" }',
                                               'revenue = "betrag" }\ngroup_by = ["account_id", "period", '
                                               '"product_line"]'))
    load([src], db, mapping=mfile)
    assert [r[3] for r in rejects(db)] == [
        "no row of artikel.csv matches artikel 'A9' (compared without case and spaces)",
        "no row of gruppen.csv matches art.gruppe 'G2' (compared without case and spaces)",
        "product_line is blank (required)",
    ]


def test_most_rows_missing_their_lookup_fail_the_table_with_the_lookup_fix(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", {**LOOKUP_MISSES,
                                          "deals.csv": "id,kunde,phase\nD1,K7,Open\nD2,K8,Open\nD3,K1,Open\n"})
    mfile = tmp_path / "m.toml"
    mfile.write_text(LOOKUP_MISSES_MAPPING, encoding="utf-8")
    report = load([src], tmp_path / "kam.duckdb", mapping=mfile)
    [failed] = report.failed_tables
    assert failed.failure == (
        "2 of 3 rows rejected for one reason, e.g. no row of kunden.csv matches kunde 'K7' (compared without case "
        "and spaces) (and others like it). Fix: the lookup's key must name a row of the file it looks in: check "
        "that its on = { … } pairs the columns that hold the same key in both files (match = \"normalised\" "
        "ignores case and spaces)")


def test_a_lookup_with_repeated_keys_uses_the_first_row_and_says_so(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", {
        "kunden.csv": "nr,firma,gebiet\nK1,Alpha,Nord\nK2,Beta,süd\nK3,Gamma,West\n",
        "gebiete.csv": "gebiet,leiter\nNord,Ada\nnord ,Bob\nSüd,Cem\n",
    })
    mfile = tmp_path / "m.toml"
    mfile.write_text('''
[tables.accounts]
file = "kunden.csv"
columns = { account_id = "nr", name = "firma", region = "g.leiter" }
[tables.accounts.lookups.g]
file = "gebiete.csv"
on = { gebiet = "gebiet" }
''', encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    assert query(db, "select account_id, region from accounts order by 1") == [
        ("K1", "Ada"), ("K2", "Cem"), ("K3", None)]
    assert report.files[0].notes == [
        "lookup g (gebiete.csv): 1 keys appear in more than one row (e.g. 'nord'); the first row of each is used",
        "lookup g: 1 rows have no row in gebiete.csv with their gebiet (compared without case and spaces) (e.g. "
        "'West'); kept, with the lookup's columns blank",
    ]


def test_an_exact_lookup_and_a_missing_lookup_file(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", {"kunden.csv": "nr,firma,g\nK1,Alpha,Nord\nK2,Beta,nord\n",
                                          "g.csv": "g,l\nNord,Ada\n"})
    mfile = tmp_path / "m.toml"
    mfile.write_text('''
[tables.accounts]
file = "kunden.csv"
columns = { account_id = "nr", name = "firma", region = "x.l" }
[tables.accounts.lookups.x]
file = "g.csv"
on = "g"
match = "exact"
''', encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    load([src], db, mapping=mfile)
    assert query(db, "select account_id, region from accounts order by 1") == [("K1", "Ada"), ("K2", None)]
    mfile.write_text(mfile.read_text().replace('file = "g.csv"', 'file = "regions.csv"'))
    with pytest.raises(LoadError, match=r"regions.csv: named by the mapping \(tables.accounts.lookups.x.file\) "
                                        r"but not in the source; files found: g.csv, kunden.csv"):
        load([src], db, mapping=mfile)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tables.revenue]\nfile = 'x.csv'\naggregate = { revenue = 'sum' }",
         "tables.revenue.aggregate needs group_by"),
        ("[tables.accounts]\nfile = 'x.csv'\ngroup_by = ['account_id']\naggregate = { name = 'sum' }",
         "tables.accounts.aggregate.name = 'sum': name is not a number column"),
        ("[tables.revenue]\nfile = 'x.csv'\ngroup_by = ['account_id']\naggregate = { revenue = 'median' }",
         "expected one of first, last, sum, min, max"),
        ("[tables.revenue]\nfile = 'x.csv'\ngroup_by = ['account_id']\naggregate = { account_id = 'first' }",
         "account_id is in group_by"),
        ("[tables.revenue]\nfile = 'x.csv'\ngroup_by = ['acount_id']", "revenue has no column 'acount_id'"),
        ("[tables.revenue]\nfile = 'x.csv'\nformulas = { product_line = 'a * b' }", "product_line is not a number"),
        ("[tables.revenue]\nfile = 'x.csv'\nformulas = { revenue = 'a * (b + 1' }", "is not closed"),
        ("[tables.revenue]\nfile = 'x.csv'\nformulas = { revenue = \"a; drop table x\" }", "cannot read the formula"),
        ("[tables.revenue]\nsql = 'select 1'\nwhere = { a = 'x' }", "where works with file and columns, not with sql"),
        ("[tables.revenue]\nfile = 'x.csv'\nlookups.p = { file = 'p.csv' }", "lookups.p.on: expected"),
        ("[tables.revenue]\nfile = 'x.csv'\nlookups.p = { file = 'p.csv', on = 'a', match = 'fuzzy' }",
         "match = 'fuzzy': expected one of normalised, exact"),
        ("[tables.revenue]\nfile = 'x.csv'\nwhere = { a = [] }", "where.a: expected at least one value"),
    ],
)
def test_invalid_declarative_keys_name_the_key(text: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        Mapping.from_toml(text, source="m.toml")
    assert message in str(info.value)


def test_declarative_keys_round_trip() -> None:
    tm = TableMapping(
        "revenue", file="lines.csv", columns={"account_id": "Kd.-Nr.", "product_line": "art.Sparte"},
        formulas={"revenue": '"Unit Price" * qty'}, where={"Art": ["Rechnung", ""]}, where_not={"x": ["1"]},
        lookups={"art": Lookup("artikel.csv", {"Artikel": "Artikel"}, sheet="S", match="exact")},
        group_by=["account_id", "period", "product_line"], aggregate={"revenue": "sum"})
    m = Mapping(tables={"revenue": tm})
    assert Mapping.from_toml(m.to_toml()) == m
    assert tm.is_declarative and not TableMapping("accounts", file="a.csv").is_declarative
