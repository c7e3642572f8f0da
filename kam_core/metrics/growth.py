"""Growth and profitability per account and for the portfolio (spec §3.3).

Months are calendar months; M is the month of ``as_of``. The trailing twelve months (ttm)
are M−11…M, the prior twelve M−23…M−12. Events after ``as_of`` are ignored everywhere:
revenue periods after M, opportunities created after ``as_of`` (they do not exist yet) and
closes after ``as_of`` (such an opportunity is still open, with its stored probability).

The per-account metrics are the pipeline's step ``growth`` (``sql/growth.sql``); the
portfolio's are ``sql/portfolio_figures.sql`` over any set of accounts. Tables that were not
loaded read as empty (``sources``) and the metrics that need them are null (spec §3: a
metric whose whole table was not loaded is null; a loaded but empty table gives 0).

>>> import duckdb, datetime
>>> from kam_core.ingest.schema import create_schema
>>> from kam_core.settings import Settings
>>> con = duckdb.connect()
>>> create_schema(con, tables=["accounts", "revenue"])
>>> _ = con.execute("insert into accounts (account_id, name) values ('A', 'Acme')")
>>> _ = con.execute("insert into revenue values ('A', date '2024-03-01', 'x', 120, 30)")
>>> row = growth_by_account(con, Settings(), datetime.date(2024, 3, 15)).iloc[0]
>>> float(row.ttm_revenue), float(row.gross_margin_pct), bool(pd.isna(row.share_of_wallet))
(120.0, 0.25, True)
>>> missing_inputs(con)[-1]
'needs potential.csv for share_of_wallet, whitespace, open_lines'
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
import pandas as pd

from kam_core.metrics import pipeline as steps_module
from kam_core.metrics.pipeline import month_windows, run_pipeline, sql
from kam_core.metrics.sources import loaded_inputs, missing_messages, reading, table_flags
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame, run

__all__ = [
    "GROWTH_COLUMNS",
    "growth_by_account",
    "missing_inputs",
    "monthly_revenue",
    "pipeline",
    "portfolio_figures",
    "portfolio_summary",
    "product_mix",
]

# Columns of ``growth_by_account`` and the growth report, in order.
GROWTH_COLUMNS: tuple[str, ...] = tuple(steps_module.GROWTH_COLUMNS)

# The per-account columns the portfolio figures read.
FIGURE_COLUMNS: tuple[str, ...] = (
    "account_id", "ttm_revenue", "prior_ttm_revenue", "ttm_gross_margin", "prior_ttm_gross_margin",
    "ttm_margin_revenue", "annual_potential", "whitespace", "open_deals", "open_deals_without_amount",
    "open_pipeline", "weighted_pipeline", "won_deals", "lost_deals",
)
FIGURES_RELATION = "figure_accounts"


def missing_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Which exports would fill the growth metrics that are empty now (one sentence each)."""
    return missing_messages(loaded_inputs(con), "growth")


def _selection(account_id: str | None, account_ids: list[str] | None) -> dict[str, Any]:
    """Parameters restricting a query to one account, a list of accounts, or none (all)."""
    if account_id is not None:
        account_ids = [account_id]
    return {"all_accounts": account_ids is None, "account_ids": [str(a) for a in (account_ids or [])]}


def _params(as_of: dt.date, loaded: frozenset[str], **extra: Any) -> dict[str, Any]:
    return {"as_of": as_of, **month_windows(as_of), **table_flags(loaded), **extra}


def _typed(frame: pd.DataFrame, columns: tuple[str, ...], dtypes: dict[str, str]) -> pd.DataFrame:
    """Fix the column order and dtypes, whatever DuckDB inferred (an all-null column included)."""
    frame = frame.reindex(columns=list(columns))
    return frame.astype({c: dtypes.get(c, "float64") for c in columns})


