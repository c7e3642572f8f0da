"""The account plan's life: phase, actions and mentor reviews per account and per mentor.

Reviews dated after ``as_of`` are ignored (they have not happened yet). Plan actions carry
no creation date, so they are counted as stored; an open action is overdue when its due
date lies before ``as_of``. A table that was not loaded gives null for the figures that
need it (never an exception); a loaded but empty table gives 0.

>>> import duckdb, datetime
>>> from kam_core.ingest.schema import create_schema
>>> from kam_core.settings import Settings
>>> con = duckdb.connect()
>>> create_schema(con, tables=["accounts", "reviews"])
>>> _ = con.execute("insert into accounts (account_id, name, phase) values ('A', 'Acme', 'growth')")
>>> _ = con.execute("insert into reviews (account_id, review_date) values ('A', date '2024-01-01')")
>>> row = plan_status_by_account(con, Settings(), datetime.date(2024, 4, 1)).iloc[0]
>>> int(row.days_since_review), bool(row.review_overdue)
(91, True)
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from kam_core.ingest.schema import PHASES
from kam_core.metrics.pipeline import run_pipeline
from kam_core.metrics.sources import loaded_inputs, missing_messages, reading
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame


def missing_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Which exports would fill the plan figures that are empty now (one sentence each)."""
    return missing_messages(loaded_inputs(con), "plan")


# ---------------------------------------------------------------------------------------
# plan_status_by_account
# ---------------------------------------------------------------------------------------

PLAN_STATUS_COLUMNS: tuple[str, ...] = (
    "account_id",
    "phase",
    "mentor_id",
    "open_actions",
    "overdue_actions",
    "done_actions",
    "last_review_date",
    "days_since_review",
    "last_rating",
    "review_overdue",
    "reviews_count",
)


def _typed(frame: pd.DataFrame, columns: tuple[str, ...], dtypes: dict[str, str]) -> pd.DataFrame:
    """Fix the column order and dtypes, whatever DuckDB inferred (an all-null column included)."""
    frame = frame.reindex(columns=list(columns))
    return frame.astype({c: dtypes[c] for c in columns})


def plan_status_by_account(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> pd.DataFrame:
    """One row per account: phase, mentor, plan actions and the state of its reviews (the
    pipeline's step ``plan``, ``sql/plan.sql``).

    Columns: account_id, phase, mentor_id, open_actions, overdue_actions (open, due before
    ``as_of``), done_actions, last_review_date, days_since_review (null if never reviewed),
    last_rating, review_overdue (never reviewed, or more than ``review_cadence_days`` ago),
    reviews_count. Action counts are null without a plan_actions table; review figures
    (review_overdue included) are null without a reviews table.
    """
    with run_pipeline(con, settings, as_of, ("plan",)) as steps:
        return steps.frame("plan", PLAN_STATUS_COLUMNS)


# ---------------------------------------------------------------------------------------
# phase_distribution
# ---------------------------------------------------------------------------------------

PHASE_DISTRIBUTION_SQL = """
with

phases as (
    select
        unnest($phases) as phase,
        generate_subscripts($phases, 1) as phase_order,
),

accounts_by_phase as (
    select
        coalesce(phase, 'unknown') as phase,
        count(*) as accounts_count,
    from accounts
    group by all
),

final as (
    select
        coalesce(phases.phase, accounts_by_phase.phase) as phase,
        coalesce(accounts_by_phase.accounts_count, 0) as accounts_count,
        phases.phase_order,
    from phases
    full join accounts_by_phase on phases.phase = accounts_by_phase.phase
)

select phase, accounts_count from final
order by phase_order nulls last, phase = 'unknown', phase
"""


def phase_distribution(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> pd.DataFrame:
    """Accounts per plan phase: all five phases in lifecycle order (0 included), then
    'unknown' for accounts without a phase, if any. Empty without an accounts table.
    """
    del settings, as_of  # the phase is stored as is; it has no history
    dtypes = {"phase": "str", "accounts_count": "int64"}
    loaded = loaded_inputs(con)
    if "accounts" not in loaded:
        return _typed(pd.DataFrame(), ("phase", "accounts_count"), dtypes)
    with reading(con, loaded) as cur:
        frame = fetch_frame(cur, PHASE_DISTRIBUTION_SQL, {"phases": list(PHASES)})
    return _typed(frame, ("phase", "accounts_count"), dtypes)


# ---------------------------------------------------------------------------------------
# plan_status_by_mentor
# ---------------------------------------------------------------------------------------

# Over the step "plan" and the team.
PLAN_STATUS_BY_MENTOR_SQL = """
with

plan_status as (
    select * from step_plan
),

by_mentor as (
    select
        mentor_id,
        count(*) as accounts_count,
        -- sums stay null without the table they need
        sum(review_overdue::integer) as reviews_overdue,
        sum(open_actions) as open_actions,
        sum(overdue_actions) as overdue_actions,
        -- over the accounts reviewed at least once; never-reviewed ones are overdue
        max(days_since_review) as oldest_review_days,
    from plan_status
    group by mentor_id
),

final as (
    select
        by_mentor.mentor_id,
        team.name as mentor_name,
        by_mentor.accounts_count,
        by_mentor.reviews_overdue,
        by_mentor.open_actions,
        by_mentor.overdue_actions,
        by_mentor.oldest_review_days,
    from by_mentor
    left join team
        on team.member_id = by_mentor.mentor_id
)

select * from final
order by mentor_id nulls last
"""

MENTOR_COLUMNS: tuple[str, ...] = (
    "mentor_id",
    "mentor_name",
    "accounts_count",
    "reviews_overdue",
    "open_actions",
    "overdue_actions",
    "oldest_review_days",
)

_MENTOR_DTYPES: dict[str, str] = {
    "mentor_id": "str",
    "mentor_name": "str",
    "accounts_count": "int64",
    "reviews_overdue": "Int64",
    "open_actions": "Int64",
    "overdue_actions": "Int64",
    "oldest_review_days": "Int64",
}


def plan_status_by_mentor(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> pd.DataFrame:
    """One row per mentor (accounts' ``mentor_id``; null for accounts without a mentor).

    Columns: mentor_id, mentor_name (null without a team table), accounts_count,
    reviews_overdue, open_actions, overdue_actions, oldest_review_days (the longest time
    since a review among the mentor's reviewed accounts; null if none was reviewed).
    Review figures are null without a reviews table, action figures without plan_actions.
    """
    with run_pipeline(con, settings, as_of, ("plan",)) as steps:
        frame = steps.query(PLAN_STATUS_BY_MENTOR_SQL)
    return _typed(frame, MENTOR_COLUMNS, _MENTOR_DTYPES)
