"""Account health (spec §3.4): the mentor's one-glance view of every account.

Five components, each 0–100, are combined into ``health`` (a weighted mean over the
components that have data) and a traffic-light ``status``:

- coverage: the relationship ``coverage`` (§3.2);
- growth: ``clamp(50 + growth_slope × revenue_growth, 0, 100)``; a new account (prior ttm
  revenue ≤ 0 < ttm revenue) scores 100; otherwise an unmeasurable growth scores 50 when
  the account has revenue rows in either window and has no data when it has none;
- margin: ``clamp(100 × gross_margin_pct / target_margin, 0, 100)``;
- plan: 100 up to ``review_cadence_days`` since the latest review, falling linearly to 0 at
  ``review_zero_days``; 0 if never reviewed (no data without a reviews table);
- activity: ``100 × 0.5^(days since the latest activity / activity_half_life_days)``, 0 if
  none (no data without an activities table).

``status`` is green from ``status_green``, amber from ``status_amber``, red below; it is red
whenever an active king is an opponent, and a green is lowered to amber when the king is not
covered. ``reasons`` says why, in plain words.

>>> import datetime as dt, duckdb, pandas as pd
>>> from kam_core.ingest.schema import create_schema
>>> from kam_core.settings import Settings
>>> con = duckdb.connect()
>>> create_schema(con, tables=["accounts"])
>>> _ = con.execute("insert into accounts (account_id, name) values ('A', 'Acme')")
>>> coverage = pd.DataFrame({"account_id": ["A"], "coverage": [80.0], "king_covered": [True],
...                          "king_attitude": ["supporter"]})
>>> growth = pd.DataFrame({"account_id": ["A"], "ttm_revenue": [110.0],
...                        "prior_ttm_revenue": [100.0], "revenue_growth": [0.1],
...                        "gross_margin_pct": [0.3], "has_revenue_rows": [True]})
>>> plan = pd.DataFrame({"account_id": ["A"], "days_since_review": [None]})
>>> row = health_by_account(con, Settings(), dt.date(2025, 1, 1), coverage, growth, plan)
>>> row[["coverage_score", "growth_score", "margin_score", "health", "status"]].to_dict("records")
[{'coverage_score': 80.0, 'growth_score': 75.0, 'margin_score': 100.0, 'health': 82.5, \
'status': 'green'}]
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb
import pandas as pd

from kam_core.asof import resolve_as_of
from kam_core.ingest.schema import loaded_tables
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame

__all__ = ["HEALTH_COLUMNS", "health_by_account"]

# Columns of ``health_by_account``, in order (the ``health`` report uses the same names).
HEALTH_COLUMNS: tuple[str, ...] = (
    "account_id",
    "coverage_score",
    "growth_score",
    "margin_score",
    "plan_score",
    "activity_score",
    "health",
    "status",
    "reasons",
)

COVERAGE_VIEW = "_kam_health_coverage"
GROWTH_VIEW = "_kam_health_growth"
PLAN_VIEW = "_kam_health_plan"

# Columns each input frame must provide (others are ignored); a missing one is read as null.
_COVERAGE_INPUT = {
    "account_id": "str",
    "contacts_count": "Int64",
    "coverage": "float64",
    "king_covered": "boolean",
    "threads": "Int64",
    "single_threaded": "boolean",
    "key_person_dependency": "float64",
    "key_person_id": "str",
    "high_influence_opponents": "Int64",
    "king_attitude": "str",
}
_GROWTH_INPUT = {
    "account_id": "str",
    "ttm_revenue": "float64",
    "prior_ttm_revenue": "float64",
    "revenue_growth": "float64",
    "gross_margin_pct": "float64",
    "has_revenue_rows": "boolean",
}
_PLAN_INPUT = {
    "account_id": "str",
    "days_since_review": "Int64",
    "review_overdue": "boolean",
    "overdue_actions": "Int64",
}

# ---------------------------------------------------------------------------------------
# SQL: optional sources are chosen structurally (which constant), never from values.
# ---------------------------------------------------------------------------------------

_LAST_ACTIVITY_LOADED = """
last_activity as (
    select
        account_id,
        max(date) as last_activity_date,
    from activities
    -- events after as_of have not happened yet
    where date <= $as_of
    group by account_id
)"""

_LAST_ACTIVITY_EMPTY = """
last_activity as (
    select
        cast(null as varchar) as account_id,
        cast(null as date) as last_activity_date,
    where false
)"""

_OPPONENT_KINGS_LOADED = """
opponent_kings as (
    select
        account_id,
        count(*) as kings_count,
        string_agg(name, ', ' order by name) as king_names,
    from contacts
    where piece = 'king'
        and attitude = 'opponent'
        and coalesce(is_active, true)
    group by account_id
)"""

_OPPONENT_KINGS_EMPTY = """
opponent_kings as (
    select
        cast(null as varchar) as account_id,
        cast(null as bigint) as kings_count,
        cast(null as varchar) as king_names,
    where false
)"""

_MEMBERS_LOADED = """
members as (
    select
        member_id,
        name as member_name,
    from team
)"""

_MEMBERS_EMPTY = """
members as (
    select
        cast(null as varchar) as member_id,
        cast(null as varchar) as member_name,
    where false
)"""

HEALTH_SQL = """
with

