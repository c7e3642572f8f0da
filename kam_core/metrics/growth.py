"""Growth and profitability per account and for the portfolio (spec §3.3).

Months are calendar months; M is the month of ``as_of``. The trailing twelve months (ttm)
are M−11…M, the prior twelve M−23…M−12. Events after ``as_of`` are ignored everywhere:
revenue periods after M, opportunities created after ``as_of`` (they do not exist yet) and
closes after ``as_of`` (such an opportunity is still open, with its stored probability).

Tables that were not loaded are replaced in the SQL by an empty relation of the same
columns, and a ``$has_<table>`` parameter turns the metrics that need them into null
(spec §3: a metric whose whole table was not loaded is null; a loaded but empty table
gives 0). Nothing here raises because a table is missing.

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
import re
from typing import Any

import duckdb
import pandas as pd

from kam_core.ingest.schema import TABLES, loaded_tables
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame

# ---------------------------------------------------------------------------------------
# Table sources
# ---------------------------------------------------------------------------------------


def table_sources(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> dict[str, Any]:
    """SQL fragments for the named canonical tables, and ``has_<table>`` flags.

    A loaded table is referenced by its (quoted) name; a table that was not loaded becomes
    an empty relation with the canonical columns and types, so one query serves every
    combination of loaded tables. Only identifiers from ``schema.TABLES`` are substituted
    into SQL text; values always travel as DuckDB parameters.

    Returns ``{"sources": {name: sql}, "flags": {"has_<name>": bool}}``.
    """
    loaded = loaded_tables(con)
    sources: dict[str, str] = {}
    flags: dict[str, bool] = {}
    for name in names:
        table = TABLES[name]
        if name in loaded:
            sources[name] = f'"{table.name}"'
        else:
            columns = ", ".join(f"cast(null as {c.sql_type}) as {c.name}" for c in table.columns)
            sources[name] = f"(select {columns} where false)"
        flags[f"has_{name}"] = name in loaded
    return {"sources": sources, "flags": flags}


def month_windows(as_of: dt.date) -> dict[str, dt.date]:
    """Boundaries of the windows around M, the month of ``as_of`` (all first days of months).

    >>> w = month_windows(dt.date(2024, 3, 15))
    >>> [str(w[k]) for k in ("window36_start", "prior_start", "ttm_start", "month_start",
    ...                      "next_month_start")]
    ['2021-04-01', '2022-04-01', '2023-04-01', '2024-03-01', '2024-04-01']
    """

    def shift(months: int) -> dt.date:
        index = as_of.year * 12 + (as_of.month - 1) + months
        return dt.date(index // 12, index % 12 + 1, 1)

    return {
        "window36_start": shift(-35),
        "prior_start": shift(-23),
        "ttm_start": shift(-11),
        "month_start": shift(0),
        "next_month_start": shift(1),
    }


def _params(as_of: dt.date, flags: dict[str, bool], **extra: Any) -> dict[str, Any]:
    """Every parameter a query of this module may use: as_of, window bounds, table flags."""
    windows = month_windows(as_of)
    return {"as_of": as_of, **windows, **flags, **extra}


def _selection(account_id: str | None, account_ids: list[str] | None) -> dict[str, Any]:
    """Parameters restricting a query to one account, a list of accounts, or none (all)."""
    if account_id is not None:
        account_ids = [account_id]
    return {"all_accounts": account_ids is None, "account_ids": [str(a) for a in (account_ids or [])]}


_PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")


def run(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` with the parameters it names (DuckDB refuses unused ones)."""
    return con.execute(sql, _named(sql, params))


def run_frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """``run``, with the result as a DataFrame."""
    return fetch_frame(con, sql, _named(sql, params))


