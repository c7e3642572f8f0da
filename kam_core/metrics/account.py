"""One account's records for the mentor's view: plan actions, reviews, competitors."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from kam_core.metrics.sources import loaded_inputs, reading
from kam_core.sqlutil import fetch_frame

PLAN_ACTIONS_SQL = """
select
    p.action_id,
    p.objective,
    coalesce(t.name, p.owner_id) as owner,
    p.due_date,
    coalesce(p.status, 'open') as status,
    coalesce(p.status, 'open') = 'open' and p.due_date < $as_of as is_overdue,
from plan_actions as p
left join team as t
    on t.member_id = p.owner_id
where p.account_id = $account_id
order by (coalesce(p.status, 'open') = 'open') desc, p.due_date nulls last, p.action_id
"""

REVIEWS_SQL = """
select
    r.review_date,
    coalesce(t.name, r.mentor_id) as mentor,
    r.rating,
    r.notes,
    date_diff('day', r.review_date, $as_of::date) as days_ago,
from reviews as r
left join team as t
    on t.member_id = r.mentor_id
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


def _records(con: duckdb.DuckDBPyConnection, table: str, sql: str, params: dict) -> pd.DataFrame | None:
    """Run one query of this module (tables not loaded read as empty); None when ``table``,
    the one it lists, was not loaded."""
    loaded = loaded_inputs(con)
    if table not in loaded:
        return None
    with reading(con, loaded) as cur:
        return fetch_frame(cur, sql, params)


def plan_actions(con: duckdb.DuckDBPyConnection, account_id: str, as_of: dt.date) -> pd.DataFrame | None:
    """The account plan's actions, open ones first; None when plan_actions was not loaded."""
    return _records(con, "plan_actions", PLAN_ACTIONS_SQL, {"account_id": account_id, "as_of": as_of})


def review_history(con: duckdb.DuckDBPyConnection, account_id: str, as_of: dt.date) -> pd.DataFrame | None:
    """Mentor reviews up to ``as_of``, newest first; None when reviews was not loaded."""
    return _records(con, "reviews", REVIEWS_SQL, {"account_id": account_id, "as_of": as_of})


def competitors(con: duckdb.DuckDBPyConnection, account_id: str) -> pd.DataFrame | None:
    """Who else sells to the account, the largest estimated share first; None when
    competitors was not loaded."""
    return _records(con, "competitors", COMPETITORS_SQL, {"account_id": account_id})


def contacts(con: duckdb.DuckDBPyConnection, account_id: str) -> pd.DataFrame | None:
    """The account's contacts, active ones first; None when contacts was not loaded."""
    return _records(con, "contacts", CONTACTS_SQL, {"account_id": account_id})