def _read(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run a query of this module on a cursor where every canonical table can be read."""
    loaded = loaded_inputs(con)
    with reading(con, loaded) as cur:
        return fetch_frame(cur, query, _params(params.pop("as_of"), loaded, **params))


# ---------------------------------------------------------------------------------------
# growth_by_account
# ---------------------------------------------------------------------------------------


def growth_by_account(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> pd.DataFrame:
    """One row per account with the growth and profitability metrics of spec §3.3 (the
    pipeline's step ``growth``), ordered by account_id.

    Columns (``GROWTH_COLUMNS``): account_id, ttm_revenue, prior_ttm_revenue, revenue_growth,
    ttm_gross_margin, prior_ttm_gross_margin, ttm_margin_revenue (the ttm revenue of the rows
    that give a margin: the base of gross_margin_pct), gross_margin_pct, gross_margin_growth,
    annual_potential, share_of_wallet, whitespace, open_lines (Int64), open_lines_list
    (lines joined by ", "), open_pipeline, weighted_pipeline, open_deals and
    open_deals_without_amount (open opportunities, and those without an amount), won_deals
    and lost_deals (closed in M−11…M), win_rate, has_revenue_rows (bool: a revenue row in
    the ttm or prior window), months_with_revenue (Int64: ttm months with positive net
    revenue).

    Revenue metrics are null without a revenue table; potential metrics without a potential
    table (or a revenue table); pipeline metrics without an opportunities table.
    """
    with run_pipeline(con, settings, as_of, ("growth",)) as steps:
        return steps.frame("growth")


# ---------------------------------------------------------------------------------------
# portfolio figures
# ---------------------------------------------------------------------------------------


def portfolio_figures(con: duckdb.DuckDBPyConnection, accounts: pd.DataFrame) -> dict[str, Any]:
    """The portfolio-level figures of the accounts in ``accounts`` (``sql/portfolio_figures.sql``).

    ``accounts`` has the columns of ``growth_by_account`` (an account table a page
    filtered will do). Keys: accounts_count, ttm_revenue, prior_ttm_revenue, revenue_growth,
    ttm_gross_margin, prior_ttm_gross_margin, gross_margin_pct (Σ margin / Σ revenue of the
    rows that give a margin), gross_margin_growth, accounts_with_revenue (positive ttm
    revenue), top10_share, herfindahl (both over the accounts with positive ttm revenue;
    None if there is none), annual_potential, share_of_wallet, whitespace,
    open_opportunities, open_deals_without_amount, open_pipeline, weighted_pipeline,
    win_rate. None for a figure whose table was not loaded.
    """
    loaded = loaded_inputs(con)
    frame = accounts.reindex(columns=list(FIGURE_COLUMNS))
    cur = con.cursor()
    try:
        cur.register(FIGURES_RELATION, frame)
        result = run(cur, sql("portfolio_figures"), table_flags(loaded))
        names = [d[0] for d in result.description]
        row = result.fetchall()[0]
    finally:
        cur.close()
    return {name: _plain(value) for name, value in zip(names, row, strict=True)}


def portfolio_summary(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> dict[str, Any]:
    """The whole portfolio's growth figures as one JSON-ready dict (None for missing values):
    ``as_of`` (ISO text), ``currency``, then the keys of ``portfolio_figures``."""
    with run_pipeline(con, settings, as_of, ("growth",)) as steps:
        figures = steps.query(f"select * from {steps_module.STEPS['growth'].relation}")
    summary: dict[str, Any] = {"as_of": as_of.isoformat(), "currency": settings.currency}
    summary.update(portfolio_figures(con, figures))
    return summary


def _plain(value: Any) -> Any:
    """A JSON-ready Python value (ints stay ints, NaN becomes None)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ---------------------------------------------------------------------------------------
# monthly_revenue
# ---------------------------------------------------------------------------------------

MONTHLY_REVENUE_SQL = """
with

months as (
    select cast($window36_start + to_months(month_index) as date) as period,
    from range(36) as m(month_index)
),

selected_accounts as (
    select unnest($account_ids) as account_id
),

revenue_rows as (
    select
        date_trunc('month', period)::date as period,
        revenue,
        gross_margin,
    from revenue
    where period >= $window36_start
      and period < $next_month_start
      and ($all_accounts or account_id in (select account_id from selected_accounts))
),

revenue_by_month as (
    select
        period,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin,
    from revenue_rows
    group by period
),

final as (
    select
        months.period,
        coalesce(revenue_by_month.revenue, 0) as revenue,
        -- 0 in a month without rows; null in a month whose rows give no margin
        case
            when revenue_by_month.period is null then 0
            else revenue_by_month.gross_margin
        end as gross_margin,
    from months
    left join revenue_by_month on months.period = revenue_by_month.period
)

select * from final
order by period
"""

MONTHLY_REVENUE_BY_LINE_SQL = """
with

months as (
    select cast($window36_start + to_months(month_index) as date) as period,
    from range(36) as m(month_index)
),

selected_accounts as (
    select unnest($account_ids) as account_id
),

revenue_rows as (
    select
        date_trunc('month', period)::date as period,
        product_line,
        revenue,
        gross_margin,
    from revenue
    where period >= $window36_start
      and period < $next_month_start
      and ($all_accounts or account_id in (select account_id from selected_accounts))
),

revenue_by_month_and_line as (
    select
        period,
        product_line,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin,
    from revenue_rows
    group by period, product_line
),

-- every month for every line that sold something in the 36 months
grid as (
    select
        months.period,
        lines.product_line,
    from months
    cross join (select distinct product_line from revenue_rows) as lines
),

final as (
    select
        grid.period,
        grid.product_line,
        coalesce(r.revenue, 0) as revenue,
        case when r.period is null then 0 else r.gross_margin end as gross_margin,
    from grid
    left join revenue_by_month_and_line as r
        on grid.period = r.period
        and grid.product_line = r.product_line
)

select * from final
order by period, product_line
"""


def monthly_revenue(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    account_ids: list[str] | None = None,
    by: str | None = None,
) -> pd.DataFrame:
    """Revenue and gross margin per month for the 36 months up to M, for charts.

    Columns: period (first day of the month), [product_line when ``by="product_line"``],
    revenue, gross_margin. Every month is present: a month without revenue rows shows 0
    revenue and 0 margin; a month whose rows give no margin shows a null margin. With
    ``by="product_line"`` every line that has a row in the 36 months gets all 36 months.
    ``account_ids`` restricts to those accounts (None: the whole portfolio). Empty when the
    revenue table was not loaded.
    """
    del settings
    if by not in (None, "product_line"):
        raise ValueError(f"by = {by!r} is not supported: expected None or 'product_line'")
    columns = ("period", "product_line", "revenue", "gross_margin")
    if by is None:
        columns = ("period", "revenue", "gross_margin")
    dtypes = {"period": "datetime64[us]", "product_line": "str"}
    if "revenue" not in loaded_inputs(con):
        return _typed(pd.DataFrame(), columns, dtypes)
    template = MONTHLY_REVENUE_SQL if by is None else MONTHLY_REVENUE_BY_LINE_SQL
    frame = _read(con, template, {"as_of": as_of, **_selection(None, account_ids)})
    return _typed(frame, columns, dtypes)


# ---------------------------------------------------------------------------------------
# product_mix
# ---------------------------------------------------------------------------------------

PRODUCT_MIX_SQL = """
with

revenue_lines as (
    select
        account_id,
        product_line,
        sum(revenue) filter (where period >= $ttm_start) as ttm_revenue,
        sum(revenue) filter (where period < $ttm_start) as prior_ttm_revenue,
        sum(gross_margin) filter (where period >= $ttm_start) as ttm_gross_margin,
        sum(revenue) filter (
            where period >= $ttm_start and gross_margin is not null
        ) as ttm_margin_revenue,
    from revenue
    where period >= $prior_start
      and period < $next_month_start
      and ($all_accounts or list_contains($account_ids, account_id))
    group by account_id, product_line
),

potential_lines as (
    select
        account_id,
        product_line,
        sum(annual_potential) as annual_potential,
    from potential
    where $all_accounts or list_contains($account_ids, account_id)
    group by account_id, product_line
),

-- one row per account and line that has revenue in the 24 months or a potential
account_lines as (
    select
        coalesce(r.product_line, p.product_line) as product_line,
        coalesce(r.ttm_revenue, 0) as ttm_revenue,
        coalesce(r.prior_ttm_revenue, 0) as prior_ttm_revenue,
        r.ttm_gross_margin,
        r.ttm_margin_revenue,
        p.annual_potential,
    from revenue_lines as r
    full join potential_lines as p
        on r.account_id = p.account_id
        and r.product_line = p.product_line
),

by_line as (
    select
        product_line,
        sum(ttm_revenue) as ttm_revenue,
        sum(prior_ttm_revenue) as prior_ttm_revenue,
        sum(ttm_gross_margin) as ttm_gross_margin,
        sum(ttm_margin_revenue) as ttm_margin_revenue,
        coalesce(sum(annual_potential), 0) as annual_potential,
        -- whitespace is summed per account: one customer's overspend fills no other's gap
        sum(
            case
                when round(annual_potential - ttm_revenue, 6) > 0
                    then annual_potential - ttm_revenue
                else 0
            end
        ) as whitespace,
        count(*) filter (
            where round(annual_potential, 6) > 0 and round(ttm_revenue, 6) <= 0
        ) as open_accounts,
    from account_lines
    group by product_line
),

final as (
    select
        product_line,
        case when $has_revenue then ttm_revenue end as ttm_revenue,
        case when $has_revenue then prior_ttm_revenue end as prior_ttm_revenue,
        case
            when round(prior_ttm_revenue, 6) > 0 then ttm_revenue / prior_ttm_revenue - 1
        end as revenue_growth,
        ttm_gross_margin,
        case
            when round(ttm_margin_revenue, 6) <> 0 then ttm_gross_margin / ttm_margin_revenue
        end as gross_margin_pct,
        case when $has_potential then annual_potential end as annual_potential,
        case when $has_potential and $has_revenue then whitespace end as whitespace,
        case
            when $has_revenue and round(annual_potential, 6) > 0
                then ttm_revenue / annual_potential
        end as share_of_wallet,
        case when $has_potential and $has_revenue then open_accounts end as open_accounts,
    from by_line
)

select * from final
order by ttm_revenue desc nulls last, annual_potential desc nulls last, product_line
"""

PRODUCT_MIX_COLUMNS: tuple[str, ...] = (
    "product_line",
    "ttm_revenue",
    "prior_ttm_revenue",
    "revenue_growth",
    "ttm_gross_margin",
    "gross_margin_pct",
    "annual_potential",
    "whitespace",
    "share_of_wallet",
    "open_accounts",
)


def product_mix(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    account_id: str | None = None,
    account_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Per product line: ttm revenue, potential, whitespace and share of wallet.

    For one account (``account_id``) or the whole portfolio (None). Lines are those with
    revenue in the ttm or prior window or with a potential. Columns: product_line,
    ttm_revenue, prior_ttm_revenue, revenue_growth, ttm_gross_margin, gross_margin_pct,
    annual_potential, whitespace (Σ over accounts of max(potential − ttm revenue, 0)),
    share_of_wallet (ttm revenue / potential, null when the potential is 0), open_accounts
    (Int64: accounts for which the line is open). Largest ttm revenue first. Empty when
    neither revenue nor potential was loaded.
    """
    del settings
    dtypes = {"product_line": "str", "open_accounts": "Int64"}
    if not {"revenue", "potential"} & loaded_inputs(con):
        return _typed(pd.DataFrame(), PRODUCT_MIX_COLUMNS, dtypes)
    frame = _read(con, PRODUCT_MIX_SQL, {"as_of": as_of, **_selection(account_id, account_ids)})
    return _typed(frame, PRODUCT_MIX_COLUMNS, dtypes)


# ---------------------------------------------------------------------------------------
# pipeline
# ---------------------------------------------------------------------------------------

PIPELINE_SQL = """
with

opportunities_as_of as (
    select
        *,
        case
            when status in ('won', 'lost') and close_date > $as_of then 'open'
            else status
        end as status_as_of,
    from opportunities
    where (created_date is null or created_date <= $as_of)
      and ($all_accounts or list_contains($account_ids, account_id))
),

final as (
    select
        o.opportunity_id,
        o.account_id,
        accounts.name as account_name,
        o.name,
        o.product_line,
        o.stage,
        o.amount,
        o.probability,
        o.amount * o.probability as weighted_amount,
        o.created_date,
        o.close_date,
        -- 'won' or 'lost' here: closed after as_of, so still open on as_of
        o.status as recorded_status,
    from opportunities_as_of as o
    left join accounts as accounts on o.account_id = accounts.account_id
    where o.status_as_of = 'open'
)

select * from final
order by close_date nulls last, amount desc, opportunity_id
"""

PIPELINE_COLUMNS: tuple[str, ...] = (
    "opportunity_id",
    "account_id",
    "account_name",
    "name",
    "product_line",
    "stage",
    "amount",
    "probability",
    "weighted_amount",
    "created_date",
    "close_date",
    "recorded_status",
)


def pipeline(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    account_id: str | None = None,
    account_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Open opportunities as of ``as_of`` (all accounts, or one).

    Columns: opportunity_id, account_id, account_name, name, product_line, stage, amount,
    probability, weighted_amount (amount × probability; null without a probability),
    created_date, close_date, recorded_status (the stored status: 'won'/'lost' for an
    opportunity closed after ``as_of``). Soonest close first. Empty without an
    opportunities table.
    """
    del settings
    dtypes = {
        "opportunity_id": "str",
        "account_id": "str",
        "account_name": "str",
        "name": "str",
        "product_line": "str",
        "stage": "str",
        "created_date": "datetime64[us]",
        "close_date": "datetime64[us]",
        "recorded_status": "str",
    }
    if "opportunities" not in loaded_inputs(con):
        return _typed(pd.DataFrame(), PIPELINE_COLUMNS, dtypes)
    frame = _read(con, PIPELINE_SQL, {"as_of": as_of, **_selection(account_id, account_ids)})
    return _typed(frame, PIPELINE_COLUMNS, dtypes)