account_base as (
    select account_id from accounts
),

coverage as (
    select * from _kam_health_coverage
),

growth as (
    select * from _kam_health_growth
),

plan as (
    select * from _kam_health_plan
),

{last_activity},

{opponent_kings},

{members},

inputs as (
    select
        account_base.account_id,
        -- coverage (§3.2)
        coverage.coverage,
        coverage.contacts_count,
        coverage.king_covered,
        coverage.king_attitude,
        coverage.threads,
        coverage.single_threaded,
        coverage.key_person_dependency,
        coalesce(members.member_name, coverage.key_person_id) as key_person_name,
        coverage.high_influence_opponents,
        opponent_kings.kings_count as opponent_kings_count,
        opponent_kings.king_names as opponent_king_names,
        -- growth (§3.3)
        growth.ttm_revenue,
        growth.prior_ttm_revenue,
        growth.revenue_growth,
        growth.gross_margin_pct,
        growth.has_revenue_rows,
        -- plan and activity
        -- a review dated after as_of cannot happen (ignored upstream); never negative
        case when plan.days_since_review < 0 then 0 else plan.days_since_review end
            as days_since_review,
        plan.review_overdue,
        plan.overdue_actions,
        date_diff('day', last_activity.last_activity_date, $as_of) as days_since_activity,
    from account_base
    left join coverage using (account_id)
    left join growth using (account_id)
    left join plan using (account_id)
    left join last_activity using (account_id)
    left join opponent_kings using (account_id)
    left join members on members.member_id = coverage.key_person_id
),

components as (
    select
        *,
        coverage as coverage_score,
        case
            -- a new account: nothing before, revenue now
            when round(prior_ttm_revenue, 6) <= 0 and round(ttm_revenue, 6) > 0 then 100.0
            when revenue_growth is not null
                then greatest(0.0, least(100.0, 50 + $growth_slope * revenue_growth))
            when has_revenue_rows then 50.0
        end as growth_score,
        case
            when gross_margin_pct is not null
                then greatest(0.0, least(100.0, 100 * gross_margin_pct / $target_margin))
        end as margin_score,
        case
            when not $has_reviews then null
            when days_since_review is null then 0.0
            when days_since_review <= $review_cadence_days then 100.0
            when days_since_review >= $review_zero_days then 0.0
            else 100.0 * ($review_zero_days - days_since_review)
                / ($review_zero_days - $review_cadence_days)
        end as plan_score,
        case
            when not $has_activities then null
            when days_since_activity is null then 0.0
            else 100 * pow(0.5, greatest(days_since_activity, 0) / $activity_half_life_days)
        end as activity_score,
    from inputs
),

weighted as (
    select
        *,
        (
            coalesce($weight_coverage * coverage_score, 0)
            + coalesce($weight_growth * growth_score, 0)
            + coalesce($weight_margin * margin_score, 0)
            + coalesce($weight_plan * plan_score, 0)
            + coalesce($weight_activity * activity_score, 0)
        ) / nullif(
            (case when coverage_score is not null then $weight_coverage else 0 end)
            + (case when growth_score is not null then $weight_growth else 0 end)
            + (case when margin_score is not null then $weight_margin else 0 end)
            + (case when plan_score is not null then $weight_plan else 0 end)
            + (case when activity_score is not null then $weight_activity else 0 end),
            0
        ) as health_raw,
    from components
),

