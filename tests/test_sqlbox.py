"""The SQL box: one read-only SELECT, no file access, bounded time and rows; safe downloads."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from kam_core.errors import InvalidSql, QueryInterrupted
from kam_core.export import to_csv_bytes, to_excel_bytes
from kam_core.ingest.loader import load
from kam_core.sqlbox import open_locked, run_query

from .conftest import MINI_ACCOUNTS, write


@pytest.fixture
def con(src: Path, tmp_path: Path):
    write(src, "accounts.csv", MINI_ACCOUNTS)
    db = tmp_path / "kam.duckdb"
    load([src], db)
    con = open_locked(db)
    yield con
    con.close()


def test_select_runs(con) -> None:
    result = run_query(con, "select account_id, name from accounts order by 1;")
    assert result.frame.values.tolist() == [["A-1", "Alpha"], ["A-2", "Beta"]]
    assert not result.truncated


def test_row_limit(con) -> None:
    result = run_query(con, "select * from range(50)", max_rows=10)
    assert len(result.frame) == 10 and result.truncated


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", "Enter a SELECT statement."),
        ("delete from accounts", "Only SELECT queries are allowed here; this is a delete statement."),
        ("create table x as select 1", "Only SELECT queries are allowed here"),
        ("insert into accounts values ('x')", "Only SELECT queries are allowed here"),
        ("select 1; drop table accounts", "Only one statement at a time: found 2."),
        ("select * from read_csv('/etc/passwd')", "Not allowed here"),
        ("select * from read_text('/etc/passwd')", "Not allowed here"),
        ("copy accounts to '/tmp/x.csv'", "Only SELECT queries are allowed here"),
        ("attach '/tmp/other.duckdb'", "Only SELECT queries are allowed here"),
        ("set enable_external_access = true", "Only SELECT queries are allowed here"),
        ("install httpfs", "Only SELECT queries are allowed here"),
        ("select * from nowhere", "The query failed: Catalog Error"),
        ("selec 1", "The SQL does not parse"),
    ],
)
def test_refused(con, sql: str, message: str) -> None:
    with pytest.raises(InvalidSql) as exc:
        run_query(con, sql)
    assert message in str(exc.value)
    assert con.execute("select count(*) from accounts").fetchone() == (2,)


def test_lock_cannot_be_lifted(con) -> None:
    import duckdb

    with pytest.raises(duckdb.Error):
        con.execute("set enable_external_access = true")


def test_long_query_is_stopped(con) -> None:
    with pytest.raises(QueryInterrupted, match="stopped after 0.5 s"):
        run_query(con, "select count(*) from range(100000000000) a", timeout_s=0.5)
    assert run_query(con, "select 1 as x").frame["x"].tolist() == [1]  # the connection still works


def test_downloads_neutralise_formulas() -> None:
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@cmd", "ok", "\t=1"],
                          "amount": [-5.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    text = to_csv_bytes(frame).decode("utf-8-sig")
    assert text.splitlines()[1].startswith("\"'=HYPERLINK")
    assert "'+1" in text and "'-2" in text and "'@cmd" in text and "\nok," in text
    assert "-5.0" in text  # numbers stay numbers
    book = openpyxl.load_workbook(io.BytesIO(to_excel_bytes(frame)))
    cells = [c.value for c in book.active["A"]][1:]
    assert cells == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@cmd", "ok", "'\t=1"]
    assert [c.value for c in book.active["B"]][1] == -5
