"""Portfolio scores (spec §3.1): which accounts are key accounts, in which tier and quadrant.

Scoring is split in two so the app's weight editor stays instant:

1. ``account_metrics`` — the expensive part: every derived metric of
   ``schema.DERIVED_METRICS`` per account (coverage and growth queries) and its DuckDB
   ``percent_rank()`` (which does not depend on the weights). Cache it.
2. ``score_portfolio`` / ``contributions`` — the cheap part: criterion scores (ranks and
   manual scores), weighted sums per axis, tiers, quadrants, and the tier stability under
   weight perturbations. Pass the cached metrics in: a re-score after a weight change is
   one DuckDB query plus one numpy product (~0.3–0.5 s at 100k accounts).

Every criterion scores 0–10; an axis is ``10 × Σ wᶜ·sᶜ / Σ wᶜ`` (0–100). A derived criterion
scores ``10 × percent_rank`` of its metric among the accounts that have it (rounded to 6
decimals first; ties take the lowest rank; n = 1 gives 0); an account without the metric
scores 0. A manual criterion takes its score from ``criterion_scores``; a missing one counts
0 and is counted in ``missing_criteria`` (compensatory scoring).

>>> import datetime as dt, duckdb, pandas as pd
>>> from kam_core.ingest.schema import DERIVED_METRICS, create_schema
>>> from kam_core.settings import Settings
>>> con = duckdb.connect()
>>> create_schema(con, tables=["accounts", "criteria"])
>>> _ = con.execute("insert into accounts (account_id, name, annual_revenue) values "
...                 "('A', 'Acme', 10), ('B', 'Bolt', 20)")
>>> _ = con.execute("insert into criteria values ('size', 'Size', 'attractiveness', 1, "
...                 "'annual_revenue')")
>>> metrics = pd.DataFrame({"account_id": ["A", "B"]} | {m: [None, None] for m in
...                        DERIVED_METRICS} | {"annual_revenue": [10.0, 20.0]})
>>> scores = score_portfolio(con, Settings(), dt.date(2025, 1, 1), metrics=metrics)
>>> scores[["account_id", "attractiveness", "tier"]].to_dict("records")
[{'account_id': 'A', 'attractiveness': 0.0, 'tier': 'Standard'}, \
{'account_id': 'B', 'attractiveness': 100.0, 'tier': 'Gold'}]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from kam_core.asof import resolve_as_of
from kam_core.errors import KamError
from kam_core.ingest.schema import AXES, DERIVED_METRICS, loaded_tables
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame, quote_ident

__all__ = [
    "QUADRANTS",
    "PortfolioOverview",
    "account_metrics",
    "contributions",
    "portfolio_overview",
    "score_portfolio",
    "tier_changes",
    "tier_stability",
]

# McDonald's portfolio matrix, in display order (spec §3.1).
QUADRANTS: tuple[str, ...] = ("strategic", "star", "status", "streamline")

# Names of the relations this module registers on the caller's connection (or cursor).
# Registered frames and temp tables are private to that connection, so concurrent app
# sessions on their own cursors do not see each other's.
METRICS_VIEW = "_kam_portfolio_metrics"
CRITERIA_VIEW = "_kam_portfolio_criteria"
TIERS_VIEW = "_kam_portfolio_tiers"
MANUAL_VIEW = "_kam_portfolio_manual_scores"  # a temp view
OVERVIEW_SCORES_VIEW = "_kam_portfolio_overview_scores"
OVERVIEW_GROWTH_VIEW = "_kam_portfolio_overview_growth"
COVERAGE_INPUT_VIEW = "_kam_portfolio_coverage_input"
GROWTH_INPUT_VIEW = "_kam_portfolio_growth_input"


# Companion columns of account_metrics: the percent rank (0-1) of each derived metric.
PERCENT_RANK_PREFIX = "percent_rank_"


class PortfolioError(KamError, ValueError):
    """A portfolio function was called with an argument it cannot use."""


# ---------------------------------------------------------------------------------------
# SQL
# ---------------------------------------------------------------------------------------

ACCOUNT_METRICS_SQL = """
with

account_base as (
    select
        account_id,
        cast(annual_revenue as double) as annual_revenue,
    from accounts
),

coverage_metrics as (
    select * from _kam_portfolio_coverage_input
),

growth_metrics as (
    select * from _kam_portfolio_growth_input
),