rounded as (
    -- every value is rounded to 6 decimals before it meets a threshold (§3.1)
    select
        * exclude (coverage_score, growth_score, margin_score, plan_score, activity_score),
        round(coverage_score, 6) as coverage_score,
        round(growth_score, 6) as growth_score,
        round(margin_score, 6) as margin_score,
        round(plan_score, 6) as plan_score,
        round(activity_score, 6) as activity_score,
        round(health_raw, 6) as health,
        coalesce(king_attitude = 'opponent', false) as is_king_opponent,
        coalesce(king_covered = false, false) as is_king_uncovered,
    from weighted
),

statuses as (
    select
        *,
        case
            when health >= $status_green then 'green'
            when health >= $status_amber then 'amber'
            when health is not null then 'red'
        end as status_before_caps,
        case
            when health is null then null
            when is_king_opponent then 'red'
            when health >= $status_green and is_king_uncovered then 'amber'
            when health >= $status_green then 'green'
            when health >= $status_amber then 'amber'
            else 'red'
        end as status,
    from rounded
),

reasons as (
    select
        *,
        list_filter(
            [
                -- caps
                case
                    when is_king_opponent and opponent_kings_count > 1
                        then format('the kings ({}) are opponents', opponent_king_names)
                    when is_king_opponent and opponent_king_names is not null
                        then format('the king ({}) is an opponent', opponent_king_names)
                    when is_king_opponent then 'the king is an opponent'
                end,
                case
                    when is_king_uncovered and king_attitude is null
                        and status_before_caps = 'green' and not is_king_opponent
                        then 'no king identified: green lowered to amber'
                    when is_king_uncovered and status_before_caps = 'green'
                        and not is_king_opponent
                        then 'the king is not covered: green lowered to amber'
                    when is_king_uncovered and king_attitude is null
                        then 'no king identified'
                    when is_king_uncovered then 'the king is not covered'
                end,
                -- components below reason_below
                case
                    when coverage_score < $reason_below
                        then format('coverage is only {} of 100', round(coverage_score)::bigint)
                end,
                case
                    when growth_score < $reason_below and revenue_growth < 0
                        then format(
                            'revenue fell {} % on last year', round(-100 * revenue_growth)::bigint
                        )
                    when growth_score < $reason_below and revenue_growth >= 0
                        then format(
                            'revenue grew only {} % on last year',
                            round(100 * revenue_growth)::bigint
                        )
                    when growth_score < $reason_below
                        then 'no revenue growth to measure: no revenue in the last 24 months'
                end,
                case
                    when margin_score < $reason_below
                        then format(
                            'gross margin {} % against a {} % target',
                            round(100 * gross_margin_pct)::bigint,
                            $target_margin_text
                        )
                end,
                case
                    when plan_score < $reason_below and days_since_review is null
                        then 'the account plan has never been reviewed'
                    when plan_score < $reason_below
                        then format('no review for {} days', days_since_review)
                end,
                case
                    when activity_score < $reason_below and days_since_activity is null
                        then 'no activity recorded'
                    when activity_score < $reason_below
                        then format('no activity for {} days', days_since_activity)
                end,
                -- further facts a mentor asks about
                case
                    when contacts_count = 0 then 'no active contacts recorded'
                end,
                case
                    when round(key_person_dependency, 6) >= $key_person_share
                        then format(
                            'coverage depends {} % on one person ({})',
                            round(100 * key_person_dependency)::bigint,
                            key_person_name
                        )
                end,
                case
                    when threads = 0 and contacts_count > 0
                        then 'no team member has a strong relationship (single-threaded)'
                    when threads = 1
                        then 'single-threaded: only one team member has a strong relationship'
                end,
                case
                    when high_influence_opponents = 1 then '1 high-influence opponent'
                    when high_influence_opponents > 1
                        then format('{} high-influence opponents', high_influence_opponents)
                end,
                case
                    when review_overdue and days_since_review is not null
                        and not coalesce(plan_score < $reason_below, false)
                        then format('review overdue: last one {} days ago', days_since_review)
                end,
                case
                    when overdue_actions = 1 then '1 plan action overdue'
                    when overdue_actions > 1
                        then format('{} plan actions overdue', overdue_actions)
                end,
            ],
            lambda reason: reason is not null
        ) as reasons,
    from statuses
),

final as (
    select
        account_id,
        coverage_score,
        growth_score,
        margin_score,
        plan_score,
        activity_score,
        health,
        status,
        reasons,
    from reasons
)

