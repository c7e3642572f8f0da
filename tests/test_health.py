"""Account health (spec §3.4): components, weighted health, status, caps and reasons."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from kam_core.ingest.schema import create_schema
from kam_core.metrics.health import HEALTH_COLUMNS, health_by_account
from kam_core.settings import Settings

AS_OF = dt.date(2025, 6, 30)


def make_con(account_ids: list[str], tables: tuple[str, ...] = ()) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_schema(con, tables=["accounts", *tables])
    for account_id in account_ids:
        con.execute("insert into accounts (account_id, name) values ($a, $a)", {"a": account_id})
    return con


def frames(
    account_ids: list[str],
    coverage: dict[str, list] | None = None,
    growth: dict[str, list] | None = None,
    plan: dict[str, list] | None = None,
) -> dict[str, pd.DataFrame]:
    """Input frames as the coverage, growth and lifecycle modules return them (partially)."""
    return {
        "coverage": pd.DataFrame({"account_id": account_ids, **(coverage or {})}),
        "growth": pd.DataFrame({"account_id": account_ids, **(growth or {})}),
        "plan": pd.DataFrame({"account_id": account_ids, **(plan or {})}),
    }


def row(frame: pd.DataFrame, account_id: str) -> pd.Series:
    return frame.set_index("account_id").loc[account_id]


def test_columns_and_order() -> None:
    con = make_con(["B", "A"])
    got = health_by_account(con, Settings(), AS_OF, **frames(["B", "A"]))
    assert tuple(got.columns) == HEALTH_COLUMNS
    assert got["account_id"].tolist() == ["A", "B"]
    # no data at all: every component null, health and status null, no reasons
    assert got["health"].isna().all() and got["status"].isna().all()
    assert got["reasons"].tolist() == [[], []]


def test_growth_component() -> None:
    ids = ["new", "fell", "boom", "flat", "norows", "lost"]
    con = make_con(ids)
    inputs = frames(
        ids,
        growth={
            # new: prior 0 < ttm → 100; fell: -0.18 → 50 - 250·0.18 = 5; boom: 0.3 → 125 → 100;
            # flat: prior 0, ttm 0, has rows → growth null → 50; norows: nothing → no data;
            # lost: prior 100, ttm 0 → growth -1 → 50 - 250 → 0
            "ttm_revenue": [100.0, 82.0, 130.0, 0.0, 0.0, 0.0],
            "prior_ttm_revenue": [0.0, 100.0, 100.0, 0.0, 0.0, 100.0],
            "revenue_growth": [None, -0.18, 0.3, None, None, -1.0],
            "has_revenue_rows": [True, True, True, True, False, True],
        },
    )
    got = health_by_account(con, Settings(), AS_OF, **inputs).set_index("account_id")
    assert got.loc[ids, "growth_score"].tolist()[:4] == pytest.approx([100.0, 5.0, 100.0, 50.0])
    assert pd.isna(got.loc["norows", "growth_score"]) and pd.isna(got.loc["norows", "health"])
    assert got.loc["lost", "growth_score"] == 0
    # health over the one component with data is that component
    assert got.loc["fell", "health"] == pytest.approx(5.0)
    assert got.loc["fell", "status"] == "red"
    assert got.loc["fell", "reasons"] == ["health 5 of 100 is below 40", "revenue fell 18 % on last year"]
    # flat: health 50 is amber, and says so
    assert got.loc["flat", "status"] == "amber"
    assert got.loc["flat", "reasons"] == ["health 50 of 100 is below 70"]
    # a different slope: 50 + 100 × -0.18 = 32
    slow = health_by_account(con, Settings({"growth_slope": 100}), AS_OF, **inputs).set_index("account_id")
    assert slow.loc["fell", "growth_score"] == pytest.approx(32.0)


def test_margin_component() -> None:
    con = make_con(["low", "high", "neg", "none"])
    inputs = frames(["low", "high", "neg", "none"], growth={"gross_margin_pct": [0.09, 0.45, -0.1, None]})
    got = health_by_account(con, Settings(), AS_OF, **inputs).set_index("account_id")
    # 100 × 0.09 / 0.30 = 30; 0.45 → 150 → 100; negative → 0; none → no data
    assert got.loc["low", "margin_score"] == pytest.approx(30.0)
    assert got.loc["high", "margin_score"] == 100.0
    assert got.loc["neg", "margin_score"] == 0.0
    assert pd.isna(got.loc["none", "margin_score"])
    assert got.loc["low", "reasons"] == ["health 30 of 100 is below 40", "gross margin 9 % against a 30 % target"]
    assert got.loc["neg", "reasons"] == ["health 0 of 100 is below 40", "gross margin -10 % against a 30 % target"]
    target = health_by_account(con, Settings({"target_margin": 0.275}), AS_OF, **inputs)
    # 100 × 0.09 / 0.275 = 32.727273
    assert row(target, "low")["margin_score"] == pytest.approx(32.727273)
    # (health 32.727 reads 33 in a reason, as the pages round it)
    assert row(target, "low")["reasons"] == ["health 33 of 100 is below 40",
                                             "gross margin 9 % against a 27.5 % target"]


def test_plan_component() -> None:
    ids = ["d0", "d90", "d135", "d144", "d180", "d200", "never"]
    con = make_con(ids, tables=("reviews",))
    inputs = frames(
        ids,
        plan={
            "days_since_review": [0, 90, 135, 144, 180, 200, None],
            "review_overdue": [False, False, True, True, True, True, True],
        },
    )
    got = health_by_account(con, Settings(), AS_OF, **inputs).set_index("account_id")
    # 100 up to 90 days, then linear to 0 at 180: 135 → 100·(180-135)/90 = 50,
    # 144 → 100·36/90 = 40 (not below 40: no reason), 180 → 0, never → 0
    assert got.loc[ids, "plan_score"].tolist() == pytest.approx([100, 100, 50, 40, 0, 0, 0])
    assert got.loc["d180", "reasons"] == ["health 0 of 100 is below 40", "no review for 180 days"]
    assert got.loc["d200", "reasons"] == ["health 0 of 100 is below 40", "no review for 200 days"]
    assert got.loc["never", "reasons"] == ["health 0 of 100 is below 40", "the account plan has never been reviewed"]
    # an overdue review that is not yet below the reason threshold is a note, not a reason
    assert got.loc["d135", "reasons"] == ["health 50 of 100 is below 70"]
    assert got.loc["d135", "notes"] == ["review overdue: last one 135 days ago"]
    assert got.loc["d90", "status"] == "green" and got.loc["d90", "reasons"] == []
    assert got.loc["d90", "notes"] == ["next review due today"]
    assert got.loc["d0", "notes"] == []


def test_plan_without_reviews_table_has_no_data() -> None:
    con = make_con(["A"])
    got = health_by_account(con, Settings(), AS_OF, **frames(["A"], plan={"days_since_review": [None]}))
    assert pd.isna(got["plan_score"].iloc[0]) and got["reasons"].iloc[0] == []


def test_activity_component() -> None:
    con = make_con(["today", "d30", "d95", "none", "future"], tables=("activities",))
    con.execute("""
        insert into activities (activity_id, date, account_id) values
            ('1', date '2025-06-30', 'today'),
            ('2', date '2025-05-31', 'd30'),
            ('3', date '2025-03-27', 'd95'),
            ('4', date '2025-01-01', 'future'),
            ('5', date '2025-07-10', 'future');   -- after as_of: ignored
    """)
    got = health_by_account(con, Settings(), AS_OF, **frames(["today", "d30", "d95", "none", "future"]))
    got = got.set_index("account_id")
    # 100 × 0.5^(days / 30): 0 → 100; 30 → 50; 95 → 11.136...; none → 0; 'future' → 180 days
    assert got.loc["today", "activity_score"] == 100.0
    assert got.loc["d30", "activity_score"] == pytest.approx(50.0)
    assert got.loc["d95", "activity_score"] == pytest.approx(100 * 0.5 ** (95 / 30), abs=1e-6)
    assert got.loc["none", "activity_score"] == 0.0
    assert got.loc["future", "activity_score"] == pytest.approx(100 * 0.5 ** (180 / 30), abs=1e-6)
    assert got.loc["d95", "reasons"] == ["health 11 of 100 is below 40", "no activity for 95 days"]
    assert got.loc["none", "reasons"] == ["health 0 of 100 is below 40", "no activity recorded"]
    # without an activities table the component has no data
    plain = make_con(["A"])
    assert pd.isna(health_by_account(plain, Settings(), AS_OF, **frames(["A"]))["activity_score"].iloc[0])


def test_weighted_health_and_status_thresholds() -> None:
    ids = ["mix", "g70", "a40", "r39"]
    con = make_con(ids, tables=("reviews",))
    inputs = frames(
        ids,
        coverage={"coverage": [80.0, 70.0, 40.0, 39.99], "king_covered": [True] * 4},
        growth={
            "ttm_revenue": [110.0, None, None, None],
            "prior_ttm_revenue": [100.0, None, None, None],
            "revenue_growth": [0.1, None, None, None],
            "gross_margin_pct": [0.15, None, None, None],
            "has_revenue_rows": [True, False, False, False],
        },
        plan={"days_since_review": [135, None, None, None]},
    )
    # only 'mix' was reviewed; the others score plan 0 (never reviewed), so the second part
    # below weighs coverage alone
    got = health_by_account(con, Settings(), AS_OF, **inputs).set_index("account_id")
    # mix: coverage 80, growth 50+25 = 75, margin 100·0.15/0.3 = 50, plan 50, no activity
    # table → (0.30·80 + 0.25·75 + 0.15·50 + 0.15·50) / (0.30+0.25+0.15+0.15)
    #       = (24 + 18.75 + 7.5 + 7.5) / 0.85 = 57.75 / 0.85 = 67.941176
    assert got.loc["mix", "health"] == pytest.approx(67.941176)
    assert got.loc["mix", "status"] == "amber"
    weights = {"coverage": 1, "growth": 0, "margin": 0, "plan": 0, "activity": 0}
    only_coverage = health_by_account(con, Settings({"health_weights": weights}), AS_OF, **inputs)
    only_coverage = only_coverage.set_index("account_id")
    # health = coverage: exactly 40 → amber, 39.99 → red
    assert only_coverage.loc[["g70", "a40", "r39"], "health"].tolist() == pytest.approx([70, 40, 39.99])
    assert only_coverage.loc[["a40", "r39"], "status"].tolist() == ["amber", "red"]
    # a component below 40 makes the account amber and is a reason even when it weighs 0
    # (reviews loaded, never reviewed): health 70 alone is not green
    never = "the account plan has never been reviewed"
    assert only_coverage.loc["g70", "status"] == "amber"
    assert only_coverage.loc["g70", "reasons"] == [never]
    # 39.99 rounds to 40, the threshold it is below: the reason cuts it to one decimal
    assert only_coverage.loc["r39", "reasons"] == ["health 39.9 of 100 is below 40", "coverage is only 40 of 100", never]
    assert only_coverage.loc["a40", "reasons"] == ["health 40 of 100 is below 70", never]
    # without the plan's weight and data, exactly 70 is green
    no_reviews = make_con(ids)
    green = health_by_account(no_reviews, Settings({"health_weights": weights}), AS_OF, **inputs)
    assert row(green, "g70")["status"] == "green" and row(green, "g70")["reasons"] == []


def test_king_opponent_is_red() -> None:
    con = make_con(["A", "B"], tables=("contacts",))
    con.execute("""
        insert into contacts (contact_id, account_id, name, piece, attitude, is_active) values
            ('K1', 'A', 'Dr. X', 'king', 'opponent', true),
            ('K2', 'B', 'Old King', 'king', 'opponent', false),  -- inactive: no cap
            ('K3', 'B', 'New King', 'king', 'champion', true);
    """)
    inputs = frames(
        ["A", "B"],
        coverage={
            "coverage": [95.0, 95.0],
            "king_covered": [True, True],
            "king_attitude": ["opponent", "champion"],
            "contacts_count": [1, 2],
        },
    )
    got = health_by_account(con, Settings(), AS_OF, **inputs).set_index("account_id")
    assert got.loc["A", "health"] == 95.0
    assert got.loc["A", "status"] == "red"
    assert got.loc["A", "reasons"] == ["the king (Dr. X) is an opponent"]
    assert got.loc["B", "status"] == "green"
    assert got.loc["B", "reasons"] == []


def test_king_not_covered_caps_green_to_amber() -> None:
    con = make_con(["uncovered", "noking", "amber"])
    inputs = frames(
        ["uncovered", "noking", "amber"],
        coverage={
            "coverage": [90.0, 90.0, 50.0],
            "king_covered": [False, False, False],
            "king_attitude": ["neutral", None, "neutral"],
            "contacts_count": [3, 3, 3],
        },
    )
    got = health_by_account(con, Settings(), AS_OF, **inputs).set_index("account_id")
    assert got.loc["uncovered", "health"] == 90.0
    assert got.loc["uncovered", "status"] == "amber"
    assert got.loc["uncovered", "reasons"] == ["the king is not covered"]
    assert got.loc["noking", "status"] == "amber"
    assert got.loc["noking", "reasons"] == ["no king identified"]
    # amber by its health too: both conditions are told
    assert got.loc["amber", "status"] == "amber"
    assert got.loc["amber", "reasons"] == ["health 50 of 100 is below 70", "the king is not covered"]


def test_mentor_facts_in_reasons() -> None:
    con = make_con(["A"], tables=("team",))
    con.execute("insert into team values ('M1', 'Anna Berg', null, null, null, true)")
    inputs = frames(
        ["A"],
        coverage={
            "coverage": [23.0],
            "king_covered": [True],
            "king_attitude": ["neutral"],
            "contacts_count": [4],
            "threads": [1],
            "single_threaded": [True],
            "key_person_dependency": [0.8],
            "key_person_id": ["M1"],
            "high_influence_opponents": [2],
        },
        plan={"overdue_actions": [3]},
    )
    got = health_by_account(con, Settings(), AS_OF, **inputs)
    assert got["status"].iloc[0] == "red"
    assert got["reasons"].iloc[0] == [
        "health 23 of 100 is below 40",
        "coverage is only 23 of 100",
        "coverage depends 80 % on one person (Anna Berg)",
        "single-threaded: only one team member has a strong relationship",
        "3 plan actions overdue",
    ]
    # not a condition of the status: a note
    assert got["notes"].iloc[0] == ["2 high-influence opponents"]
    assert got["overdue_actions"].iloc[0] == 3


@pytest.mark.parametrize(("dependency", "threshold", "told"), [
    (0.5, None, True),  # the default, 50 %: exactly 50 % is told
    (0.49, None, False),
    (0.8, 0.9, False),  # a stricter setting
    (0.9, 0.9, True),
])
def test_key_person_reason_threshold(dependency: float, threshold: float | None, told: bool) -> None:
    con = make_con(["A"])
    inputs = frames(["A"], coverage={"coverage": [80.0], "king_covered": [True], "contacts_count": [4],
                                     "threads": [3], "single_threaded": [False],
                                     "key_person_dependency": [dependency], "key_person_id": ["M1"]})
    settings = Settings() if threshold is None else Settings({"key_person_reason": threshold})
    reasons = health_by_account(con, settings, AS_OF, **inputs)["reasons"].iloc[0]
    expected = f"coverage depends {round(dependency * 100)} % on one person (M1)"
    assert (expected in reasons) is told, reasons


def test_with_the_real_input_modules() -> None:
    """health_by_account computes its inputs itself when none are given."""
    con = make_con(["A"], tables=("contacts", "relationships", "revenue", "reviews", "activities"))
    con.execute("""
        insert into contacts (contact_id, account_id, name, piece, attitude, is_active) values
            ('K', 'A', 'Kim', 'king', 'champion', true);
        insert into relationships values ('M1', 'K', 4, date '2025-06-30');   -- coverage 100
        insert into revenue values ('A', date '2025-06-01', 'L1', 100, 30);  -- new account
        insert into reviews (account_id, review_date) values ('A', date '2025-04-01');  -- 90 days
        insert into activities (activity_id, date, account_id) values ('1', date '2025-06-30', 'A');
    """)
    got = health_by_account(con, Settings(), AS_OF)
    # coverage 100, growth 100 (new), margin 100·0.3/0.3 = 100, plan 100 (90 days), activity 100
    assert (
        got.iloc[0][
            ["coverage_score", "growth_score", "margin_score", "plan_score", "activity_score", "health"]
        ].tolist()
        == [100.0] * 6
    )
    # one member (no team table: named by id) carries all the coverage: amber, whatever the health
    assert got["status"].iloc[0] == "amber"
    assert got["reasons"].iloc[0] == [
        "coverage depends 100 % on one person (M1)",
        "single-threaded: only one team member has a strong relationship",
    ]


# ---- health v2: overdue actions, the mentor's rating, status ⇔ reasons ---------------------


def test_overdue_actions_lower_the_plan_component() -> None:
    ids = ["none", "one", "three", "five"]
    con = make_con(ids, tables=("reviews", "plan_actions"))
    inputs = frames(ids, plan={"days_since_review": [10, 10, 135, 10], "overdue_actions": [0, 1, 3, 5]})
    got = health_by_account(con, Settings(), AS_OF, **inputs).set_index("account_id")
    # 100 - 25·0 = 100; 100 - 25 = 75; 50 - 75 → 0 (floored); 100 - 125 → 0
    assert got.loc[ids, "plan_score"].tolist() == [100.0, 75.0, 0.0, 0.0]
    assert got.loc["none", "status"] == "green" and got.loc["none", "reasons"] == []
    assert got.loc["one", "status"] == "amber" and got.loc["one", "reasons"] == ["1 plan action overdue"]
    assert got.loc["five", "reasons"] == [
        "health 0 of 100 is below 40", "plan score 0 of 100 after overdue actions", "5 plan actions overdue"]
    # the review alone (135 days: 50) is not below 40: the overdue actions brought it down
    assert got.loc["three", "reasons"] == [
        "health 0 of 100 is below 40", "plan score 0 of 100 after overdue actions", "3 plan actions overdue"]
    # the penalty is a setting: 10 a piece → 100 - 10 = 90
    mild = health_by_account(con, Settings({"overdue_action_penalty": 10}), AS_OF, **inputs)
    assert row(mild, "one")["plan_score"] == 90.0


def test_overdue_actions_from_the_plan_actions_table() -> None:
    con = make_con(["A", "B"], tables=("reviews", "plan_actions"))
    con.execute("""
        insert into reviews (account_id, review_date) values ('A', date '2025-06-01'), ('B', date '2025-06-01');
        insert into plan_actions (action_id, account_id, objective, due_date, status) values
            ('1', 'A', 'late', date '2025-06-29', 'open'),
            ('2', 'A', 'due today', date '2025-06-30', 'open'),   -- not overdue yet
            ('3', 'A', 'done late', date '2025-01-01', 'done');
    """)
    got = health_by_account(con, Settings(), AS_OF).set_index("account_id")
    assert got.loc["A", "overdue_actions"] == 1 and got.loc["B", "overdue_actions"] == 0
    assert got.loc["A", "plan_score"] == 75.0 and got.loc["B", "plan_score"] == 100.0
    # no plan_actions table: overdue_actions is unknown, not 0, and nothing is subtracted
    plain = make_con(["A"], tables=("reviews",))
    plain.execute("insert into reviews (account_id, review_date) values ('A', date '2025-06-01')")
    alone = health_by_account(plain, Settings(), AS_OF)
    assert pd.isna(alone["overdue_actions"].iloc[0]) and alone["plan_score"].iloc[0] == 100.0


def test_the_mentors_latest_rating_colours_the_account() -> None:
    ids = ["off", "risk", "fine", "unrated", "tie", "future"]
    con = make_con(ids, tables=("reviews",))
    con.execute("""
        insert into reviews (account_id, review_date, rating) values
            ('off', date '2025-06-01', 'off_track'),
            ('risk', date '2025-05-01', 'on_track'),
            ('risk', date '2025-06-01', 'at_risk'),
            ('fine', date '2025-06-01', 'on_track'),
            ('unrated', date '2025-05-01', 'at_risk'),
            ('unrated', date '2025-06-01', null),      -- the latest review with a rating speaks
            ('tie', date '2025-06-01', 'on_track'),
            ('tie', date '2025-06-01', 'off_track'),   -- same day: the worst
            ('future', date '2025-06-01', 'on_track'),
            ('future', date '2025-07-01', 'off_track'); -- after as_of: not yet
    """)
    got = health_by_account(con, Settings(), AS_OF).set_index("account_id")
    assert got.loc[ids, "latest_rating"].tolist() == ["off_track", "at_risk", "on_track", "at_risk", "off_track",
                                                      "on_track"]
    # plan 100 for all (29 days since the review): only the rating speaks
    assert got.loc[ids, "status"].tolist() == ["red", "amber", "green", "amber", "red", "green"]
    assert got.loc["off", "reasons"] == ["the mentor rated the account off track on 2025-06-01"]
    assert got.loc["risk", "reasons"] == ["the mentor rated the account at risk on 2025-06-01"]
    assert got.loc["unrated", "reasons"] == ["the mentor rated the account at risk on 2025-05-01"]
    assert got.loc["fine", "reasons"] == []


def test_single_threaded_only_where_there_are_contacts() -> None:
    con = make_con(["empty", "thin"])
    inputs = frames(["empty", "thin"], coverage={"coverage": [None, 90.0], "contacts_count": [0, 3],
                                                 "king_covered": [True, True], "threads": [0, 1],
                                                 "single_threaded": [True, True]})
    got = health_by_account(con, Settings(), AS_OF, **inputs).set_index("account_id")
    assert got.loc["empty", "reasons"] == [] and pd.isna(got.loc["empty", "status"])  # no data at all
    assert got.loc["thin", "reasons"] == ["single-threaded: only one team member has a strong relationship"]
    assert got.loc["thin", "status"] == "amber"


def test_green_exactly_when_there_is_no_reason_on_the_demo() -> None:
    import tempfile
    from pathlib import Path

    from kam_core.appdata import DEMO_DIR
    from kam_core.ingest.loader import load
    from kam_core.metrics.report import build_report

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.duckdb"
        load([DEMO_DIR], db)
        con = duckdb.connect(str(db), read_only=True)
        got = build_report(con, "health", Settings())
        con.close()
    assert len(got) == 150
    has_status = got[got["status"].notna()]
    assert len(has_status) > 0
    for status, reasons in zip(has_status["status"], has_status["reasons"], strict=True):  # (rows asserted above)
        assert (status == "green") == (len(reasons) == 0), (status, reasons)
    assert {"amber", "red"} <= set(has_status["status"])