final as (
    select
        account_base.account_id,
        -- the customer's own size
        account_base.annual_revenue,
        -- relationship coverage (§3.2)
        cast(coverage_metrics.coverage as double) as coverage,
        cast(coverage_metrics.key_players_covered as double) as key_players_covered,
        cast(coverage_metrics.threads as double) as threads,
        cast(coverage_metrics.support_balance as double) as support_balance,
        -- growth and profitability (§3.3)
        cast(growth_metrics.ttm_revenue as double) as ttm_revenue,
        cast(growth_metrics.revenue_growth as double) as revenue_growth,
        cast(growth_metrics.ttm_gross_margin as double) as ttm_gross_margin,
        cast(growth_metrics.gross_margin_pct as double) as gross_margin_pct,
        cast(growth_metrics.gross_margin_growth as double) as gross_margin_growth,
        cast(growth_metrics.share_of_wallet as double) as share_of_wallet,
        cast(growth_metrics.whitespace as double) as whitespace,
        cast(growth_metrics.open_pipeline as double) as open_pipeline,
        cast(growth_metrics.weighted_pipeline as double) as weighted_pipeline,
        cast(growth_metrics.win_rate as double) as win_rate,
    from account_base
    left join coverage_metrics using (account_id)
    left join growth_metrics using (account_id)
)

select * from final
order by account_id
"""

MANUAL_SCORES_LOADED_SQL = """
create or replace temp view _kam_portfolio_manual_scores as
select account_id, criterion_id, cast(score as double) as score
from criterion_scores
"""

MANUAL_SCORES_EMPTY_SQL = """
create or replace temp view _kam_portfolio_manual_scores as
select
    cast(null as varchar) as account_id,
    cast(null as varchar) as criterion_id,
    cast(null as double) as score,
where false
"""

CRITERIA_SQL = """
select
    criterion_id,
    name,
    axis,
    cast(weight as double) as weight,
    coalesce(nullif(lower(trim(source)), ''), 'manual') as source,
from criteria
order by criterion_id
"""

# The percent ranks depend on the metrics only, not on the weights: they belong to the
# expensive, cacheable part. One window per metric over ~100k rows (measured ~5x faster
# than one window partitioned by metric over a long form).
_PERCENT_RANKS_HEAD = """
select
    *,
{rank_columns}
from _kam_portfolio_metrics
order by account_id
"""

# percent_rank among the accounts that have the metric (rounded to 6 decimals; ties take
# the lowest rank; n = 1 gives 0); null for an account without it
_PERCENT_RANK_COLUMN = """\
    case when {metric} is not null then percent_rank() over (
        partition by {metric} is null order by round({metric}, 6)
    ) end as {rank_column},"""

# The criterion scores form one *wide* row per account: ``score_<j>`` (0-10) and
# ``missing_<j>`` per criterion ordinal j, so the axes are one projection and the
# stability matrix is a plain column fetch. Only names made by code (criterion
# ordinals, names of DERIVED_METRICS) enter the SQL text; criterion ids, weights, tier
# names and thresholds are parameters.

_CRITERION_SCORES_CTES = """
with

account_base as (
    select
        account_id,
        name,
    from accounts
),

-- 10 × percent_rank of the metric; null for an account without it (scores 0 below)
derived_scores as (
    select
        account_id,
{derived_columns}
    from _kam_portfolio_metrics
),

-- one column per manual criterion (a score given for a derived criterion is not read)
manual_scores as (
    select
        account_id,
{manual_columns}
    from _kam_portfolio_manual_scores
    group by account_id
),

criterion_scores as (
    select
        account_base.account_id,
        account_base.name,
{score_columns}
    from account_base
    left join derived_scores using (account_id)
    left join manual_scores using (account_id)
)"""

_DERIVED_COLUMN = """\
        10 * {rank_column} as {metric},"""

_MANUAL_COLUMN = """\
        max(score) filter (where criterion_id = $criterion_{j}) as manual_{j},"""

_DERIVED_SCORE = """\
        coalesce(derived_scores.{metric}, 0) as score_{j},
        false as missing_{j},"""

_MANUAL_SCORE = """\
        coalesce(manual_scores.manual_{j}, 0) as score_{j},
        manual_scores.manual_{j} is null as missing_{j},"""

_ACCOUNT_SCORES_TAIL = """,

axis_scores as (
    select
        *,
        -- 10 × Σ wᶜ·sᶜ / Σ wᶜ per axis (0-100), rounded before any threshold meets it;
        -- null without criteria or weight on the axis
        {attractiveness} as attractiveness,
        {strength} as strength,
        -- missing manual scores of criteria that carry weight
        {missing_criteria} as missing_criteria,
    from criterion_scores
),

tiered as (
    select
        *,
        -- the first tier from the top whose threshold attractiveness reaches
        case
{tier_ranks}
        end as tier_rank,
    from axis_scores
),

final as (
    select
        account_id,
        name,
        attractiveness,
        strength,
        missing_criteria,
        case tier_rank
{tier_names}
        end as tier,
        tier_rank,
        case
            when attractiveness is null or strength is null then null
            when attractiveness >= $quadrant_attractiveness
                and strength >= $quadrant_strength then 'strategic'
            when attractiveness >= $quadrant_attractiveness then 'star'
            when strength >= $quadrant_strength then 'status'
            else 'streamline'
        end as quadrant,
{score_list}
    from tiered
)

-- ordered by account_id in pandas (measured: sorting the wide rows here costs more)
select * from final
"""

_CONTRIBUTIONS_TAIL = """,