select * from final
order by account_id
"""

_PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")


def _health_sql(tables: set[str]) -> str:
    """HEALTH_SQL with the source CTE of each optional table: the table, or an empty stand-in.

    The placeholders are replaced by code constants only (``str.format`` would trip over
    the ``{}`` of the SQL ``format`` calls).
    """
    sources = {
        "{last_activity}": (_LAST_ACTIVITY_LOADED if "activities" in tables else _LAST_ACTIVITY_EMPTY),
        "{opponent_kings}": (_OPPONENT_KINGS_LOADED if "contacts" in tables else _OPPONENT_KINGS_EMPTY),
        "{members}": _MEMBERS_LOADED if "team" in tables else _MEMBERS_EMPTY,
    }
    sql = HEALTH_SQL
    for placeholder, source in sources.items():
        sql = sql.replace(placeholder, source.strip("\n"))
    return sql


def _conformed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` with exactly ``columns`` (missing ones null), in stable dtypes."""
    out = pd.DataFrame(index=frame.index)
    for name, dtype in columns.items():
        if name in frame.columns:
            out[name] = frame[name].astype(dtype)
        else:
            out[name] = pd.Series([None] * len(frame), index=frame.index, dtype=dtype)
    return out


def _number_text(value: float) -> str:
    """A percentage as a person writes it: 30, 27.5 (no trailing zeros)."""
    return f"{value:.6g}"


def health_by_account(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date | str | None = None,
    coverage: pd.DataFrame | None = None,
    growth: pd.DataFrame | None = None,
    plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Health components, health, status and reasons: one row per account (by account_id).

    Columns: ``account_id``; ``coverage_score``, ``growth_score``, ``margin_score``,
    ``plan_score``, ``activity_score`` (0–100, null = no data); ``health`` (0–100, the
    weighted mean over the components with data, null if none has); ``status`` (green,
    amber, red; null when health is null); ``reasons`` (a list of plain-words strings:
    every component below ``reason_below``, every cap applied, and further facts such as
    single-threading, high-influence opponents, a key-person dependency of 50 % or more, an
    overdue review or overdue plan actions).

    ``coverage``, ``growth`` and ``plan`` are the frames of ``coverage.coverage_by_account``,
    ``growth.growth_by_account`` and ``lifecycle.plan_status_by_account``; each is computed
    here when not given (pass cached ones in).
    """
    as_of = resolve_as_of(con, settings, as_of)
    if coverage is None:
        from kam_core.metrics.coverage import coverage_by_account

        coverage = coverage_by_account(con, settings, as_of)
    if growth is None:
        from kam_core.metrics.growth import growth_by_account

        growth = growth_by_account(con, settings, as_of)
    if plan is None:
        from kam_core.metrics.lifecycle import plan_status_by_account

        plan = plan_status_by_account(con, settings, as_of)

    tables = loaded_tables(con)
    sql = _health_sql(tables)
    weights = settings.health_weights
    params: dict[str, Any] = {
        "as_of": as_of,
        "has_reviews": "reviews" in tables,
        "has_activities": "activities" in tables,
        "growth_slope": float(settings.growth_slope),
        "target_margin": float(settings.target_margin),
        "target_margin_text": _number_text(100 * float(settings.target_margin)),
        "review_cadence_days": int(settings.review_cadence_days),
        "review_zero_days": int(settings.review_zero_days),
        "activity_half_life_days": float(settings.activity_half_life_days),
        "status_green": float(settings.status_green),
        "status_amber": float(settings.status_amber),
        "reason_below": float(settings.reason_below),
        "key_person_share": float(settings.key_person_reason),
    } | {
        f"weight_{name}": float(weights.get(name, 0.0))
        for name in ("coverage", "growth", "margin", "plan", "activity")
    }
    used = set(_PARAMETER.findall(sql))
    con.register(COVERAGE_VIEW, _conformed(coverage, _COVERAGE_INPUT))
    con.register(GROWTH_VIEW, _conformed(growth, _GROWTH_INPUT))
    con.register(PLAN_VIEW, _conformed(plan, _PLAN_INPUT))
    try:
        frame = fetch_frame(con, sql, {k: v for k, v in params.items() if k in used})
    finally:
        for view in (COVERAGE_VIEW, GROWTH_VIEW, PLAN_VIEW):
            con.unregister(view)
    frame = frame.astype(
        {
            "account_id": "str",
            "coverage_score": "float64",
            "growth_score": "float64",
            "margin_score": "float64",
            "plan_score": "float64",
            "activity_score": "float64",
            "health": "float64",
            "status": "str",
        }
    )
    # DuckDB hands lists over as numpy arrays; plain lists are what callers expect
    frame["reasons"] = [reasons.tolist() for reasons in frame["reasons"]]
    return frame
