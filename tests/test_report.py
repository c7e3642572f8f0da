"""The metric side of ``python -m kam_core report`` (spec §4): frames, JSON, CSV, exit codes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kam_core.ingest.schema import create_schema
from kam_core.metrics.report import build_report, run_report, summary, write_report
from kam_core.settings import Settings

AS_OF = dt.date(2025, 6, 30)


def fill(con: duckdb.DuckDBPyConnection) -> None:
    create_schema(
        con,
        tables=[
            "team",
            "accounts",
            "contacts",
            "relationships",
            "revenue",
            "criteria",
            "criterion_scores",
            "reviews",
        ],
    )
    con.execute("""
        insert into team values ('M1', 'Anna Berg', null, null, null, true);
        insert into accounts (account_id, name, annual_revenue) values
            ('A', 'Acme', 100), ('B', 'Bolt', 300), ('C', 'Cask', null);
        insert into contacts (contact_id, account_id, name, piece, attitude, is_active) values
            ('K', 'A', 'Dr. X', 'king', 'opponent', true),
            ('Q', 'B', 'Quinn', 'queen', 'champion', true);
        insert into relationships values ('M1', 'K', 4, null), ('M1', 'Q', 2, null);
        insert into revenue values
            ('A', date '2025-06-01', 'L1', 120, 36),
            ('A', date '2024-06-01', 'L1', 100, null),
            ('B', date '2025-05-01', 'L1', 50, 5);
        insert into criteria values
            ('size', 'Customer size', 'attractiveness', 1, 'annual_revenue'),
            ('fit', 'Strategic fit', 'attractiveness', 1, 'manual'),
            ('cov', 'Coverage', 'strength', 1, 'coverage');
        insert into criterion_scores values ('A', 'fit', 8), ('B', 'fit', 4);
        insert into reviews (account_id, review_date) values ('A', date '2025-05-01');
    """)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    fill(con)
    return con


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "kam.duckdb"
    con = duckdb.connect(str(path))
    fill(con)
    con.close()
    return path


def run(
    db: Path, kind: str, fmt: str = "json", as_of: dt.date | None = AS_OF, config=None
) -> tuple[int, str]:
    out = io.StringIO()
    code = run_report(db, kind, config, fmt, as_of, out)
    return code, out.getvalue()


def test_portfolio_report(con: duckdb.DuckDBPyConnection) -> None:
    got = build_report(con, "portfolio", Settings(), AS_OF)
    assert list(got.columns) == [
        "account_id",
        "attractiveness",
        "strength",
        "missing_criteria",
        "tier",
        "quadrant",
        "tier_stability",
        "is_borderline",
        "contributions",
    ]
    assert got["account_id"].tolist() == ["A", "B", "C"]
    # size: A 100 → 0, B 300 → 10, C none → 0; fit: A 8, B 4, C missing
    # attractiveness = 10 × (size + fit) / 2: A 40, B 70, C 0
    assert got["attractiveness"].tolist() == [40.0, 70.0, 0.0]
    assert got["tier"].tolist() == ["Bronze", "Gold", "Standard"]
    assert got["missing_criteria"].tolist() == [0, 0, 1]
    a = got["contributions"].iloc[0]
    assert a == pytest.approx({"size": 0.0, "fit": 40.0, "cov": 100.0})
    assert len(got) == 3
    for _, r in got.iterrows():
        c = r["contributions"]
        assert c["size"] + c["fit"] == pytest.approx(r["attractiveness"])
        assert c["cov"] == pytest.approx(r["strength"])


def test_portfolio_json_and_csv(db: Path) -> None:
    code, text = run(db, "portfolio", "json")
    assert code == 0
    rows = json.loads(text)
    assert [r["account_id"] for r in rows] == ["A", "B", "C"]
    # B: cov 50 is below A's 100 → rank 1 → 0; fit 1·4/2·10 = 20; size 1·10/2·10 = 50
    assert rows[1]["contributions"] == pytest.approx({"cov": 0.0, "fit": 20.0, "size": 50.0})
    assert isinstance(rows[0]["is_borderline"], bool)
    code, text = run(db, "portfolio", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0])[-3:] == ["contribution_cov", "contribution_fit", "contribution_size"]
    assert "contributions" not in table[0]
    assert float(table[0]["contribution_fit"]) == 40.0
    assert table[0]["tier"] == "Bronze" and table[0]["is_borderline"] in ("true", "false")


def test_json_has_null_not_nan(db: Path) -> None:
    code, text = run(db, "coverage", "json")
    assert code == 0
    assert "NaN" not in text and "Infinity" not in text
    rows = {r["account_id"]: r for r in json.loads(text)}
    # C has no contacts: coverage null; B's queen: e = 2/4 = 0.5 → coverage 100·9·0.5/9 = 50
    assert rows["C"]["coverage"] is None
    assert rows["B"]["coverage"] == 50.0
    assert rows["B"]["king_covered"] is False  # no king identified
    code, text = run(db, "growth", "json")
    rows = {r["account_id"]: r for r in json.loads(text)}
    assert "NaN" not in text
    # A: 120 / 100 - 1 = 0.2; B: no prior revenue → null; C: no revenue → ttm 0
    assert rows["A"]["revenue_growth"] == pytest.approx(0.2)
    assert rows["B"]["revenue_growth"] is None
    assert rows["C"]["ttm_revenue"] == 0


def test_health_report(db: Path) -> None:
    code, text = run(db, "health", "json")
    assert code == 0 and "NaN" not in text
    rows = {r["account_id"]: r for r in json.loads(text)}
    assert set(rows["A"]) == {
        "account_id",
        "coverage_score",
        "growth_score",
        "margin_score",
        "plan_score",
        "activity_score",
        "health",
        "status",
        "reasons",
        "notes",
        "overdue_actions",
        "latest_rating",
        "latest_rating_date",
    }
    # no plan_actions table: overdue actions unknown (null); A's review has no rating
    assert rows["A"]["overdue_actions"] is None and rows["A"]["latest_rating"] is None
    # A: the king Dr. X is an opponent → red whatever the health
    assert rows["A"]["status"] == "red"
    assert "the king (Dr. X) is an opponent" in rows["A"]["reasons"]
    # no activities table: activity has no data (null), never NaN
    assert rows["A"]["activity_score"] is None
    # C: no contacts, no revenue rows, never reviewed → plan 0 is its only component
    assert rows["C"]["coverage_score"] is None and rows["C"]["growth_score"] is None
    assert rows["C"]["plan_score"] == 0 and rows["C"]["health"] == 0 and rows["C"]["status"] == "red"
    code, text = run(db, "health", "csv")
    table = {r["account_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert table["A"]["reasons"] == "; ".join(rows["A"]["reasons"])
    assert table["C"]["coverage_score"] == ""


def test_summary(db: Path) -> None:
    code, text = run(db, "summary", "csv")  # summary is JSON whatever the format
    assert code == 0
    got = json.loads(text)
    assert got["as_of"] == "2025-06-30"
    assert got["accounts_count"] == 3
    assert [t["tier"] for t in got["tiers"]] == ["Gold", "Silver", "Bronze", "Standard"]
    assert [t["accounts_count"] for t in got["tiers"]] == [1, 0, 1, 1]
    assert {"top10_share", "herfindahl", "health_mean", "red_accounts", "borderline_accounts"} <= set(got)
    # A 120 and B 50 of ttm revenue: top10_share 1; herfindahl (120/170)² + (50/170)²
    assert got["top10_share"] == pytest.approx(1.0)
    assert got["herfindahl"] == pytest.approx((120 / 170) ** 2 + (50 / 170) ** 2)
    assert "NaN" not in text


def test_summary_function_matches(con: duckdb.DuckDBPyConnection) -> None:
    got = summary(con, Settings(), AS_OF)
    assert (
        got["red_accounts"] + got["amber_accounts"] + got["green_accounts"] + got["no_status_accounts"] == 3
    )
    assert json.loads(json.dumps(got, allow_nan=False)) == got


def test_as_of_and_config(db: Path, tmp_path: Path) -> None:
    # a year earlier, A's 2025 revenue has not happened yet
    code, text = run(db, "growth", "json", as_of=dt.date(2024, 12, 31))
    rows = {r["account_id"]: r for r in json.loads(text)}
    assert rows["A"]["ttm_revenue"] == 100
    config = tmp_path / "kam.toml"
    config.write_text('tier_scheme = "league"\n', encoding="utf-8")
    code, text = run(db, "portfolio", "json", config=config)
    assert code == 0 and json.loads(text)[1]["tier"] == "Premier"


def test_exit_codes(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "missing.duckdb", "health")[0] == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(db, "nonsense")[0] == 2
    assert run(db, "health", fmt="xml")[0] == 2
    assert run(db, "health", as_of="31.12.2024")[0] == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("half_life_days = -1\n", encoding="utf-8")
    assert run(db, "health", config=bad)[0] == 1
    assert "half_life_days" in capsys.readouterr().err
    not_db = tmp_path / "not.duckdb"
    not_db.write_text("hello", encoding="utf-8")
    assert run(not_db, "health")[0] == 1


def test_database_is_opened_read_only(db: Path) -> None:
    before = db.stat().st_mtime_ns
    assert run(db, "portfolio")[0] == 0
    assert db.stat().st_mtime_ns == before
    con = duckdb.connect(str(db))
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    con.close()
    assert not any(t.startswith("_kam") for t in tables)


def test_write_report_values() -> None:
    frame = pd.DataFrame(
        {
            "account_id": ["A", "B"],
            "x": [1.5, float("nan")],
            "n": pd.array([1, None], dtype="Int64"),
            "flag": pd.array([True, None], dtype="boolean"),
            "day": pd.to_datetime(["2025-01-31", None]),
            "text": pd.Series(['ä;"q"', None], dtype="str"),
            "reasons": [["one", "two"], []],
            "contributions": [{"k1": 1.0, "k2": None}, {"k1": float("nan"), "k2": 2.0}],
        }
    )
    out = io.StringIO()
    write_report(frame, "json", out)
    rows = json.loads(out.getvalue())
    assert rows[0] == {
        "account_id": "A",
        "x": 1.5,
        "n": 1,
        "flag": True,
        "day": "2025-01-31",
        "text": 'ä;"q"',
        "reasons": ["one", "two"],
        "contributions": {"k1": 1.0, "k2": None},
    }
    assert rows[1] == {
        "account_id": "B",
        "x": None,
        "n": None,
        "flag": None,
        "day": None,
        "text": None,
        "reasons": [],
        "contributions": {"k1": None, "k2": 2.0},
    }
    out = io.StringIO()
    write_report(frame, "csv", out)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert table[0] == {
        "account_id": "A",
        "x": "1.5",
        "n": "1",
        "flag": "true",
        "day": "2025-01-31",
        "text": 'ä;"q"',
        "reasons": "one; two",
        "contribution_k1": "1.0",
        "contribution_k2": "",
    }
    assert table[1]["x"] == "" and table[1]["flag"] == "" and table[1]["reasons"] == ""
    assert table[1]["contribution_k2"] == "2.0" and table[1]["contribution_k1"] == ""


def test_write_report_empty_frame() -> None:
    out = io.StringIO()
    write_report(pd.DataFrame({"account_id": pd.Series(dtype="str")}), "json", out)
    assert json.loads(out.getvalue()) == []
    out = io.StringIO()
    write_report(
        pd.DataFrame({"account_id": pd.Series(dtype="str"), "contributions": pd.Series(dtype=object)}),
        "csv",
        out,
    )
    assert out.getvalue().strip() == "account_id"


def test_no_criteria_table_gives_null_contributions() -> None:
    con = duckdb.connect()
    create_schema(con, tables=["accounts"])
    con.execute("insert into accounts (account_id, name) values ('A', 'Acme')")
    got = build_report(con, "portfolio", Settings(), AS_OF)
    assert got["contributions"].tolist() == [None]
    out = io.StringIO()
    write_report(got, "json", out)
    row = json.loads(out.getvalue())[0]
    assert row["contributions"] is None and row["attractiveness"] is None and row["tier"] is None
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in row.values())


def test_missing_tables_named_on_stderr(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A figure without its table stays null in the output and the file that would fill it is
    named on stderr (stdout stays machine-readable)."""
    code, out = run(db, "growth")
    assert code == 0
    rows = json.loads(out)
    assert rows and all(row["open_pipeline"] is None for row in rows)  # no opportunities table
    err = capsys.readouterr().err.splitlines()
    assert "– empty: needs opportunities.csv for open_pipeline, weighted_pipeline, win_rate" in err
    assert not any("revenue.csv" in line for line in err)  # revenue was loaded
    code, out = run(db, "coverage")
    assert code == 0 and capsys.readouterr().err == ""  # contacts and relationships were loaded