selected_scores as (
    select * from criterion_scores
    where $all_accounts or list_contains($account_ids, account_id)
),

criteria as (
    select * from _kam_portfolio_criteria
),

-- the wide rows back to one row per (account, criterion)
long_scores as (
{long_scores}
),

final as (
    select
        long_scores.account_id,
        criteria.criterion_id,
        criteria.name,
        criteria.axis,
        criteria.source,
        criteria.weight,
        long_scores.score,
        -- wᶜ·sᶜ / Σ wᶜ × 10: the points this criterion adds to its axis (0-100)
        criteria.weight * long_scores.score / nullif(criteria.axis_weight, 0) * 10
            as contribution,
        long_scores.is_missing,
    from long_scores
    inner join criteria using (criterion_ordinal)
)

select * from final
order by account_id, axis, criterion_id
"""

_LONG_SCORE = """\
    select
        account_id,
        {j} as criterion_ordinal,
        score_{j} as score,
        missing_{j} as is_missing,
    from selected_scores"""


def _rank_column(metric: str) -> str:
    return f"{PERCENT_RANK_PREFIX}{metric}"


def percent_ranks_sql() -> str:
    """The metrics view plus ``percent_rank_<metric>`` (0–1) for every derived metric."""
    columns = [
        _PERCENT_RANK_COLUMN.format(metric=quote_ident(m), rank_column=quote_ident(_rank_column(m)))
        for m in DERIVED_METRICS
    ]
    return _PERCENT_RANKS_HEAD.replace("{rank_columns}", "\n".join(columns))


def _criterion_scores_ctes(criteria: pd.DataFrame) -> tuple[str, dict[str, Any]]:
    """The CTEs up to ``criterion_scores`` (one wide row per account) and their parameters.

    ``criteria`` has ``criterion_ordinal`` (j), ``criterion_id`` and ``source``; a source
    outside ``DERIVED_METRICS`` and ``manual`` is refused (the loader already rejects it).
    """
    unknown = sorted(set(criteria["source"]) - {"manual", *DERIVED_METRICS})
    if unknown:
        raise PortfolioError(
            f"criteria name unknown source(s) {', '.join(unknown)}; valid sources: manual, "
            + ", ".join(DERIVED_METRICS)
        )
    used_metrics = [m for m in DERIVED_METRICS if m in set(criteria["source"])]
    derived = [
        _DERIVED_COLUMN.format(metric=quote_ident(m), rank_column=quote_ident(_rank_column(m)))
        for m in used_metrics
    ]
    manual: list[str] = []
    scores: list[str] = []
    params: dict[str, Any] = {}
    for j, source, criterion_id in zip(
        criteria["criterion_ordinal"], criteria["source"], criteria["criterion_id"], strict=True
    ):
        j = int(j)
        if source == "manual":
            manual.append(_MANUAL_COLUMN.format(j=j))
            scores.append(_MANUAL_SCORE.format(j=j))
            params[f"criterion_{j}"] = str(criterion_id)
        else:
            scores.append(_DERIVED_SCORE.format(j=j, metric=quote_ident(source)))
    sql = (
        _CRITERION_SCORES_CTES.replace("{derived_columns}", "\n".join(derived))
        .replace("{manual_columns}", "\n".join(manual))
        .replace("{score_columns}", "\n".join(scores))
    )
    return sql, params


def scoring_sql(criteria: pd.DataFrame, tiers: list[tuple[str, float]]) -> tuple[str, dict[str, Any]]:
    """The scoring query and its parameters (all but the quadrant thresholds).

    One row per account: account_id, name, attractiveness, strength, missing_criteria,
    tier, tier_rank, quadrant, then ``score_<j>`` per criterion ordinal.
    """
    sql, params = _criterion_scores_ctes(criteria)
    axis_sql: dict[str, str] = {}
    for axis in AXES:
        rows = criteria[criteria["axis"] == axis]
        total = float(rows["weight"].sum())
        if rows.empty or total <= 0:
            axis_sql[axis] = "cast(null as double)"
            continue
        terms = " + ".join(f"$weight_{int(j)} * score_{int(j)}" for j in rows["criterion_ordinal"])
        axis_sql[axis] = f"round(10 * ({terms}) / $total_weight_{axis}, 6)"
        params[f"total_weight_{axis}"] = total
        for j, weight in zip(rows["criterion_ordinal"], rows["weight"], strict=True):
            params[f"weight_{int(j)}"] = float(weight)
    weighted_manual = criteria[(criteria["source"] == "manual") & (criteria["weight"] > 0)]
    missing = " + ".join(f"cast(missing_{int(j)} as integer)" for j in weighted_manual["criterion_ordinal"])
    tier_ranks = []
    tier_names = []
    for rank, (name, threshold) in enumerate(tiers):
        tier_ranks.append(f"            when attractiveness >= $tier_threshold_{rank} then {rank}")
        tier_names.append(f"            when {rank} then $tier_name_{rank}")
        params[f"tier_threshold_{rank}"] = float(threshold)
        params[f"tier_name_{rank}"] = str(name)
    score_list = "\n".join(f"        score_{int(j)}," for j in criteria["criterion_ordinal"])
    tail = (
        _ACCOUNT_SCORES_TAIL.replace("{attractiveness}", axis_sql["attractiveness"])
        .replace("{strength}", axis_sql["strength"])
        .replace("{missing_criteria}", f"cast({missing or 0} as integer)")
        .replace("{tier_ranks}", "\n".join(tier_ranks))
        .replace("{tier_names}", "\n".join(tier_names))
        .replace("{score_list}", score_list)
    )
    return sql + tail, params


def contributions_sql(criteria: pd.DataFrame) -> tuple[str, dict[str, Any]]:
    """The long-form contributions query and its parameters (all but the account filter)."""
    sql, params = _criterion_scores_ctes(criteria)
    parts = [_LONG_SCORE.format(j=int(j)) for j in criteria["criterion_ordinal"]]
    tail = _CONTRIBUTIONS_TAIL.replace("{long_scores}", "\n    union all\n".join(parts))
    return sql + tail, params


OVERVIEW_BY_TIER_SQL = """
with

