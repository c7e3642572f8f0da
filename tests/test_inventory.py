"""What a database holds, as the Data page shows it (kam_core.ingest.inventory): the rejects by
kind of problem, the sample, and the download of every reject."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

from kam_core.ingest.inventory import all_rejects_csv, all_warnings_csv, database_inventory, load_summary
from kam_core.ingest.loader import load

ACCOUNTS = "account_id,name,annual_revenue\n" + "".join(f"A-{i},Account {i},{i}000\n" for i in range(1, 41))
# 40 accounts, then three kinds of problem in revenue.csv: 12 amounts that are not numbers,
# 5 references to an account that does not exist, 3 months that are not months
REVENUE = "account_id,period,product_line,revenue\n" + "".join(
    f"A-{i},2025-0{1 + i % 9},Service,{i}00\n" for i in range(1, 41)
) + "".join(f"A-{i},2025-03,Service,{i}x\n" for i in range(1, 13)) + "".join(
    f"A-9{i},2025-03,Service,100\n" for i in range(5)
) + "".join(f"A-{i},2025-13,Service,100\n" for i in range(1, 4))
# two contacts report to a contact the export does not have: kept, with a warning each
CONTACTS = "contact_id,account_id,name,reports_to\nC-1,A-1,Ann,\nC-2,A-1,Bob,C-9\nC-3,A-2,Cy,C-8\n"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    (folder / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (folder / "revenue.csv").write_text(REVENUE, encoding="utf-8")
    (folder / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    path = folder / "kam.duckdb"
    load([folder], path)
    return path


def test_rejects_are_grouped_by_kind_of_problem(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        inv = database_inventory(con)
    finally:
        con.close()
    assert inv.rejects == 20
    groups = inv.reject_groups
    assert len(groups) == 3
    assert list(groups.columns) == ["file", "table", "rows", "first_row", "reason"]
    assert groups["rows"].tolist() == [12, 5, 3]  # the largest kind first
    assert set(groups["file"]) == {"revenue.csv"}
    # each kind: its first row (a spreadsheet's row number: the header is row 1) and that row's reason
    first = groups.iloc[0]
    assert first["first_row"] == 42
    assert first["reason"] == "revenue '1x' is not a number"
    assert groups.iloc[1]["first_row"] == 54 and "A-90" in groups.iloc[1]["reason"]
    assert groups.iloc[2]["first_row"] == 59 and "'2025-13'" in groups.iloc[2]["reason"]
    assert groups["rows"].sum() == inv.rejects  # every reject is in one kind
    # the Files table: the share of each file's rows rejected
    shares = dict(zip(inv.files["file"], inv.files["rejected_share"], strict=True))
    assert shares["revenue.csv"] == pytest.approx(20 / 60) and shares["accounts.csv"] == 0


def test_the_sample_is_cut_and_the_download_has_every_reject(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        inv = database_inventory(con, sample=7)
        assert len(inv.reject_sample) == 7
        assert inv.reject_groups["rows"].sum() == 20  # the kinds count every reject, not the sample
        data = all_rejects_csv(con)
    finally:
        con.close()
    assert data.startswith("\ufeff".encode())  # Excel reads the umlauts
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 20
    assert list(rows[0]) == ["file", "row", "table", "reason", "raw_row"]
    assert [int(r["row"]) for r in rows] == sorted(int(r["row"]) for r in rows)
    assert rows[0]["raw_row"] == "A-1,2025-03,Service,1x"


def test_no_rejects_no_kinds(tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    load([tmp_path], tmp_path / "kam.duckdb")
    con = duckdb.connect(str(tmp_path / "kam.duckdb"), read_only=True)
    try:
        inv = database_inventory(con)
        assert inv.rejects == 0
        assert inv.reject_groups.empty
        assert all_rejects_csv(con).decode("utf-8-sig").splitlines() == ["file,row,table,reason,raw_row"]
    finally:
        con.close()


def test_warnings_are_grouped_and_every_one_downloads(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        inv = database_inventory(con, sample=1)
        data = all_warnings_csv(con)
    finally:
        con.close()
    assert inv.warnings == 2
    groups = inv.warning_groups
    assert groups[["file", "table", "rows", "first_row"]].values.tolist() == [["contacts.csv", "contacts", 2, 3]]
    assert groups.iloc[0]["message"] == "reports_to 'C-9' has no contact in contacts (kept)"
    assert len(inv.warning_sample) == 1  # the page's sample is cut …
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r["row"], r["column"], r["value"]) for r in rows] == [("3", "reports_to", "C-9"), ("4", "reports_to", "C-8")]


def test_the_home_pages_summary_agrees_with_the_inventory(db: Path) -> None:
    # three tables of the fourteen loaded: the rows of the others are not counted as 0 rows of
    # a table, they are not there
    with duckdb.connect(str(db), read_only=True) as con:
        inv = database_inventory(con, sample=0)
        summary = load_summary(con)
    assert inv.table_rows and set(inv.table_rows) == {"accounts", "revenue", "contacts"}
    assert summary.rows_loaded == sum(inv.table_rows.values()) == 40 + 40 + 3
    assert summary.rejects == inv.rejects == 20
    assert summary.info == inv.info and summary.info["loaded_at"]
