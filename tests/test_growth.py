"""Growth and profitability (spec §3.3): hand-computed values on a tiny portfolio.

as_of is 2024-03-15 (mid-month), so M = 2024-03, the ttm window is 2023-04..2024-03 and the
prior window 2022-04..2023-03.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kam_core.ingest.schema import create_schema
from kam_core.metrics import growth
from kam_core.metrics.growth import (
    GROWTH_COLUMNS,
    growth_by_account,
    missing_inputs,
    monthly_revenue,
    pipeline,
    portfolio_figures,
    portfolio_summary,
    product_mix,
)
from kam_core.metrics.sources import reading
from kam_core.settings import Settings

AS_OF = dt.date(2024, 3, 15)
SETTINGS = Settings()
D = dt.date

ACCOUNTS = [(a, f"Account {a}") for a in "ABCDEF"]

# (account_id, period, product_line, revenue, gross_margin)
REVENUE = [
    # A: the full case
    ("A", D(2024, 3, 1), "x", 100.0, 30.0),  # month M counts although as_of is mid-month
    ("A", D(2024, 3, 1), "x", 50.0, None),  # same account/period/line: summed; no margin
    ("A", D(2023, 4, 1), "y", 200.0, 60.0),  # M-11: first ttm month
    ("A", D(2023, 3, 1), "y", 250.0, 50.0),  # M-12: prior
    ("A", D(2022, 4, 1), "x", 50.0, 25.0),  # M-23: first prior month
    ("A", D(2022, 3, 1), "x", 999.0, 999.0),  # M-24: in neither window
    ("A", D(2024, 4, 1), "x", 777.0, 777.0),  # after M: does not exist yet
    # B: new account, no prior revenue, no margins
    ("B", D(2023, 6, 1), "x", 80.0, None),
    # C: a credit note makes the ttm revenue negative
    ("C", D(2022, 6, 1), "x", 100.0, 10.0),
    ("C", D(2023, 5, 1), "x", 40.0, 8.0),
    ("C", D(2023, 7, 1), "x", -60.0, -12.0),
    # D: negative prior revenue; a line with negative ttm revenue
    ("D", D(2022, 5, 1), "x", -30.0, None),
    ("D", D(2023, 8, 1), "x", 10.0, None),
    ("D", D(2023, 9, 1), "y", -5.0, None),
    # E: no revenue rows at all
    # F: revenue only outside both windows
    ("F", D(2022, 3, 1), "x", 500.0, 100.0),
    ("F", D(2024, 4, 1), "x", 500.0, 100.0),
]

# (account_id, product_line, annual_potential)
POTENTIAL = [
    ("A", "x", 400.0),
    ("A", "y", 150.0),
    ("A", "z", 100.0),
    ("A", "w", 0.0),
    ("B", "x", 0.0),  # potential 0: share_of_wallet null
    ("D", "x", 50.0),
    ("D", "y", 20.0),
    ("E", "x", 500.0),
    ("E", "y", 100.0),
    # C and F have no potential rows
]

OPPORTUNITY_COLUMNS = (
    "opportunity_id",
    "account_id",
    "status",
    "amount",
    "probability",
    "created_date",
    "close_date",
)
OPPORTUNITIES = [
    ("o1", "A", "open", 1000.0, 0.5, D(2024, 1, 1), D(2024, 6, 30)),
    ("o2", "A", "open", 400.0, None, D(2024, 1, 1), None),  # no probability: weighs nothing
    ("o3", "A", "won", 300.0, 0.8, D(2024, 1, 1), D(2024, 3, 20)),  # closed after as_of: open
    ("o4", "A", "open", 5000.0, 0.9, D(2024, 3, 16), None),  # created after as_of: not there
    ("o5", "A", "won", 700.0, 1.0, D(2023, 1, 1), D(2023, 4, 1)),  # first day of M-11: in
    ("o6", "A", "lost", 700.0, 0.0, D(2023, 1, 1), D(2023, 3, 31)),  # M-12: out
    ("o7", "A", "lost", 100.0, 0.0, D(2023, 1, 1), D(2024, 3, 15)),  # on as_of: in
    ("o8", "B", "lost", 100.0, 0.0, D(2022, 1, 1), D(2022, 12, 1)),  # before the window
    ("o9", "B", "open", 200.0, 0.25, None, None),  # no created date: exists
]


def insert(con: duckdb.DuckDBPyConnection, table: str, columns: Iterable[str], rows) -> None:
    columns = list(columns)
    marks = ", ".join("?" for _ in columns)
    if rows:
        con.executemany(f"insert into {table} ({', '.join(columns)}) values ({marks})", rows)


def make_db(tables: Iterable[str] = ("accounts", "revenue", "potential", "opportunities")):
    """The fixture portfolio with only the given tables loaded."""
    tables = list(tables)
    con = duckdb.connect()
    create_schema(con, tables=tables)
    rows = {
        "accounts": (("account_id", "name"), ACCOUNTS),
        "revenue": (("account_id", "period", "product_line", "revenue", "gross_margin"), REVENUE),
        "potential": (("account_id", "product_line", "annual_potential"), POTENTIAL),
        "opportunities": (OPPORTUNITY_COLUMNS, OPPORTUNITIES),
    }
    for table in tables:
        insert(con, table, *rows[table])
    return con


def frame(records: list[dict], columns=GROWTH_COLUMNS) -> pd.DataFrame:
    dtypes = {c: "float64" for c in columns}
    dtypes.update(
        account_id="str",
        open_lines="Int64",
        open_lines_list="str",
        open_deals="Int64",
        open_deals_without_amount="Int64",
        won_deals="Int64",
        lost_deals="Int64",
        has_revenue_rows="bool",
        months_with_revenue="Int64",
    )
    out = pd.DataFrame.from_records(records, columns=list(columns))
    return out.astype({c: dtypes[c] for c in columns})


NAN = None

EXPECTED = [
    {
        "account_id": "A",
        "ttm_revenue": 350.0,  # 100 + 50 (month M, duplicates summed) + 200 (M-11)
        "prior_ttm_revenue": 300.0,  # 250 (M-12) + 50 (M-23)
        "revenue_growth": 350 / 300 - 1,
        "ttm_gross_margin": 90.0,  # 30 + 60; the 50 row has no margin
        "prior_ttm_gross_margin": 75.0,  # 50 + 25
        "ttm_margin_revenue": 300.0,  # 100 + 200: the rows with a margin
        "gross_margin_pct": 90 / 300,  # over the rows with a margin: 100 + 200
        "gross_margin_growth": 90 / 75 - 1,
        "annual_potential": 650.0,
        "share_of_wallet": 350 / 650,  # potential 400 + 150 + 100 + 0
        # x: 400 - 150 = 250; y: max(150 - 200, 0) = 0; z: 100 - 0 = 100; w: 0
        "whitespace": 350.0,
        "open_lines": 1,  # z (w has potential 0)
        "open_lines_list": "z",
        "open_pipeline": 1700.0,  # o1 1000 + o2 400 + o3 300 (closed after as_of)
        "weighted_pipeline": 740.0,  # 1000 * 0.5 + 0 + 300 * 0.8
        "open_deals": 3,  # o1, o2, o3
        "open_deals_without_amount": 0,
        "won_deals": 1,  # o5
        "lost_deals": 1,  # o7
        "win_rate": 0.5,  # o5 won / (o5 won + o7 lost); o6 out of window
        "has_revenue_rows": True,
        "months_with_revenue": 2,  # 2023-04 and 2024-03
    },
    {
        "account_id": "B",
        "ttm_revenue": 80.0,
        "prior_ttm_revenue": 0.0,
        "revenue_growth": NAN,  # prior 0
        "ttm_gross_margin": NAN,  # no ttm row has a margin
        "prior_ttm_gross_margin": NAN,
        "ttm_margin_revenue": NAN,
        "gross_margin_pct": NAN,
        "gross_margin_growth": NAN,
        "annual_potential": 0.0,
        "share_of_wallet": NAN,  # potential sums to 0
        "whitespace": 0.0,  # max(0 - 80, 0)
        "open_lines": 0,
        "open_lines_list": "",
        "open_pipeline": 200.0,  # o9
        "weighted_pipeline": 50.0,  # 200 * 0.25
        "open_deals": 1,  # o9
        "open_deals_without_amount": 0,
        "won_deals": 0,
        "lost_deals": 0,
        "win_rate": NAN,  # o8 closed before the window
        "has_revenue_rows": True,
        "months_with_revenue": 1,
    },
    {
        "account_id": "C",
        "ttm_revenue": -20.0,  # 40 - 60
        "prior_ttm_revenue": 100.0,
        "revenue_growth": -20 / 100 - 1,  # -1.2
        "ttm_gross_margin": -4.0,  # 8 - 12
        "prior_ttm_gross_margin": 10.0,
        "ttm_margin_revenue": -20.0,  # 40 - 60: both rows give a margin
        "gross_margin_pct": -4 / -20,  # 0.2
        "gross_margin_growth": -4 / 10 - 1,  # -1.4
        "annual_potential": 0.0,  # potential loaded, none for C
        "share_of_wallet": NAN,  # no potential rows
        "whitespace": 0.0,  # potential loaded, none for C
        "open_lines": 0,
        "open_lines_list": "",
        "open_pipeline": 0.0,  # table loaded, nothing open
        "weighted_pipeline": 0.0,
        "open_deals": 0,
        "open_deals_without_amount": 0,
        "won_deals": 0,
        "lost_deals": 0,
        "win_rate": NAN,
        "has_revenue_rows": True,
        "months_with_revenue": 1,  # 2023-05 (+40); 2023-07 is negative
    },
    {
        "account_id": "D",
        "ttm_revenue": 5.0,  # 10 - 5
        "prior_ttm_revenue": -30.0,
        "revenue_growth": NAN,  # prior <= 0
        "ttm_gross_margin": NAN,
        "prior_ttm_gross_margin": NAN,
        "ttm_margin_revenue": NAN,
        "gross_margin_pct": NAN,
        "gross_margin_growth": NAN,
        "annual_potential": 70.0,
        "share_of_wallet": 5 / 70,
        # x: 50 - 10 = 40; y: 20 - (-5) = 25
        "whitespace": 65.0,
        "open_lines": 1,  # y: potential 20, ttm revenue -5 <= 0
        "open_lines_list": "y",
        "open_pipeline": 0.0,
        "weighted_pipeline": 0.0,
        "open_deals": 0,
        "open_deals_without_amount": 0,
        "won_deals": 0,
        "lost_deals": 0,
        "win_rate": NAN,
        "has_revenue_rows": True,
        "months_with_revenue": 1,
    },
    {
        "account_id": "E",
        "ttm_revenue": 0.0,
        "prior_ttm_revenue": 0.0,
        "revenue_growth": NAN,
        "ttm_gross_margin": NAN,
        "prior_ttm_gross_margin": NAN,
        "ttm_margin_revenue": NAN,
        "gross_margin_pct": NAN,
        "gross_margin_growth": NAN,
        "annual_potential": 600.0,
        "share_of_wallet": 0.0,  # 0 / 600
        "whitespace": 600.0,  # 500 + 100
        "open_lines": 2,
        "open_lines_list": "x, y",
        "open_pipeline": 0.0,
        "weighted_pipeline": 0.0,
        "open_deals": 0,
        "open_deals_without_amount": 0,
        "won_deals": 0,
        "lost_deals": 0,
        "win_rate": NAN,
        "has_revenue_rows": False,
        "months_with_revenue": 0,
    },
    {
        "account_id": "F",
        "ttm_revenue": 0.0,  # its rows lie in M-24 and M+1
        "prior_ttm_revenue": 0.0,
        "revenue_growth": NAN,
        "ttm_gross_margin": NAN,
        "prior_ttm_gross_margin": NAN,
        "ttm_margin_revenue": NAN,
        "gross_margin_pct": NAN,
        "gross_margin_growth": NAN,
        "annual_potential": 0.0,
        "share_of_wallet": NAN,
        "whitespace": 0.0,
        "open_lines": 0,
        "open_lines_list": "",
        "open_pipeline": 0.0,
        "weighted_pipeline": 0.0,
        "open_deals": 0,
        "open_deals_without_amount": 0,
        "won_deals": 0,
        "lost_deals": 0,
        "win_rate": NAN,
        "has_revenue_rows": False,
        "months_with_revenue": 0,
    },
]


# ---------------------------------------------------------------------------------------
# growth_by_account
# ---------------------------------------------------------------------------------------


def test_growth_by_account_hand_computed() -> None:
    result = growth_by_account(make_db(), SETTINGS, AS_OF)
    assert list(result.columns) == list(GROWTH_COLUMNS)
    assert_frame_equal(result, frame(EXPECTED))


def test_growth_by_account_works_on_a_cursor() -> None:
    con = make_db()
    assert_frame_equal(growth_by_account(con.cursor(), SETTINGS, AS_OF), frame(EXPECTED))


def test_as_of_on_the_first_day_of_the_month_still_counts_the_month() -> None:
    # as_of 2024-03-01: A's March rows (100 + 50) still count; o3 closes 2024-03-20, after it.
    row = growth_by_account(make_db(), SETTINGS, D(2024, 3, 1)).set_index("account_id").loc["A"]
    assert row.ttm_revenue == pytest.approx(350.0)
    # o7 (lost 2024-03-15) is now after as_of: open, and the win rate is o5 alone: 1 / 1
    assert row.win_rate == pytest.approx(1.0)
    assert row.open_pipeline == pytest.approx(1000 + 400 + 300 + 100)


def test_moving_as_of_back_a_month_shifts_both_windows() -> None:
    # as_of 2024-02-29: ttm = 2023-03..2024-02 -> A: 250 (2023-03) + 200 (2023-04) = 450;
    # prior 2022-03..2023-02 -> A: 999 (2022-03) + 50 (2022-04) = 1049.
    row = growth_by_account(make_db(), SETTINGS, D(2024, 2, 29)).set_index("account_id").loc["A"]
    assert row.ttm_revenue == pytest.approx(450.0)
    assert row.prior_ttm_revenue == pytest.approx(1049.0)
    assert row.revenue_growth == pytest.approx(450 / 1049 - 1)


def test_rounding_before_thresholds() -> None:
    # 0.1 + 0.2 - 0.3 is 5.55e-17 in floating point: rounded to 6 decimals it is 0, so the
    # line is open and the prior revenue counts as 0 (growth null).
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "revenue", "potential"])
    insert(con, "accounts", ("account_id", "name"), [("G", "g")])
    cols = ("account_id", "period", "product_line", "revenue")
    insert(
        con,
        "revenue",
        cols,
        [("G", D(2024, 1, 1), "x", v) for v in (0.1, 0.2, -0.3)]
        + [("G", D(2023, 1, 1), "x", v) for v in (0.1, 0.2, -0.3)],
    )
    insert(con, "potential", ("account_id", "product_line", "annual_potential"), [("G", "x", 10)])
    row = growth_by_account(con, SETTINGS, AS_OF).iloc[0]
    assert row.open_lines == 1
    assert pd.isna(row.revenue_growth)
    assert row.months_with_revenue == 0


# ---------------------------------------------------------------------------------------
# tables not loaded
# ---------------------------------------------------------------------------------------

ALL_NULL = {c: NAN for c in GROWTH_COLUMNS}


def test_only_accounts_loaded_gives_nulls() -> None:
    result = growth_by_account(make_db(["accounts"]), SETTINGS, AS_OF)
    expected = frame(
        [{**ALL_NULL, "account_id": a, "has_revenue_rows": False} for a, _ in ACCOUNTS]
    )
    assert_frame_equal(result, expected)


def test_without_potential_and_opportunities() -> None:
    result = growth_by_account(make_db(["accounts", "revenue"]), SETTINGS, AS_OF)
    null_cols = [
        "annual_potential",
        "open_deals",
        "open_deals_without_amount",
        "won_deals",
        "lost_deals",
        "share_of_wallet",
        "whitespace",
        "open_lines",
        "open_lines_list",
        "open_pipeline",
        "weighted_pipeline",
        "win_rate",
    ]
    expected = frame([{**r, **{c: NAN for c in null_cols}} for r in EXPECTED])
    assert_frame_equal(result, expected)


def test_potential_without_revenue_is_null() -> None:
    # Decision: whitespace and open lines need the revenue to subtract; without a revenue
    # table they are unknown, not "the whole potential".
    result = growth_by_account(make_db(["accounts", "potential"]), SETTINGS, AS_OF)
    assert result[["share_of_wallet", "whitespace", "open_lines"]].isna().all().all()


def test_loaded_but_empty_tables_give_zero() -> None:
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "revenue", "potential", "opportunities"])
    insert(con, "accounts", ("account_id", "name"), [("A", "a")])
    result = growth_by_account(con, SETTINGS, AS_OF)
    expected = frame(
        [
            {
                **ALL_NULL,
                "account_id": "A",
                "ttm_revenue": 0.0,
                "prior_ttm_revenue": 0.0,
                "whitespace": 0.0,
                "open_lines": 0,
                "open_lines_list": "",
                "annual_potential": 0.0,
                "open_pipeline": 0.0,
                "weighted_pipeline": 0.0,
                "open_deals": 0,
                "open_deals_without_amount": 0,
                "won_deals": 0,
                "lost_deals": 0,
                "has_revenue_rows": False,
                "months_with_revenue": 0,
            }
        ]
    )
    assert_frame_equal(result, expected)


def test_no_tables_at_all_never_raises() -> None:
    con = duckdb.connect()
    assert growth_by_account(con, SETTINGS, AS_OF).empty
    assert list(growth_by_account(con, SETTINGS, AS_OF).columns) == list(GROWTH_COLUMNS)
    assert monthly_revenue(con, SETTINGS, AS_OF).empty
    assert monthly_revenue(con, SETTINGS, AS_OF, by="product_line").empty
    assert product_mix(con, SETTINGS, AS_OF).empty
    assert pipeline(con, SETTINGS, AS_OF).empty
    summary = portfolio_summary(con, SETTINGS, AS_OF)
    assert summary["ttm_revenue"] is None
    assert summary["accounts_count"] is None
    assert summary["top10_share"] is None


def test_missing_inputs() -> None:
    assert missing_inputs(make_db()) == []
    assert missing_inputs(make_db(["accounts", "revenue"])) == [
        "needs opportunities.csv for open_pipeline, weighted_pipeline, win_rate",
        "needs potential.csv for share_of_wallet, whitespace, open_lines",
    ]
    assert any("revenue.csv" in text for text in missing_inputs(make_db(["accounts"])))


def test_unloaded_tables_read_as_empty_tables_of_the_same_columns() -> None:
    con = duckdb.connect()
    create_schema(con, tables=["accounts"])
    with reading(con) as cur:
        empty = cur.execute("select * from revenue").df()
    assert list(empty.columns) == ["account_id", "period", "product_line", "revenue", "gross_margin"]
    assert empty.empty
    # the stand-in lived on the private cursor only
    assert "revenue" not in {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}


def test_an_open_deal_without_an_amount_counts_as_a_deal_and_adds_nothing() -> None:
    con = make_db()
    con.execute("alter table opportunities alter column amount drop not null")
    con.execute("insert into opportunities (opportunity_id, account_id, status, amount, probability) "
                "values ('o10', 'B', 'open', null, 0.5), ('o11', 'B', 'won', null, 1.0)")
    row = growth_by_account(con, SETTINGS, AS_OF).set_index("account_id").loc["B"]
    # B: o9 (200, p 0.25) and o10 (no amount) are open; o11 has no close date: not in the window
    assert row.open_deals == 2 and row.open_deals_without_amount == 1
    assert row.open_pipeline == pytest.approx(200.0) and row.weighted_pipeline == pytest.approx(50.0)
    summary = portfolio_summary(con, SETTINGS, AS_OF)
    assert summary["open_opportunities"] == 5 and summary["open_deals_without_amount"] == 1
    assert summary["open_pipeline"] == pytest.approx(1700 + 200)


# ---------------------------------------------------------------------------------------
# portfolio_summary
# ---------------------------------------------------------------------------------------


def test_portfolio_summary_hand_computed() -> None:
    summary = portfolio_summary(make_db(), SETTINGS, AS_OF)
    # ttm per account: A 350, B 80, C -20, D 5, E 0, F 0
    positive_total = 350 + 80 + 5  # C (negative) and E, F (zero) are left out
    expected = {
        "as_of": "2024-03-15",
        "currency": "EUR",
        "accounts_count": 6,
        "ttm_revenue": 350 + 80 - 20 + 5,  # 415
        "prior_ttm_revenue": 300 + 100 - 30,  # 370
        "revenue_growth": 415 / 370 - 1,
        "ttm_gross_margin": 90 - 4,  # A and C give margins
        "prior_ttm_gross_margin": 75 + 10,
        "gross_margin_pct": 86 / (300 - 20),  # revenue of the rows with a margin
        "gross_margin_growth": 86 / 85 - 1,
        "accounts_with_revenue": 3,
        "top10_share": 1.0,  # fewer than 10 accounts
        "herfindahl": (350**2 + 80**2 + 5**2) / positive_total**2,
        "annual_potential": 650 + 0 + 70 + 600,
        "share_of_wallet": 415 / 1320,
        "whitespace": 350 + 0 + 65 + 600,
        "open_opportunities": 4,  # o1, o2, o3, o9
        "open_deals_without_amount": 0,
        "open_pipeline": 1700 + 200,
        "weighted_pipeline": 740 + 50,
        "win_rate": 0.5,
    }
    assert summary.keys() == expected.keys()
    for key, value in expected.items():
        assert summary[key] == pytest.approx(value), key


def test_concentration_with_more_than_ten_accounts() -> None:
    # accounts P1..P12 with ttm revenue 1..12, plus N with -50 and Z with 0 (both left out)
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "revenue"])
    ids = [f"P{i}" for i in range(1, 13)] + ["N", "Z"]
    insert(con, "accounts", ("account_id", "name"), [(a, a) for a in ids])
    rows = [(f"P{i}", D(2024, 1, 1), "x", float(i)) for i in range(1, 13)]
    rows += [("N", D(2024, 1, 1), "x", -50.0), ("Z", D(2024, 1, 1), "x", 0.0)]
    insert(con, "revenue", ("account_id", "period", "product_line", "revenue"), rows)
    summary = portfolio_summary(con, SETTINGS, AS_OF)
    total = sum(range(1, 13))  # 78
    assert summary["accounts_with_revenue"] == 12
    assert summary["top10_share"] == pytest.approx(sum(range(3, 13)) / total)  # 75 / 78
    assert summary["herfindahl"] == pytest.approx(sum(i * i for i in range(1, 13)) / total**2)
    assert summary["ttm_revenue"] == pytest.approx(78 - 50)
    assert summary["open_pipeline"] is None  # no opportunities table
    assert summary["whitespace"] is None  # no potential table


def test_concentration_null_without_positive_revenue() -> None:
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "revenue"])
    insert(con, "accounts", ("account_id", "name"), [("N", "n")])
    insert(
        con,
        "revenue",
        ("account_id", "period", "product_line", "revenue"),
        [("N", D(2024, 1, 1), "x", -5.0)],
    )
    summary = portfolio_summary(con, SETTINGS, AS_OF)
    assert summary["top10_share"] is None
    assert summary["herfindahl"] is None
    assert summary["accounts_with_revenue"] == 0


def test_portfolio_summary_is_json_ready() -> None:
    import json

    json.dumps(portfolio_summary(make_db(), SETTINGS, AS_OF))


# ---------------------------------------------------------------------------------------
# pipeline
# ---------------------------------------------------------------------------------------


def test_pipeline_lists_open_opportunities_as_of() -> None:
    result = pipeline(make_db(), SETTINGS, AS_OF)
    # o4 (created after as_of) is missing; o3 (won after as_of) is open; soonest close first
    assert list(result.opportunity_id) == ["o3", "o1", "o2", "o9"]
    by_id = result.set_index("opportunity_id")
    assert by_id.loc["o3", "recorded_status"] == "won"
    assert by_id.loc["o3", "weighted_amount"] == pytest.approx(240.0)
    assert pd.isna(by_id.loc["o2", "weighted_amount"])
    assert by_id.loc["o1", "account_name"] == "Account A"
    assert list(pipeline(make_db(), SETTINGS, AS_OF, account_id="B").opportunity_id) == ["o9"]


def test_pipeline_without_accounts_table_still_lists() -> None:
    result = pipeline(make_db(["opportunities"]), SETTINGS, AS_OF)
    assert len(result) == 4
    assert result.account_name.isna().all()


# ---------------------------------------------------------------------------------------
# monthly_revenue
# ---------------------------------------------------------------------------------------


def test_monthly_revenue_has_36_months_up_to_m() -> None:
    result = monthly_revenue(make_db(), SETTINGS, AS_OF)
    assert list(result.columns) == ["period", "revenue", "gross_margin"]
    assert len(result) == 36
    assert result.period.iloc[0] == pd.Timestamp("2021-04-01")
    assert result.period.iloc[-1] == pd.Timestamp("2024-03-01")  # M; 2024-04 is after it
    by_month = result.set_index("period")
    # 2024-03: A 100 + 50; margin 30 (the 50 row has none)
    assert by_month.loc["2024-03-01", "revenue"] == pytest.approx(150.0)
    assert by_month.loc["2024-03-01", "gross_margin"] == pytest.approx(30.0)
    # 2022-03 (M-24) is inside the 36 months: A 999 + F 500
    assert by_month.loc["2022-03-01", "revenue"] == pytest.approx(1499.0)
    # 2023-06: B 80 without margin -> margin null; 2023-10: no rows -> 0 and 0
    assert pd.isna(by_month.loc["2023-06-01", "gross_margin"])
    assert by_month.loc["2023-10-01", "revenue"] == 0
    assert by_month.loc["2023-10-01", "gross_margin"] == 0
    # total over the 36 months: every row except the two after M
    assert result.revenue.sum() == pytest.approx(sum(r[3] for r in REVENUE) - 777 - 500)


def test_monthly_revenue_for_some_accounts_and_by_line() -> None:
    con = make_db()
    only_c = monthly_revenue(con, SETTINGS, AS_OF, account_ids=["C"]).set_index("period")
    assert only_c.revenue.sum() == pytest.approx(100 + 40 - 60)
    assert only_c.loc["2023-07-01", "gross_margin"] == pytest.approx(-12.0)
    assert monthly_revenue(con, SETTINGS, AS_OF, account_ids=[]).revenue.sum() == 0

    by_line = monthly_revenue(con, SETTINGS, AS_OF, account_ids=["A", "D"], by="product_line")
    assert list(by_line.columns) == ["period", "product_line", "revenue", "gross_margin"]
    assert len(by_line) == 36 * 2  # lines x and y, every month
    totals = by_line.groupby("product_line").revenue.sum()
    assert totals["x"] == pytest.approx(100 + 50 + 50 + 999 - 30 + 10)
    assert totals["y"] == pytest.approx(200 + 250 - 5)


def test_monthly_revenue_rejects_unknown_grouping() -> None:
    with pytest.raises(ValueError, match="product_line"):
        monthly_revenue(make_db(), SETTINGS, AS_OF, by="region")


# ---------------------------------------------------------------------------------------
# product_mix
# ---------------------------------------------------------------------------------------

MIX_COLUMNS = list(growth.PRODUCT_MIX_COLUMNS)


def test_product_mix_for_one_account() -> None:
    result = product_mix(make_db(), SETTINGS, AS_OF, account_id="A")
    expected = pd.DataFrame(
        [
            # line, ttm, prior, growth, ttm gm, gm pct, potential, whitespace, sow, open
            ("y", 200.0, 250.0, 200 / 250 - 1, 60.0, 0.3, 150.0, 0.0, 200 / 150, 0),
            ("x", 150.0, 50.0, 150 / 50 - 1, 30.0, 30 / 100, 400.0, 250.0, 150 / 400, 0),
            ("z", 0.0, 0.0, None, None, None, 100.0, 100.0, 0.0, 1),
            ("w", 0.0, 0.0, None, None, None, 0.0, 0.0, None, 0),
        ],
        columns=MIX_COLUMNS,
    ).astype({"product_line": "str", "open_accounts": "Int64"})
    assert_frame_equal(result, expected)


def test_product_mix_portfolio_sums_whitespace_per_account() -> None:
    result = product_mix(make_db(), SETTINGS, AS_OF).set_index("product_line")
    # x: ttm A 150 + B 80 + C -20 + D 10 = 220; potential A 400 + B 0 + D 50 + E 500 = 950
    assert result.loc["x", "ttm_revenue"] == pytest.approx(220.0)
    assert result.loc["x", "annual_potential"] == pytest.approx(950.0)
    # per account: A 250, B max(0 - 80, 0) = 0, D 40, E 500 -> 790 (not 950 - 220 = 730)
    assert result.loc["x", "whitespace"] == pytest.approx(790.0)
    assert result.loc["x", "share_of_wallet"] == pytest.approx(220 / 950)
    assert result.loc["x", "open_accounts"] == 1  # E
    # y: A 200, D -5; potential A 150 + D 20 + E 100; whitespace 0 + 25 + 100
    assert result.loc["y", "whitespace"] == pytest.approx(125.0)
    assert result.loc["y", "open_accounts"] == 2  # D and E
    assert list(result.index) == ["x", "y", "z", "w"]


def test_product_mix_without_potential() -> None:
    result = product_mix(make_db(["accounts", "revenue"]), SETTINGS, AS_OF)
    assert list(result.product_line) == ["x", "y"]
    assert result[["annual_potential", "whitespace", "share_of_wallet"]].isna().all().all()
    assert result.open_accounts.isna().all()


def test_portfolio_figures_follow_the_given_accounts() -> None:
    con = make_db()
    accounts = growth_by_account(con, SETTINGS, AS_OF)
    everything = growth.portfolio_figures(con, accounts)
    assert everything == {k: v for k, v in portfolio_summary(con, SETTINGS, AS_OF).items()
                          if k not in ("as_of", "currency")}
    # A and B only: A 350 and B 80; the margin over the rows that give one: A's 90 / 300
    some = growth.portfolio_figures(con, accounts[accounts["account_id"].isin(["A", "B"])])
    assert some["accounts_count"] == 2 and some["ttm_revenue"] == pytest.approx(430)
    assert some["top10_share"] == pytest.approx(1.0)
    assert some["herfindahl"] == pytest.approx((350**2 + 80**2) / 430**2)
    assert some["gross_margin_pct"] == pytest.approx(90 / 300)
    assert some["win_rate"] == pytest.approx(0.5) and some["open_opportunities"] == 4
    # no account selected: sums 0, ratios null
    none = growth.portfolio_figures(con, accounts.iloc[0:0])
    assert none["accounts_count"] == 0 and none["ttm_revenue"] == 0
    assert none["top10_share"] is None and none["gross_margin_pct"] is None


def test_deals_without_any_probability_have_no_weighted_pipeline() -> None:
    """An export without the probability column: the weighted pipeline is not known (null,
    shown "–"), not 0; the open pipeline is counted as usual. One probability anywhere makes
    the others add nothing, as the spec says."""
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "opportunities"])
    insert(con, "accounts", ("account_id", "name"), [("A", "a"), ("B", "b")])
    insert(con, "opportunities", ("opportunity_id", "account_id", "status", "amount"),
           [("O1", "A", "open", 100.0), ("O2", "B", "open", 50.0)])
    got = growth_by_account(con, SETTINGS, AS_OF).set_index("account_id")
    assert got["open_pipeline"].tolist() == [100.0, 50.0]
    assert got["weighted_pipeline"].isna().all()
    figures = portfolio_figures(con, got.reset_index())
    assert figures["open_pipeline"] == 150.0 and figures["weighted_pipeline"] is None
    con.execute("update opportunities set probability = 0.5 where opportunity_id = 'O1'")
    got = growth_by_account(con, SETTINGS, AS_OF).set_index("account_id")
    assert got["weighted_pipeline"].tolist() == [50.0, 0.0]
    assert portfolio_figures(con, got.reset_index())["weighted_pipeline"] == 50.0