scores as (
    select account_id, tier, tier_rank from _kam_portfolio_overview_scores
),

growth as (
    select account_id, ttm_revenue, ttm_gross_margin from _kam_portfolio_overview_growth
),

tiers as (
    select tier_rank, tier from _kam_portfolio_tiers
    -- accounts whose attractiveness is null (or below every threshold) have no tier
    union all
    select null, null
),

per_tier as (
    select
        scores.tier_rank,
        count(*) as accounts_count,
        sum(growth.ttm_revenue) as ttm_revenue,
        sum(growth.ttm_gross_margin) as ttm_gross_margin,
    from scores
    left join growth using (account_id)
    group by scores.tier_rank
),

final as (
    select
        tiers.tier,
        tiers.tier_rank,
        cast(coalesce(per_tier.accounts_count, 0) as bigint) as accounts_count,
        -- an empty group sums to 0 when revenue was loaded (null when it was not)
        case
            when $has_revenue then coalesce(per_tier.ttm_revenue, 0)
            else per_tier.ttm_revenue
        end as ttm_revenue,
        per_tier.ttm_gross_margin,
    from tiers
    left join per_tier
        on per_tier.tier_rank is not distinct from tiers.tier_rank
    -- the no-tier row only when some account has no tier
    where tiers.tier_rank is not null or per_tier.accounts_count > 0
)

select * from final
order by tier_rank nulls last
"""

OVERVIEW_BY_QUADRANT_SQL = """
with

scores as (
    select account_id, quadrant from _kam_portfolio_overview_scores
),

growth as (
    select account_id, ttm_revenue, ttm_gross_margin from _kam_portfolio_overview_growth
),

quadrants as (
    select * from (values
        (0, 'strategic'), (1, 'star'), (2, 'status'), (3, 'streamline'), (4, null)
    ) as q(quadrant_rank, quadrant)
),

per_quadrant as (
    select
        scores.quadrant,
        count(*) as accounts_count,
        sum(growth.ttm_revenue) as ttm_revenue,
        sum(growth.ttm_gross_margin) as ttm_gross_margin,
    from scores
    left join growth using (account_id)
    group by scores.quadrant
),

final as (
    select
        quadrants.quadrant,
        quadrants.quadrant_rank,
        cast(coalesce(per_quadrant.accounts_count, 0) as bigint) as accounts_count,
        -- an empty group sums to 0 when revenue was loaded (null when it was not)
        case
            when $has_revenue then coalesce(per_quadrant.ttm_revenue, 0)
            else per_quadrant.ttm_revenue
        end as ttm_revenue,
        per_quadrant.ttm_gross_margin,
    from quadrants
    left join per_quadrant
        on per_quadrant.quadrant is not distinct from quadrants.quadrant
    where quadrants.quadrant is not null or per_quadrant.accounts_count > 0
)

select * exclude (quadrant_rank) from final
order by quadrant_rank
"""


# ---------------------------------------------------------------------------------------
# The expensive part: metrics
# ---------------------------------------------------------------------------------------


def account_metrics(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date | str | None = None,
    *,
    coverage: pd.DataFrame | None = None,
    growth: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every derived metric a criterion may name, one row per account (ordered by account_id).

    Columns: ``account_id``; each name of ``schema.DERIVED_METRICS`` (float64, NaN = the
    account does not have the metric): ``annual_revenue`` from the accounts table, the
    relationship metrics from ``coverage.coverage_by_account`` and the growth metrics from
    ``growth.growth_by_account`` (pass their frames in if you already have them); then
    ``percent_rank_<metric>`` for each (0–1 among the accounts that have the metric,
    rounded to 6 decimals first, ties lowest; NaN without the metric) — the criterion
    score of a derived criterion is 10 × that. This is the expensive part of scoring:
    cache it and pass it to ``score_portfolio``; the frame is also registered on ``con``.
    """
    as_of = resolve_as_of(con, settings, as_of)
    if coverage is None:
        from kam_core.metrics.coverage import coverage_by_account

        coverage = coverage_by_account(con, settings, as_of)
    if growth is None:
        from kam_core.metrics.growth import growth_by_account

        growth = growth_by_account(con, settings, as_of)
    con.register(COVERAGE_INPUT_VIEW, coverage)
    con.register(GROWTH_INPUT_VIEW, growth)
    try:
        metrics = fetch_frame(con, ACCOUNT_METRICS_SQL)
    finally:
        con.unregister(COVERAGE_INPUT_VIEW)
        con.unregister(GROWTH_INPUT_VIEW)
    return _ranked_metrics(con, metrics)


