"""One account's records for the mentor's view: plan actions, reviews, competitors."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from kam_core.ingest.schema import loaded_tables
from kam_core.sqlutil import fetch_frame

PLAN_ACTIONS_SQL = """
select
    p.action_id,
    p.objective,
    {owner_name} as owner,
    p.due_date,
    coalesce(p.status, 'open') as status,
    coalesce(p.status, 'open') = 'open' and p.due_date < $as_of as is_overdue,
from plan_actions as p
{owner_join}
where p.account_id = $account_id
order by (coalesce(p.status, 'open') = 'open') desc, p.due_date nulls last, p.action_id
"""

REVIEWS_SQL = """
select
    r.review_date,
    {mentor_name} as mentor,
    r.rating,
    r.notes,
    date_diff('day', r.review_date, $as_of::date) as days_ago,
from reviews as r
{mentor_join}
where r.account_id = $account_id
    and r.review_date <= $as_of
order by r.review_date desc
"""

COMPETITORS_SQL = """
select
    competitor,
    product_line,
    est_share,
from competitors
where account_id = $account_id
order by est_share desc nulls last, competitor
"""

CONTACTS_SQL = """
select
    contact_id,
    name,
    title,
    department,
    level,
    location,
    buying_role,
    piece,
    attitude,
    is_active,
from contacts
where account_id = $account_id
order by is_active desc, contact_id
"""


def _team_join(con: duckdb.DuckDBPyConnection, column: str, alias: str) -> tuple[str, str]:
    if "team" in loaded_tables(con):
        return f"coalesce(t.name, {alias}.{column})", f"left join team as t on t.member_id = {alias}.{column}"
    return f"{alias}.{column}", ""


def plan_actions(con: duckdb.DuckDBPyConnection, account_id: str, as_of: dt.date) -> pd.DataFrame | None:
    """The account plan's actions, open ones first; None when plan_actions was not loaded."""
    if "plan_actions" not in loaded_tables(con):
        return None
    name, join = _team_join(con, "owner_id", "p")
    sql = PLAN_ACTIONS_SQL.format(owner_name=name, owner_join=join)
    return fetch_frame(con, sql, {"account_id": account_id, "as_of": as_of})


def review_history(con: duckdb.DuckDBPyConnection, account_id: str, as_of: dt.date) -> pd.DataFrame | None:
    """Mentor reviews up to ``as_of``, newest first; None when reviews was not loaded."""
    if "reviews" not in loaded_tables(con):
        return None
    name, join = _team_join(con, "mentor_id", "r")
    sql = REVIEWS_SQL.format(mentor_name=name, mentor_join=join)
    return fetch_frame(con, sql, {"account_id": account_id, "as_of": as_of})


def competitors(con: duckdb.DuckDBPyConnection, account_id: str) -> pd.DataFrame | None:
    if "competitors" not in loaded_tables(con):
        return None
    return fetch_frame(con, COMPETITORS_SQL, {"account_id": account_id})


def contacts(con: duckdb.DuckDBPyConnection, account_id: str) -> pd.DataFrame | None:
    if "contacts" not in loaded_tables(con):
        return None
    return fetch_frame(con, CONTACTS_SQL, {"account_id": account_id})
