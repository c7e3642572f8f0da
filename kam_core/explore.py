"""Browsing for a meeting: the ``account_metrics`` view and every loaded table, filtered by
accounts and a search text, sorted, limited.

``account_metrics`` is one row per account with what a meeting asks about (tier, scores,
quadrant, health and its status, coverage, revenue, growth, margin, pipeline, plan). It is the
account table the app computed for the settings and the team's edits in force
(``metrics.overview.account_overview``), so the SQL box and the pages agree to the cent; it
reaches the SQL box's worker with the query and is registered there on the query's own cursor
(``register_views``) — read-only: the SQL box runs one SELECT.

>>> import duckdb, pandas as pd
>>> con = duckdb.connect()
>>> frame = pd.DataFrame({"account_id": ["A", "B"], "name": ["Alpha", "Beta"], "ttm_revenue": [10.0, 5.0]})
>>> views = {ACCOUNT_METRICS: account_metrics_frame(frame)}
>>> page = browse(con, ACCOUNT_METRICS, views=views, search="alp")
>>> page.total, page.frame["name"].tolist()
(1, ['Alpha'])
>>> missing_inputs_by_column(["ttm_revenue", "tier", "name"], {"accounts", "criteria"})
{'ttm_revenue': 'needs revenue.csv'}
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from kam_core.errors import KamError
from kam_core.ingest.schema import TABLES, loaded_tables
from kam_core.sqlutil import fetch_frame, quote_ident

BOOKKEEPING = ("rejects", "warnings", "load_files")
ACCOUNT_METRICS = "account_metrics"

# The columns of account_metrics, in order, and the exports each needs beyond accounts (a
# column whose export was not loaded is empty, and a download says which file would fill it).
ACCOUNT_METRICS_COLUMNS: dict[str, tuple[str, ...]] = {
    "account_id": (),
    "name": (),
    # what a meeting asks first
    "tier": ("criteria",),
    "status": (),
    "health": (),
    "ttm_revenue": ("revenue",),
    "revenue_growth": ("revenue",),
    "gross_margin_pct": ("revenue",),
    "coverage": ("contacts", "relationships"),
    "quadrant": ("criteria",),
    "attractiveness": ("criteria",),
    "strength": ("criteria",),
    "latest_rating": ("reviews",),
    "latest_rating_date": ("reviews",),
    "reasons": (),
    # growth and profit
    "prior_ttm_revenue": ("revenue",),
    "ttm_gross_margin": ("revenue",),
    "annual_potential": ("potential",),
    "share_of_wallet": ("revenue", "potential"),
    "whitespace": ("revenue", "potential"),
    "open_pipeline": ("opportunities",),
    "weighted_pipeline": ("opportunities",),
    "open_deals": ("opportunities",),
    "win_rate": ("opportunities",),
    # relationships
    "contacts_count": ("contacts",),
    "threads": ("contacts", "relationships"),
    "single_threaded": ("contacts", "relationships"),
    "king_covered": ("contacts",),
    "key_person_dependency": ("contacts", "relationships"),
    "high_influence_opponents": ("contacts",),
    # plan
    "days_since_review": ("reviews",),
    "overdue_actions": ("plan_actions",),
    "tier_stability": ("criteria",),
    "is_borderline": ("criteria",),
    # who and where
    "industry": (),
    "region": (),
    "country": (),
    "phase": (),
    "account_manager": (),
    "mentor": (),
}


@dataclass
class Page:
    frame: pd.DataFrame
    total: int  # rows matching before the limit


def account_metrics_frame(overview: pd.DataFrame) -> pd.DataFrame:
    """The ``account_metrics`` view's rows from the account table (``account_overview``): its
    columns of ``ACCOUNT_METRICS_COLUMNS`` in that order (those it lacks are left out)."""
    columns = [c for c in ACCOUNT_METRICS_COLUMNS if c in overview.columns]
    return overview[columns].reset_index(drop=True)


def missing_inputs_by_column(columns: list[str], loaded: set[str] | frozenset[str]) -> dict[str, str]:
    """For each column of ``account_metrics`` whose export was not loaded: ``needs X.csv``."""
    out = {}
    for column in columns:
        absent = [t for t in ACCOUNT_METRICS_COLUMNS.get(column, ()) if t not in loaded]
        if absent:
            out[column] = "needs " + " and ".join(f"{t}.csv" for t in absent)
    return out


def register_views(con: duckdb.DuckDBPyConnection, views: dict[str, pd.DataFrame] | None) -> None:
    """Make each frame of ``views`` queryable under its name on ``con`` (a cursor: a registered
    frame belongs to it alone and goes with it)."""
    for name, frame in (views or {}).items():
        con.register(name, frame)


def browsable_tables(con: duckdb.DuckDBPyConnection, views: dict[str, pd.DataFrame] | None = None) -> list[str]:
    """What Explore offers, accounts first: the views given (``account_metrics``), the loaded
    canonical tables (accounts before the others) and the load's bookkeeping — never the
    pipeline's stored steps (``kam_step_*``)."""
    present = loaded_tables(con)
    tables = [t for t in TABLES if t in present]
    tables.sort(key=lambda t: t != "accounts")
    return [*(views or {}), *tables, *BOOKKEEPING]


def table_columns(con: duckdb.DuckDBPyConnection, views: dict[str, pd.DataFrame] | None = None
                  ) -> dict[str, list[tuple[str, str]]]:
    """Every browsable table's columns and types, for the SQL box's list of what can be queried."""
    cur = con.cursor()
    try:
        register_views(cur, views)
        return {table: [(r[0], r[1]) for r in cur.execute(f"describe {quote_ident(table)}").fetchall()]
                for table in browsable_tables(con, views)}
    finally:
        cur.close()


def browse(con: duckdb.DuckDBPyConnection, table: str, *, account_ids: list[str] | None = None,
           search: str = "", order_by: str | None = None, descending: bool = False,
           limit: int = 5000, views: dict[str, pd.DataFrame] | None = None) -> Page:
    """Rows of ``table`` (a loaded table or one of ``views``), restricted to ``account_ids``
    when the table has accounts, and to rows where any column contains ``search``
    (case-insensitive)."""
    if table not in browsable_tables(con, views):
        raise KamError(f"table {table!r} is not loaded; browsable: {', '.join(browsable_tables(con, views))}")
    cur = con.cursor()
    try:
        register_views(cur, views)
        columns = [r[0] for r in cur.execute(f"describe {quote_ident(table)}").fetchall()]
        where, params = [], {}
        if account_ids is not None and "account_id" in columns:
            where.append("account_id in (select unnest($ids))")
            params["ids"] = list(account_ids)
        if search.strip():
            text = " || ' ' || ".join(f"coalesce(cast({quote_ident(c)} as varchar), '')" for c in columns)
            where.append(f"({text}) ilike $pattern")
            params["pattern"] = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clause = (" where " + " and ".join(where)) if where else ""
        if order_by is not None and order_by not in columns:
            raise KamError(f"{table} has no column {order_by!r}")
        order = f" order by {quote_ident(order_by)} {'desc' if descending else 'asc'} nulls last" if order_by else ""
        total = cur.execute(f"select count(*) from {quote_ident(table)}{clause}", params or None).fetchone()[0]
        params["limit"] = int(limit)
        frame = fetch_frame(cur, f"select * from {quote_ident(table)}{clause}{order} limit $limit", params)
    finally:
        cur.close()
    return Page(frame, total)