# ---------------------------------------------------------------------------------------
# The cheap part: scores from metrics and weights
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scoring:
    """The inputs of one scoring run: criteria in force and the tier scheme."""

    criteria: pd.DataFrame  # criterion_id, name, axis, weight, source, ordinal, axis_weight
    tiers: list[tuple[str, float]] = field(default_factory=list)


def _effective_criteria(con: duckdb.DuckDBPyConnection, settings: Settings) -> pd.DataFrame | None:
    """The criteria table with weights overridden by ``settings.criteria_weights``.

    None when no criteria table was loaded. The table is small (a few dozen rows), so the
    override is applied in pandas.
    """
    if "criteria" not in loaded_tables(con):
        return None
    criteria = fetch_frame(con, CRITERIA_SQL)
    overrides = settings.criteria_weights
    if overrides:
        override = criteria["criterion_id"].map(overrides)
        criteria["weight"] = override.where(override.notna(), criteria["weight"])
    criteria["weight"] = criteria["weight"].astype("float64").fillna(0.0)
    criteria["criterion_ordinal"] = np.arange(len(criteria), dtype="int32")
    criteria["axis_weight"] = criteria.groupby("axis")["weight"].transform("sum").astype("float64")
    return criteria


_RANK_COLUMNS: tuple[str, ...] = tuple(_rank_column(m) for m in DERIVED_METRICS)


