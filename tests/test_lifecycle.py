"""Plan status per account and mentor, phase distribution: hand-computed on a tiny portfolio.

as_of is 2024-04-10. 2024-01-11 is exactly 90 days before it (Jan 11→31: 20, Feb: 29,
Mar: 31, Apr: 10), 2024-01-10 is 91 days before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kam_core.ingest.schema import create_schema
from kam_core.metrics.lifecycle import (
    MENTOR_COLUMNS,
    PLAN_STATUS_COLUMNS,
    missing_inputs,
    phase_distribution,
    plan_status_by_account,
    plan_status_by_mentor,
)
from kam_core.settings import Settings

AS_OF = dt.date(2024, 4, 10)
SETTINGS = Settings()
D = dt.date

TEAM = [("m1", "Maria"), ("m2", "Jonas")]

# (account_id, name, phase, mentor_id)
ACCOUNTS = [
    ("A", "Acme", "growth", "m1"),
    ("B", "Bolt", "pre_sales", "m1"),
    ("C", "Cobalt", None, "m2"),
    ("D", "Delta", "delivery", None),
]

# (action_id, account_id, objective, due_date, status)
ACTIONS = [
    ("a1", "A", "renew frame contract", D(2024, 4, 9), "open"),  # due yesterday: overdue
    ("a2", "A", "meet the CFO", D(2024, 4, 10), "open"),  # due today: not overdue yet
    ("a3", "A", "workshop", D(2024, 1, 1), "done"),  # done: never overdue
    ("a4", "A", "map the board", None, None),  # blank status is open; no due date
    ("a5", "C", "reference visit", D(2024, 1, 1), "done"),
    ("a6", "D", "escalation", D(2024, 1, 1), "open"),
]

# (account_id, review_date, mentor_id, rating)
REVIEWS = [
    ("A", D(2023, 6, 1), "m1", "on_track"),
    ("A", D(2024, 1, 11), "m1", "at_risk"),  # 90 days ago: not overdue
    ("A", D(2024, 4, 20), "m1", "off_track"),  # after as_of: ignored
    ("B", D(2024, 1, 10), "m1", "on_track"),  # 91 days ago: overdue
    ("B", D(2024, 1, 10), "m1", "off_track"),  # same day: the worse rating is the last
    ("D", D(2024, 5, 1), None, "on_track"),  # only after as_of: never reviewed
]


def insert(con: duckdb.DuckDBPyConnection, table: str, columns: Iterable[str], rows) -> None:
    columns = list(columns)
    marks = ", ".join("?" for _ in columns)
    if rows:
        con.executemany(f"insert into {table} ({', '.join(columns)}) values ({marks})", rows)


def make_db(tables: Iterable[str] = ("team", "accounts", "plan_actions", "reviews")):
    tables = list(tables)
    con = duckdb.connect()
    create_schema(con, tables=tables)
    rows = {
        "team": (("member_id", "name"), TEAM),
        "accounts": (("account_id", "name", "phase", "mentor_id"), ACCOUNTS),
        "plan_actions": (("action_id", "account_id", "objective", "due_date", "status"), ACTIONS),
        "reviews": (("account_id", "review_date", "mentor_id", "rating"), REVIEWS),
    }
    for table in tables:
        insert(con, table, *rows[table])
    return con


STATUS_DTYPES = {
    "account_id": "str",
    "phase": "str",
    "mentor_id": "str",
    "open_actions": "Int64",
    "overdue_actions": "Int64",
    "done_actions": "Int64",
    "last_review_date": "datetime64[us]",
    "days_since_review": "Int64",
    "last_rating": "str",
    "review_overdue": "boolean",
    "reviews_count": "Int64",
}


def status_frame(rows: list[tuple]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(PLAN_STATUS_COLUMNS))
    return out.astype(STATUS_DTYPES)


def test_plan_status_by_account_hand_computed() -> None:
    result = plan_status_by_account(make_db(), SETTINGS, AS_OF)
    # fmt: off
    expected = status_frame([
        # id, phase, mentor, open, overdue, done, last review, days, rating, overdue?, reviews
        ("A", "growth", "m1", 3, 1, 1, D(2024, 1, 11), 90, "at_risk", False, 2),
        ("B", "pre_sales", "m1", 0, 0, 0, D(2024, 1, 10), 91, "off_track", True, 2),
        ("C", None, "m2", 0, 0, 1, None, None, None, True, 0),  # never reviewed
        ("D", "delivery", None, 1, 1, 0, None, None, None, True, 0),  # review after as_of
    ])
    # fmt: on
    assert_frame_equal(result, expected)


def test_review_cadence_is_a_setting() -> None:
    # with a 91-day cadence, B's review 91 days ago is no longer overdue
    result = plan_status_by_account(make_db(), Settings({"review_cadence_days": 91}), AS_OF)
    assert list(result.review_overdue) == [False, False, True, True]


def test_as_of_decides_which_reviews_exist() -> None:
    # on 2024-04-20 A's off_track review (that day) is the latest: 0 days, 3 reviews
    result = plan_status_by_account(make_db(), SETTINGS, D(2024, 4, 20)).set_index("account_id")
    assert result.loc["A", "last_rating"] == "off_track"
    assert result.loc["A", "days_since_review"] == 0
    assert result.loc["A", "reviews_count"] == 3
    assert result.loc["D", "reviews_count"] == 0
    # a1 (due 04-09) and a2 (due 04-10) are both overdue now; a6 still is
    assert result.loc["A", "overdue_actions"] == 2


def test_without_plan_actions_and_reviews_the_figures_are_null() -> None:
    result = plan_status_by_account(make_db(["accounts"]), SETTINGS, AS_OF)
    expected = status_frame([(a, phase, mentor, *[None] * 8) for a, _, phase, mentor in ACCOUNTS])
    assert_frame_equal(result, expected)


def test_loaded_but_empty_tables_give_zero_and_overdue() -> None:
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "plan_actions", "reviews"])
    insert(con, "accounts", ("account_id", "name"), [("A", "a")])
    row = plan_status_by_account(con, SETTINGS, AS_OF).iloc[0]
    assert (row.open_actions, row.overdue_actions, row.done_actions) == (0, 0, 0)
    assert row.reviews_count == 0
    assert bool(row.review_overdue) is True
    assert pd.isna(row.days_since_review)


def test_no_tables_at_all_never_raises() -> None:
    con = duckdb.connect()
    assert plan_status_by_account(con, SETTINGS, AS_OF).empty
    assert list(plan_status_by_account(con, SETTINGS, AS_OF).columns) == list(PLAN_STATUS_COLUMNS)
    assert plan_status_by_mentor(con, SETTINGS, AS_OF).empty
    assert phase_distribution(con, SETTINGS, AS_OF).empty


# ---------------------------------------------------------------------------------------
# phase_distribution
# ---------------------------------------------------------------------------------------


def test_phase_distribution_lists_every_phase_and_unknown() -> None:
    result = phase_distribution(make_db(), SETTINGS, AS_OF)
    expected = pd.DataFrame(
        {
            "phase": ["pre_sales", "negotiation", "delivery", "review", "growth", "unknown"],
            "accounts_count": [1, 0, 1, 0, 1, 1],  # C has no phase
        }
    ).astype({"phase": "str", "accounts_count": "int64"})
    assert_frame_equal(result, expected)


def test_phase_distribution_without_null_phase_has_no_unknown() -> None:
    con = duckdb.connect()
    create_schema(con, tables=["accounts"])
    insert(con, "accounts", ("account_id", "name", "phase"), [("A", "a", "review")])
    result = phase_distribution(con, SETTINGS, AS_OF)
    assert list(result.phase) == ["pre_sales", "negotiation", "delivery", "review", "growth"]
    assert list(result.accounts_count) == [0, 0, 0, 1, 0]


# ---------------------------------------------------------------------------------------
# plan_status_by_mentor
# ---------------------------------------------------------------------------------------

MENTOR_DTYPES = {
    "mentor_id": "str",
    "mentor_name": "str",
    "accounts_count": "int64",
    "reviews_overdue": "Int64",
    "open_actions": "Int64",
    "overdue_actions": "Int64",
    "oldest_review_days": "Int64",
}


def test_plan_status_by_mentor_hand_computed() -> None:
    result = plan_status_by_mentor(make_db(), SETTINGS, AS_OF)
    # fmt: off
    expected = pd.DataFrame([
        # mentor, name, accounts, reviews overdue, open, overdue, oldest review days
        ("m1", "Maria", 2, 1, 3, 1, 91),  # A (90 days, 3 open, 1 overdue) + B (91 days)
        ("m2", "Jonas", 1, 1, 0, 0, None),  # C never reviewed
        (None, None, 1, 1, 1, 1, None),  # D has no mentor
    ], columns=list(MENTOR_COLUMNS)).astype(MENTOR_DTYPES)
    # fmt: on
    assert_frame_equal(result, expected)


def test_plan_status_by_mentor_without_team_reviews_or_actions() -> None:
    result = plan_status_by_mentor(make_db(["accounts"]), SETTINGS, AS_OF)
    assert list(result.mentor_id.fillna("-")) == ["m1", "m2", "-"]
    assert list(result.accounts_count) == [2, 1, 1]
    nullable = ["mentor_name", "reviews_overdue", "open_actions", "overdue_actions"]
    assert result[nullable + ["oldest_review_days"]].isna().all().all()


def test_missing_inputs() -> None:
    assert missing_inputs(make_db()) == []
    texts = missing_inputs(make_db(["accounts"]))
    assert any("plan_actions.csv" in t for t in texts)
    assert any("reviews.csv" in t for t in texts)
    assert any("team.csv" in t for t in texts)


@pytest.mark.parametrize("days, overdue", [(0, False), (90, False), (91, True), (400, True)])
def test_review_overdue_boundary(days: int, overdue: bool) -> None:
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "reviews"])
    insert(con, "accounts", ("account_id", "name"), [("A", "a")])
    review_date = AS_OF - dt.timedelta(days=days)
    insert(con, "reviews", ("account_id", "review_date"), [("A", review_date)])
    row = plan_status_by_account(con, SETTINGS, AS_OF).iloc[0]
    assert row.days_since_review == days
    assert bool(row.review_overdue) is overdue
