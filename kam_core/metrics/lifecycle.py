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
from typing import Any

import duckdb
import pandas as pd

from kam_core.ingest.schema import PHASES, loaded_tables
from kam_core.metrics.growth import run_frame, table_sources
from kam_core.settings import Settings

_MISSING_TEXT: dict[str, str] = {
    "accounts": "needs accounts.csv for every plan figure",
    "plan_actions": "needs plan_actions.csv for open, overdue and done actions",
    "reviews": "needs reviews.csv for last review, days since review and overdue reviews",
    "team": "needs team.csv for mentor names",
}


def missing_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Which exports would fill the plan figures that are empty now (one sentence each)."""
    loaded = loaded_tables(con)
    return [text for table, text in _MISSING_TEXT.items() if table not in loaded]


# ---------------------------------------------------------------------------------------
# plan_status_by_account
# ---------------------------------------------------------------------------------------

PLAN_STATUS_BY_ACCOUNT_SQL = """
with

accounts as (
    select account_id, phase, mentor_id from {accounts}
),

actions as (
    select
        account_id,
        due_date,
        -- a blank status defaults to open (spec §1)
        coalesce(status, 'open') as status,
    from {plan_actions}
),

actions_by_account as (
    select
        account_id,
        count(*) filter (where status = 'open') as open_actions,
        count(*) filter (where status = 'open' and due_date < $as_of) as overdue_actions,
        count(*) filter (where status = 'done') as done_actions,
    from actions
    group by account_id
),

-- reviews after as_of have not happened yet
reviews_as_of as (
    select
        account_id,
        review_date,
        rating,
    from {reviews}
    where review_date <= $as_of
),

-- the latest review; on a tie the one with the worst rating speaks
latest_review as (
    select
        account_id,
        review_date as last_review_date,
        rating as last_rating,
    from reviews_as_of
    qualify row_number() over (
        partition by account_id
        order by
            review_date desc,
            case rating
                when 'off_track' then 3
                when 'at_risk' then 2
                when 'on_track' then 1
                else 0
            end desc
    ) = 1
),

reviews_by_account as (
    select
        account_id,
        count(*) as reviews_count,
    from reviews_as_of
    group by account_id
),

final as (
    select
        accounts.account_id,
        accounts.phase,
        accounts.mentor_id,

        -- plan actions
        case when $has_plan_actions then coalesce(a.open_actions, 0) end as open_actions,
        case when $has_plan_actions then coalesce(a.overdue_actions, 0) end as overdue_actions,
        case when $has_plan_actions then coalesce(a.done_actions, 0) end as done_actions,

        -- reviews
        l.last_review_date,
        date_diff('day', l.last_review_date, $as_of) as days_since_review,
        l.last_rating,
        case
            when not $has_reviews then null
            when l.last_review_date is null then true
            else date_diff('day', l.last_review_date, $as_of) > $review_cadence_days
        end as review_overdue,
        case when $has_reviews then coalesce(r.reviews_count, 0) end as reviews_count,
    from accounts
    left join actions_by_account as a on accounts.account_id = a.account_id
    left join latest_review as l on accounts.account_id = l.account_id
    left join reviews_by_account as r on accounts.account_id = r.account_id
)

select * from final
"""

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

_PLAN_STATUS_DTYPES: dict[str, str] = {
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


def _typed(frame: pd.DataFrame, columns: tuple[str, ...], dtypes: dict[str, str]) -> pd.DataFrame:
    """Fix the column order and dtypes, whatever DuckDB inferred (an all-null column included)."""
    frame = frame.reindex(columns=list(columns))
    return frame.astype({c: dtypes[c] for c in columns})


def _params(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date) -> dict[str, Any]:
    """The table sources and query parameters shared by the per-account and mentor queries."""
    tables = table_sources(con, ("accounts", "plan_actions", "reviews", "team"))
    params = {
        "as_of": as_of,
        "review_cadence_days": int(settings.review_cadence_days),
        **tables["flags"],
    }
    return {"sources": tables["sources"], "params": params}


def plan_status_by_account(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> pd.DataFrame:
    """One row per account: phase, mentor, plan actions and the state of its reviews.

    Columns: account_id, phase, mentor_id, open_actions, overdue_actions (open, due before
    ``as_of``), done_actions, last_review_date, days_since_review (null if never reviewed),
    last_rating, review_overdue (never reviewed, or more than ``review_cadence_days`` ago),
    reviews_count. Action counts are null without a plan_actions table; review figures
    (review_overdue included) are null without a reviews table.
    """
    prepared = _params(con, settings, as_of)
    sql = PLAN_STATUS_BY_ACCOUNT_SQL.format(**prepared["sources"]) + "order by account_id"
    frame = run_frame(con, sql, prepared["params"])
    return _typed(frame, PLAN_STATUS_COLUMNS, _PLAN_STATUS_DTYPES)


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
    from {accounts}
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
    tables = table_sources(con, ("accounts",))
    if not tables["flags"]["has_accounts"]:
        return _typed(pd.DataFrame(), ("phase", "accounts_count"), dtypes)
    sql = PHASE_DISTRIBUTION_SQL.format(**tables["sources"])
    frame = run_frame(con, sql, {"phases": list(PHASES)})
    return _typed(frame, ("phase", "accounts_count"), dtypes)


# ---------------------------------------------------------------------------------------
# plan_status_by_mentor
# ---------------------------------------------------------------------------------------

PLAN_STATUS_BY_MENTOR_SQL = (
    """
with

plan_status as (
"""
    + PLAN_STATUS_BY_ACCOUNT_SQL
    + """
),

mentors as (
    select member_id, name from {team}
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
        mentors.name as mentor_name,
        by_mentor.accounts_count,
        by_mentor.reviews_overdue,
        by_mentor.open_actions,
        by_mentor.overdue_actions,
        by_mentor.oldest_review_days,
    from by_mentor
    left join mentors on by_mentor.mentor_id = mentors.member_id
)

select * from final
order by mentor_id nulls last
"""
)

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
    prepared = _params(con, settings, as_of)
    sql = PLAN_STATUS_BY_MENTOR_SQL.format(**prepared["sources"])
    frame = run_frame(con, sql, prepared["params"])
    return _typed(frame, MENTOR_COLUMNS, _MENTOR_DTYPES)