def _ranked_metrics(con: duckdb.DuckDBPyConnection, metrics: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` with its percent-rank columns, registered on ``con`` as the metrics view.

    A frame from ``account_metrics`` already has them and is registered as it is (the
    cheap path of a re-score); a frame of metric values only gets them computed here.
    Raises a clear error when a metric column is missing.
    """
    missing = [c for c in ("account_id", *DERIVED_METRICS) if c not in metrics.columns]
    if missing:
        raise PortfolioError(
            f"metrics frame lacks column(s) {', '.join(missing)}; build it with account_metrics()"
        )
    if all(c in metrics.columns for c in _RANK_COLUMNS):
        con.register(METRICS_VIEW, metrics[["account_id", *DERIVED_METRICS, *_RANK_COLUMNS]])
        return metrics
    ranked = metrics[["account_id", *DERIVED_METRICS]].astype(
        {"account_id": "str"} | dict.fromkeys(DERIVED_METRICS, "float64")
    )
    # The same numbers as DuckDB's percent_rank() of percent_ranks_sql() — (rank − 1) / (n − 1)
    # among the accounts that have the metric, ties taking the lowest rank, n = 1 giving 0 —
    # computed column-wise by pandas: fifteen window sorts in DuckDB took 0.9 s at 100k
    # accounts, this takes 0.03 s, and re-scoring must stay interactive.
    for metric, column in zip(DERIVED_METRICS, _RANK_COLUMNS, strict=True):
        values = ranked[metric].round(6)
        n = int(values.notna().sum())
        ranks = values.rank(method="min")
        ranked[column] = (ranks - 1) / (n - 1) if n > 1 else ranks * 0.0
    ranked = ranked.astype({"account_id": "str"} | dict.fromkeys((*DERIVED_METRICS, *_RANK_COLUMNS), "float64"))
    con.register(METRICS_VIEW, ranked)
    return ranked


def _prepare(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    metrics: pd.DataFrame | None,
) -> _Scoring | None:
    """Register the scoring inputs on ``con``; None when there are no criteria at all."""
    criteria = _effective_criteria(con, settings)
    if criteria is None or criteria.empty:
        return None
    if metrics is None:
        metrics = account_metrics(con, settings, as_of)
    _ranked_metrics(con, metrics)
    con.register(CRITERIA_VIEW, criteria)
    if "criterion_scores" in loaded_tables(con):
        con.execute(MANUAL_SCORES_LOADED_SQL)
    else:
        con.execute(MANUAL_SCORES_EMPTY_SQL)
    return _Scoring(criteria=criteria, tiers=settings.tier_list)


def _tiers_frame(tiers: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tier_rank": np.arange(len(tiers), dtype="int32"),
            "tier": pd.Series([name for name, _ in tiers], dtype="str"),
            "threshold": np.array([threshold for _, threshold in tiers], dtype="float64"),
        }
    )


def score_portfolio(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date | str | None = None,
    metrics: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Attractiveness, strength, tier, quadrant and tier stability: one row per account.

    Columns (ordered by account_id): ``account_id``, ``name``, ``attractiveness`` and
    ``strength`` (0–100, rounded to 6 decimals; null when the axis has no criteria or a
    total weight of 0), ``missing_criteria`` (manual criteria with weight > 0 that have no
    score for the account), ``tier`` and ``tier_rank`` (0 = top; null when attractiveness
    is null or below every threshold), ``quadrant`` (strategic, star, status, streamline;
    null unless both axes have a value), ``tier_stability`` (0–1; null when attractiveness
    is null), ``is_borderline`` (stability below ``borderline_stability``) and one column
    ``score_<criterion_id>`` (0–10) per criterion.

    Without a criteria table (or with an empty one) every score column is null.
    ``metrics`` is the (cached) result of ``account_metrics``; without it the metrics are
    computed here. With cached metrics this is the cheap part: one DuckDB query and one
    numpy product for the stability.
    """
    as_of = resolve_as_of(con, settings, as_of)
    scoring = _prepare(con, settings, as_of, metrics)
    if scoring is None:
        return _unscored(con)
    criteria = scoring.criteria
    sql, params = scoring_sql(criteria, scoring.tiers)
    params |= {
        "quadrant_attractiveness": float(settings.quadrant_attractiveness),
        "quadrant_strength": float(settings.quadrant_strength),
    }
    frame = fetch_frame(con, sql, params).sort_values("account_id", ignore_index=True)
    ordinal_columns = [f"score_{int(j)}" for j in criteria["criterion_ordinal"]]
    matrix = frame[ordinal_columns].to_numpy(dtype="float64")
    scores = frame.drop(columns=ordinal_columns).astype(
        {
            "account_id": "str",
            "name": "str",
            "attractiveness": "float64",
            "strength": "float64",
            "missing_criteria": "Int64",
            "tier": "str",
            "tier_rank": "Int64",
            "quadrant": "str",
        }
    )
    is_attractiveness = (criteria["axis"] == "attractiveness").to_numpy()
    stability = tier_stability(
        matrix[:, is_attractiveness],
        criteria.loc[is_attractiveness, "weight"].to_numpy(dtype="float64"),
        [threshold for _, threshold in scoring.tiers],
        scores["tier_rank"].to_numpy(dtype="float64", na_value=np.nan),
        has_attractiveness=scores["attractiveness"].notna().to_numpy(),
        runs=int(settings.stability_runs),
        spread=float(settings.stability_spread),
        seed=int(settings.stability_seed),
    )
    scores["tier_stability"] = stability
    scores["is_borderline"] = pd.array(
        np.where(np.isnan(stability), None, np.round(stability, 6) < settings.borderline_stability),
        dtype="boolean",
    )
    score_columns = {f"score_{cid}": matrix[:, j] for j, cid in enumerate(criteria["criterion_id"])}
    return pd.concat([scores, pd.DataFrame(score_columns, index=scores.index)], axis=1)


UNSCORED_SQL = """
select
    account_id,
    name,
from accounts
order by account_id
"""


def _unscored(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every account with null scores: there are no criteria."""
    frame = fetch_frame(con, UNSCORED_SQL).astype({"account_id": "str", "name": "str"})
    n = len(frame)
    frame["attractiveness"] = np.full(n, np.nan)
    frame["strength"] = np.full(n, np.nan)
    frame["missing_criteria"] = pd.array([0] * n, dtype="Int64")
    frame["tier"] = pd.Series([None] * n, dtype="str", index=frame.index)
    frame["tier_rank"] = pd.array([None] * n, dtype="Int64")
    frame["quadrant"] = pd.Series([None] * n, dtype="str", index=frame.index)
    frame["tier_stability"] = np.full(n, np.nan)
    frame["is_borderline"] = pd.array([None] * n, dtype="boolean")
    return frame


def tier_stability(
    scores: np.ndarray,
    weights: np.ndarray,
    thresholds: Sequence[float],
    base_rank: np.ndarray,
    *,
    has_attractiveness: np.ndarray | None = None,
    runs: int = 200,
    spread: float = 0.2,
    seed: int = 42,
) -> np.ndarray:
    """Share of weight perturbations under which each account keeps its tier (0–1).

    ``scores`` is the (accounts × attractiveness criteria) matrix of criterion scores
    (0–10), ``weights`` their weights, ``thresholds`` the tier thresholds from the top and
    ``base_rank`` each account's tier rank (NaN = no tier). Each run multiplies every weight
    by ``uniform(1 − spread, 1 + spread)`` drawn from ``numpy.random.default_rng(seed)``
    (a criteria × runs matrix), recomputes attractiveness rounded to 6 decimals and checks
    whether it stays within the account's tier band ``[own threshold, next threshold up)``.
    Accounts that provably stay in their band under every perturbation are not recomputed
    (same result, less work).
    Accounts without attractiveness (``has_attractiveness`` false) get NaN; so does
    everyone when the weights sum to 0.

    Vectorised on purpose: the criterion-score matrix (accounts × criteria) times the
    perturbed weight matrix (criteria × runs) in numpy, in blocks of runs — well under a
    second at 100k accounts, no Python loop over accounts.
    """
    n_accounts = scores.shape[0]
    result = np.full(n_accounts, np.nan)
    weights = np.asarray(weights, dtype="float64")
    if n_accounts == 0 or weights.size == 0 or weights.sum() <= 0 or not len(thresholds):
        return result
    if has_attractiveness is None:
        has_attractiveness = np.ones(n_accounts, dtype=bool)
    # C order: a column block from pandas is Fortran-ordered, and the products below are
    # ~8x slower on it (measured)
    scores = np.ascontiguousarray(scores, dtype="float64")
    # The band of each account's tier: [lower, upper). "No tier" (below every threshold)
    # is the band below the last threshold, so it can be kept too.
    bounds = np.asarray(thresholds, dtype="float64")
    n_tiers = len(bounds)
    rank = np.where(np.isnan(base_rank), n_tiers, base_rank).astype("int64")
    lower = np.concatenate([bounds, [-np.inf]])[rank]
    upper = np.concatenate([[np.inf], bounds])[rank]

    # Accounts that no perturbation can move out of their band keep it in every run.
    # With weights wᵢ·fᵢ, fᵢ ∈ [1 − δ, 1 + δ], attractiveness A moves from A₀ by at most
    # 10·δ·Σ wᵢ·|sᵢ − A₀/10| / ((1 − δ)·Σ wᵢ)  (the numerator Σ wᵢfᵢ(sᵢ − A₀/10) is at most
    # δ·Σ wᵢ|sᵢ − A₀/10| since Σ wᵢ(sᵢ − A₀/10) = 0; the denominator at least (1 − δ)·Σ wᵢ).
    total = weights.sum()
    base = scores @ weights / total  # A₀ / 10
    if spread < 1:
        reach = 10 * spread * (np.abs(scores - base[:, None]) @ weights) / ((1 - spread) * total)
        margin = 1e-6  # stay clear of the rounding at 6 decimals
        safe = (10 * base - reach > lower + margin) & (10 * base + reach < upper - margin)
    else:
        safe = np.zeros(n_accounts, dtype=bool)
    kept = np.where(safe, runs, 0).astype("int64")

    rng = np.random.default_rng(seed)
    factors = rng.uniform(1.0 - spread, 1.0 + spread, size=(weights.size, runs))
    perturbed = weights[:, None] * factors  # criteria × runs
    # Work in millionths with 10 / Σw folded into the weights: one product per block.
    # round(A, 6) >= t  ⟺  A·10⁶ >= t·10⁶ − 0.5 (up to exact half-way ties, which random
    # weights do not hit), so no separate rounding pass is needed.
    scaled = perturbed * (1e7 / perturbed.sum(axis=0))
    todo = np.flatnonzero(~safe & has_attractiveness)
    if todo.size:
        sub_scores = scores[todo]
        low = (lower[todo] * 1e6 - 0.5)[:, None]
        high = (upper[todo] * 1e6 - 0.5)[:, None]
        block = 50  # runs per product: bounds memory to accounts × 50 doubles
        for start in range(0, runs, block):
            # a contiguous copy: a column slice as the right operand is several times slower
            block_weights = np.ascontiguousarray(scaled[:, start : start + block])
            attractiveness = sub_scores @ block_weights
            inside = (attractiveness >= low) & (attractiveness < high)
            kept[todo] += inside.sum(axis=1)
    result = kept / runs
    result[~has_attractiveness] = np.nan
    return result


def contributions(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date | str | None = None,
    metrics: pd.DataFrame | None = None,
    account_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each criterion's share of each account's score, the score explained (long form).

    Columns: ``account_id``, ``criterion_id``, ``name`` (of the criterion), ``axis``,
    ``source``, ``weight`` (in force, overrides applied), ``score`` (0–10),
    ``contribution`` (``wᶜ·sᶜ / Σ wᶜ × 10`` within the axis, so an account's contributions
    on one axis add up to its attractiveness or strength; null when the axis weighs 0) and
    ``is_missing`` (a manual score is missing). Ordered by account, axis, criterion.
    ``account_ids`` limits the rows to those accounts (the ranks still run over all).
    Empty without criteria.
    """
    as_of = resolve_as_of(con, settings, as_of)
    scoring = _prepare(con, settings, as_of, metrics)
    if scoring is None:
        return _empty_contributions()
    sql, params = contributions_sql(scoring.criteria)
    params |= {
        "all_accounts": account_ids is None,
        "account_ids": [str(a) for a in account_ids or []],
    }
    return fetch_frame(con, sql, params).astype(_CONTRIBUTION_DTYPES)


_CONTRIBUTION_DTYPES: dict[str, str] = {
    "account_id": "str",
    "criterion_id": "str",
    "name": "str",
    "axis": "str",
    "source": "str",
    "weight": "float64",
    "score": "float64",
    "contribution": "float64",
    "is_missing": "bool",
}


def _empty_contributions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _CONTRIBUTION_DTYPES.items()})


# ---------------------------------------------------------------------------------------
# Comparing and summarising
# ---------------------------------------------------------------------------------------


def tier_changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Accounts whose tier differs between two ``score_portfolio`` results (weight editor).

    Columns: ``account_id``, ``name``, ``tier_before``, ``tier_after``,
    ``attractiveness_before``, ``attractiveness_after`` and ``direction`` (``up``, ``down``,
    or null when one side has no tier). Ordered by direction, then the largest move first.
    """
    left = before[["account_id", "name", "tier", "tier_rank", "attractiveness"]]
    right = after[["account_id", "tier", "tier_rank", "attractiveness"]]
    merged = left.merge(right, on="account_id", how="outer", suffixes=("_before", "_after"))
    rank_before = merged["tier_rank_before"].astype("Float64")
    rank_after = merged["tier_rank_after"].astype("Float64")
    both = rank_before.notna() & rank_after.notna()
    changed = (both & (rank_before != rank_after)) | (rank_before.isna() != rank_after.isna())
    out = merged.loc[changed.fillna(False).to_numpy()].copy()
    moved_up = out["tier_rank_after"].astype("Float64") < out["tier_rank_before"].astype("Float64")
    out["direction"] = pd.Series(
        np.where(moved_up.isna(), None, np.where(moved_up.fillna(False), "up", "down")),
        index=out.index,
        dtype="str",
    )
    out["move"] = (out["attractiveness_after"] - out["attractiveness_before"]).abs()
    out = out.sort_values(["direction", "move", "account_id"], ascending=[False, False, True])
    return out[
        [
            "account_id",
            "name",
            "tier_before",
            "tier_after",
            "attractiveness_before",
            "attractiveness_after",
            "direction",
        ]
    ].reset_index(drop=True)


@dataclass(frozen=True)
class PortfolioOverview:
    """Portfolio totals per tier and per quadrant, and revenue concentration.

    ``by_tier``: tier, tier_rank, accounts_count, ttm_revenue, ttm_gross_margin (every tier
    of the scheme, plus a row with tier null when some accounts have none).
    ``by_quadrant``: quadrant, accounts_count, ttm_revenue, ttm_gross_margin.
    ``top10_share`` and ``herfindahl`` (0–1, over accounts with positive ttm revenue; None
    without revenue) and ``totals`` (the whole ``growth.portfolio_summary`` dict).
    """

    by_tier: pd.DataFrame
    by_quadrant: pd.DataFrame
    top10_share: float | None
    herfindahl: float | None
    totals: dict[str, Any]


def portfolio_overview(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date | str | None = None,
    scores: pd.DataFrame | None = None,
    growth: pd.DataFrame | None = None,
) -> PortfolioOverview:
    """Accounts, ttm revenue and ttm gross margin per tier and per quadrant, plus concentration.

    ``scores`` is a ``score_portfolio`` result and ``growth`` a ``growth_by_account``
    result (both computed here when not given). Revenue sums are null without a revenue
    table; the gross margin sum is null when no account has a margin.
    """
    from kam_core.metrics.growth import growth_by_account, portfolio_summary

    as_of = resolve_as_of(con, settings, as_of)
    if scores is None:
        scores = score_portfolio(con, settings, as_of)
    if growth is None:
        growth = growth_by_account(con, settings, as_of)
    params = {"has_revenue": "revenue" in loaded_tables(con)}
    con.register(OVERVIEW_SCORES_VIEW, scores[["account_id", "tier", "tier_rank", "quadrant"]])
    con.register(OVERVIEW_GROWTH_VIEW, growth[["account_id", "ttm_revenue", "ttm_gross_margin"]])
    con.register(TIERS_VIEW, _tiers_frame(settings.tier_list))
    try:
        by_tier = fetch_frame(con, OVERVIEW_BY_TIER_SQL, params)
        by_quadrant = fetch_frame(con, OVERVIEW_BY_QUADRANT_SQL, params)
    finally:
        con.unregister(OVERVIEW_SCORES_VIEW)
        con.unregister(OVERVIEW_GROWTH_VIEW)
    totals = portfolio_summary(con, settings, as_of)
    money = {"ttm_revenue": "float64", "ttm_gross_margin": "float64", "accounts_count": "int64"}
    return PortfolioOverview(
        by_tier=by_tier.astype({"tier": "str", "tier_rank": "Int64"} | money),
        by_quadrant=by_quadrant.astype({"quadrant": "str"} | money),
        top10_share=totals.get("top10_share"),
        herfindahl=totals.get("herfindahl"),
        totals=totals,
    )