def _named(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    used = set(_PARAMETER.findall(sql))
    return {k: v for k, v in params.items() if k in used}


_MISSING_TEXT: dict[str, str] = {
    "accounts": "needs accounts.csv for every growth metric",
    "revenue": "needs revenue.csv for ttm_revenue, revenue_growth, gross margin, "
    "share_of_wallet and whitespace",
    "opportunities": "needs opportunities.csv for open_pipeline, weighted_pipeline, win_rate",
    "potential": "needs potential.csv for share_of_wallet, whitespace, open_lines",
}


def missing_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Which exports would fill the growth metrics that are empty now (one sentence each)."""
    loaded = loaded_tables(con)
    return [text for table, text in _MISSING_TEXT.items() if table not in loaded]


# ---------------------------------------------------------------------------------------
# growth_by_account
# ---------------------------------------------------------------------------------------

GROWTH_BY_ACCOUNT_SQL = """
with

accounts as (
    select account_id from {accounts}
),

-- revenue rows of the 24 months M-23..M; later periods do not exist yet
revenue_rows as (
    select
        account_id,
        product_line,
        period,
        revenue,
        gross_margin,
        period >= $ttm_start as is_ttm,
    from {revenue}
    where period >= $prior_start
      and period < $next_month_start
),

revenue_by_account as (
    select
        account_id,
        coalesce(sum(revenue) filter (where is_ttm), 0) as ttm_revenue,
        coalesce(sum(revenue) filter (where not is_ttm), 0) as prior_ttm_revenue,
        -- null when no row of the window gives a margin
        sum(gross_margin) filter (where is_ttm) as ttm_gross_margin,
        sum(gross_margin) filter (where not is_ttm) as prior_ttm_gross_margin,
        sum(revenue) filter (where is_ttm and gross_margin is not null) as ttm_margin_revenue,
    from revenue_rows
    group by account_id
),

-- several rows of one account, month and line are one sale split up: sum first
revenue_by_month as (
    select
        account_id,
        period,
        sum(revenue) as revenue,
    from revenue_rows
    where is_ttm
    group by account_id, period
),

months_by_account as (
    select
        account_id,
        count(*) filter (where round(revenue, 6) > 0) as months_with_revenue,
    from revenue_by_month
    group by account_id
),

ttm_revenue_by_line as (
    select
        account_id,
        product_line,
        sum(revenue) as ttm_revenue,
    from revenue_rows
    where is_ttm
    group by account_id, product_line
),

potential_lines as (
    select
        potential.account_id,
        potential.product_line,
        potential.annual_potential,
        coalesce(ttm_revenue_by_line.ttm_revenue, 0) as ttm_revenue,
    from {potential} as potential
    left join ttm_revenue_by_line
        on potential.account_id = ttm_revenue_by_line.account_id
        and potential.product_line = ttm_revenue_by_line.product_line
),

potential_by_account as (
    select
        account_id,
        sum(annual_potential) as total_potential,
        sum(
            case
                when round(annual_potential - ttm_revenue, 6) > 0
                    then annual_potential - ttm_revenue
                else 0
            end
        ) as whitespace,
        count(*) filter (
            where round(annual_potential, 6) > 0 and round(ttm_revenue, 6) <= 0
        ) as open_lines,
        string_agg(product_line, ', ' order by product_line) filter (
            where round(annual_potential, 6) > 0 and round(ttm_revenue, 6) <= 0
        ) as open_lines_list,
    from potential_lines
    group by account_id
),

-- the pipeline as it stood on as_of
opportunities_as_of as (
    select
        account_id,
        amount,
        probability,
        close_date,
        case
            when status in ('won', 'lost') and close_date > $as_of then 'open'
            else status
        end as status_as_of,
    from {opportunities}
    where created_date is null
       or created_date <= $as_of
),

pipeline_by_account as (
    select
        account_id,
        coalesce(sum(amount) filter (where status_as_of = 'open'), 0) as open_pipeline,
        -- a missing probability adds nothing
        coalesce(
            sum(amount * probability) filter (where status_as_of = 'open'), 0
        ) as weighted_pipeline,
        count(*) filter (
            where status_as_of = 'won' and close_date >= $ttm_start
        ) as won_count,
        count(*) filter (
            where status_as_of = 'lost' and close_date >= $ttm_start
        ) as lost_count,
    from opportunities_as_of
    group by account_id
),

final as (
    select
        accounts.account_id,

        -- revenue
        case when $has_revenue then coalesce(r.ttm_revenue, 0) end as ttm_revenue,
        case when $has_revenue then coalesce(r.prior_ttm_revenue, 0) end as prior_ttm_revenue,
        case
            when round(r.prior_ttm_revenue, 6) > 0
                then r.ttm_revenue / r.prior_ttm_revenue - 1
        end as revenue_growth,

        -- gross margin
        r.ttm_gross_margin,
        r.prior_ttm_gross_margin,
        case
            when round(r.ttm_margin_revenue, 6) <> 0
                then r.ttm_gross_margin / r.ttm_margin_revenue
        end as gross_margin_pct,
        case
            when round(r.prior_ttm_gross_margin, 6) > 0
                then r.ttm_gross_margin / r.prior_ttm_gross_margin - 1
        end as gross_margin_growth,

        -- potential
        case
            when $has_revenue and round(p.total_potential, 6) > 0
                then coalesce(r.ttm_revenue, 0) / p.total_potential
        end as share_of_wallet,
        case when $has_revenue and $has_potential then coalesce(p.whitespace, 0) end
            as whitespace,
        case when $has_revenue and $has_potential then coalesce(p.open_lines, 0) end
            as open_lines,
        case when $has_revenue and $has_potential then coalesce(p.open_lines_list, '') end
            as open_lines_list,

        -- pipeline
        case when $has_opportunities then coalesce(o.open_pipeline, 0) end as open_pipeline,
        case when $has_opportunities then coalesce(o.weighted_pipeline, 0) end
            as weighted_pipeline,
        case
            when o.won_count + o.lost_count > 0
                then o.won_count / (o.won_count + o.lost_count)
        end as win_rate,

        -- data presence (health needs it)
        r.account_id is not null as has_revenue_rows,
        case when $has_revenue then coalesce(m.months_with_revenue, 0) end
            as months_with_revenue,
    from accounts
    left join revenue_by_account as r on accounts.account_id = r.account_id
    left join months_by_account as m on accounts.account_id = m.account_id
    left join potential_by_account as p on accounts.account_id = p.account_id
    left join pipeline_by_account as o on accounts.account_id = o.account_id
)

select * from final
order by account_id
"""

GROWTH_COLUMNS: tuple[str, ...] = (
    "account_id",
    "ttm_revenue",
    "prior_ttm_revenue",
    "revenue_growth",
    "ttm_gross_margin",
    "prior_ttm_gross_margin",
    "gross_margin_pct",
    "gross_margin_growth",
    "share_of_wallet",
    "whitespace",
    "open_lines",
    "open_lines_list",
    "open_pipeline",
    "weighted_pipeline",
    "win_rate",
    "has_revenue_rows",
    "months_with_revenue",
)

_GROWTH_DTYPES: dict[str, str] = {
    "account_id": "str",
    "open_lines": "Int64",
    "open_lines_list": "str",
    "has_revenue_rows": "bool",
    "months_with_revenue": "Int64",
}


def _typed(frame: pd.DataFrame, columns: tuple[str, ...], dtypes: dict[str, str]) -> pd.DataFrame:
    """Fix the column order and dtypes, whatever DuckDB inferred (an all-null column included)."""
    frame = frame.reindex(columns=list(columns))
    return frame.astype({c: dtypes.get(c, "float64") for c in columns})


def growth_by_account(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> pd.DataFrame:
    """One row per account with the growth and profitability metrics of spec §3.3.

    Columns: account_id, ttm_revenue, prior_ttm_revenue, revenue_growth, ttm_gross_margin,
    prior_ttm_gross_margin, gross_margin_pct, gross_margin_growth, share_of_wallet,
    whitespace, open_lines (Int64), open_lines_list (lines joined by ", "), open_pipeline,
    weighted_pipeline, win_rate, has_revenue_rows (bool: a revenue row in the ttm or prior
    window), months_with_revenue (Int64: ttm months with positive net revenue).

    Revenue metrics are null without a revenue table; share_of_wallet, whitespace and
    open_lines without a potential table (or a revenue table); pipeline metrics without an
    opportunities table. ``settings`` is accepted for a uniform signature (no setting
    changes these numbers).
    """
    del settings  # no tunable affects these metrics
    tables = table_sources(con, ("accounts", "revenue", "potential", "opportunities"))
    sql = GROWTH_BY_ACCOUNT_SQL.format(**tables["sources"])
    frame = run_frame(con, sql, _params(as_of, tables["flags"]))
    return _typed(frame, GROWTH_COLUMNS, _GROWTH_DTYPES)


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
    from {revenue}
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
    from {revenue}
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
    tables = table_sources(con, ("revenue",))
    if not tables["flags"]["has_revenue"]:
        return _typed(pd.DataFrame(), columns, dtypes)
    template = MONTHLY_REVENUE_SQL if by is None else MONTHLY_REVENUE_BY_LINE_SQL
    params = _params(
        as_of,
        tables["flags"],
        all_accounts=account_ids is None,
        account_ids=[str(a) for a in (account_ids or [])],
    )
    frame = run_frame(con, template.format(**tables["sources"]), params)
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
    from {revenue}
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
    from {potential}
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
    tables = table_sources(con, ("revenue", "potential"))
    flags = tables["flags"]
    if not (flags["has_revenue"] or flags["has_potential"]):
        return _typed(pd.DataFrame(), PRODUCT_MIX_COLUMNS, dtypes)
    sql = PRODUCT_MIX_SQL.format(**tables["sources"])
    frame = run_frame(con, sql, _params(as_of, flags, **_selection(account_id, account_ids)))
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
    from {opportunities}
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
    left join {accounts} as accounts on o.account_id = accounts.account_id
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
    tables = table_sources(con, ("accounts", "opportunities"))
    if not tables["flags"]["has_opportunities"]:
        return _typed(pd.DataFrame(), PIPELINE_COLUMNS, dtypes)
    sql = PIPELINE_SQL.format(**tables["sources"])
    frame = run_frame(con, sql, _params(as_of, tables["flags"], **_selection(account_id, account_ids)))
    return _typed(frame, PIPELINE_COLUMNS, dtypes)


# ---------------------------------------------------------------------------------------
# portfolio_summary
# ---------------------------------------------------------------------------------------

PORTFOLIO_SUMMARY_SQL = """
with

accounts as (
    select account_id from {accounts}
),

revenue_rows as (
    select
        account_id,
        product_line,
        revenue,
        gross_margin,
        period >= $ttm_start as is_ttm,
    from {revenue}
    where period >= $prior_start
      and period < $next_month_start
),

revenue_totals as (
    select
        coalesce(sum(revenue) filter (where is_ttm), 0) as ttm_revenue,
        coalesce(sum(revenue) filter (where not is_ttm), 0) as prior_ttm_revenue,
        sum(gross_margin) filter (where is_ttm) as ttm_gross_margin,
        sum(gross_margin) filter (where not is_ttm) as prior_ttm_gross_margin,
        sum(revenue) filter (where is_ttm and gross_margin is not null) as ttm_margin_revenue,
    from revenue_rows
),

ttm_by_account as (
    select
        account_id,
        sum(revenue) as ttm_revenue,
    from revenue_rows
    where is_ttm
    group by account_id
),

-- concentration over the accounts that bought something
positive_accounts as (
    select
        ttm_revenue,
        row_number() over (order by ttm_revenue desc) as revenue_rank,
    from ttm_by_account
    where round(ttm_revenue, 6) > 0
),

concentration as (
    select
        count(*) as accounts_with_revenue,
        sum(ttm_revenue) as positive_ttm_revenue,
        sum(ttm_revenue) filter (where revenue_rank <= 10) as top10_revenue,
        sum(ttm_revenue * ttm_revenue) as sum_of_squares,
    from positive_accounts
),

ttm_by_account_line as (
    select
        account_id,
        product_line,
        sum(revenue) as ttm_revenue,
    from revenue_rows
    where is_ttm
    group by account_id, product_line
),

potential_totals as (
    select
        coalesce(sum(potential.annual_potential), 0) as total_potential,
        coalesce(sum(
            case
                when round(potential.annual_potential - coalesce(r.ttm_revenue, 0), 6) > 0
                    then potential.annual_potential - coalesce(r.ttm_revenue, 0)
                else 0
            end
        ), 0) as whitespace,
    from {potential} as potential
    left join ttm_by_account_line as r
        on potential.account_id = r.account_id
        and potential.product_line = r.product_line
),

opportunities_as_of as (
    select
        amount,
        probability,
        close_date,
        case
            when status in ('won', 'lost') and close_date > $as_of then 'open'
            else status
        end as status_as_of,
    from {opportunities}
    where created_date is null
       or created_date <= $as_of
),

pipeline_totals as (
    select
        coalesce(sum(amount) filter (where status_as_of = 'open'), 0) as open_pipeline,
        coalesce(
            sum(amount * probability) filter (where status_as_of = 'open'), 0
        ) as weighted_pipeline,
        count(*) filter (where status_as_of = 'open') as open_opportunities,
        count(*) filter (where status_as_of = 'won' and close_date >= $ttm_start) as won_count,
        count(*) filter (where status_as_of = 'lost' and close_date >= $ttm_start) as lost_count,
    from opportunities_as_of
),

final as (
    select
        case when $has_accounts then (select count(*) from accounts) end as accounts_count,

        -- revenue and margin
        case when $has_revenue then r.ttm_revenue end as ttm_revenue,
        case when $has_revenue then r.prior_ttm_revenue end as prior_ttm_revenue,
        case
            when $has_revenue and round(r.prior_ttm_revenue, 6) > 0
                then r.ttm_revenue / r.prior_ttm_revenue - 1
        end as revenue_growth,
        r.ttm_gross_margin,
        r.prior_ttm_gross_margin,
        case
            when round(r.ttm_margin_revenue, 6) <> 0
                then r.ttm_gross_margin / r.ttm_margin_revenue
        end as gross_margin_pct,
        case
            when round(r.prior_ttm_gross_margin, 6) > 0
                then r.ttm_gross_margin / r.prior_ttm_gross_margin - 1
        end as gross_margin_growth,

        -- concentration
        case when $has_revenue then c.accounts_with_revenue end as accounts_with_revenue,
        case
            when c.accounts_with_revenue > 0 then c.top10_revenue / c.positive_ttm_revenue
        end as top10_share,
        case
            when c.accounts_with_revenue > 0
                then c.sum_of_squares / (c.positive_ttm_revenue * c.positive_ttm_revenue)
        end as herfindahl,

        -- potential
        case when $has_potential then p.total_potential end as annual_potential,
        case
            when $has_revenue and round(p.total_potential, 6) > 0
                then r.ttm_revenue / p.total_potential
        end as share_of_wallet,
        case when $has_revenue and $has_potential then p.whitespace end as whitespace,

        -- pipeline
        case when $has_opportunities then o.open_opportunities end as open_opportunities,
        case when $has_opportunities then o.open_pipeline end as open_pipeline,
        case when $has_opportunities then o.weighted_pipeline end as weighted_pipeline,
        case
            when o.won_count + o.lost_count > 0
                then o.won_count / (o.won_count + o.lost_count)
        end as win_rate,
    from revenue_totals as r
    cross join concentration as c
    cross join potential_totals as p
    cross join pipeline_totals as o
)

select * from final
"""


def portfolio_summary(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> dict[str, Any]:
    """Portfolio-level growth figures as one JSON-ready dict (None for missing values).

    Keys: as_of (ISO text), currency, accounts_count, ttm_revenue, prior_ttm_revenue,
    revenue_growth, ttm_gross_margin, prior_ttm_gross_margin, gross_margin_pct,
    gross_margin_growth, accounts_with_revenue (positive ttm revenue), top10_share,
    herfindahl (both over accounts with positive ttm revenue; None if there is none),
    annual_potential, share_of_wallet, whitespace, open_opportunities, open_pipeline,
    weighted_pipeline, win_rate.
    """
    tables = table_sources(con, ("accounts", "revenue", "potential", "opportunities"))
    sql = PORTFOLIO_SUMMARY_SQL.format(**tables["sources"])
    cursor = run(con, sql, _params(as_of, tables["flags"]))
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    summary: dict[str, Any] = {"as_of": as_of.isoformat(), "currency": settings.currency}
    summary.update({name: _plain(value) for name, value in zip(names, row, strict=True)})
    return summary


def _plain(value: Any) -> Any:
    """A JSON-ready Python value (ints stay ints, NaN becomes None)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
