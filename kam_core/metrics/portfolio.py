"""Portfolio scores (spec §3.1): which accounts are key accounts, in which tier and quadrant.

Scoring is split in two so the app's weight editor stays instant:

1. ``account_metrics`` — the expensive part, computed by the pipeline (steps
   ``account_metrics`` and ``manual_scores``): every derived metric of
   ``schema.DERIVED_METRICS`` per account, the manual criteria's scores, and the percent
   rank of each metric (which does not depend on the weights). Cache it.
2. ``score_portfolio`` / ``contributions`` — the cheap part: the criterion-score matrix
   (accounts × criteria) times the weights in force, tiers, quadrants and the tier
   stability under weight perturbations (the same matrix times perturbed weights). Pass
   the cached metrics in: a re-score is numpy arithmetic over that matrix.

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
import os
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from kam_core.asof import resolve_as_of
from kam_core.errors import KamError
from kam_core.ingest.schema import DERIVED_METRICS
from kam_core.metrics.pipeline import MANUAL_PREFIX, account_order, run_pipeline
from kam_core.metrics.sources import loaded_inputs, reading, table_flags
from kam_core.settings import Settings
from kam_core.sqlutil import arrow_frame, fetch_frame

__all__ = [
    "QUADRANTS",
    "PortfolioError",
    "PortfolioOverview",
    "account_metrics",
    "contributions",
    "key_tiers",
    "percent_ranks",
    "portfolio_overview",
    "score_portfolio",
    "tier_changes",
    "tier_stability",
]

# McDonald's portfolio matrix, in display order (spec §3.1).
QUADRANTS: tuple[str, ...] = ("strategic", "star", "status", "streamline")

# Companion columns of account_metrics: the percent rank (0-1) of each derived metric.
PERCENT_RANK_PREFIX = "percent_rank_"
RANK_COLUMNS: tuple[str, ...] = tuple(f"{PERCENT_RANK_PREFIX}{m}" for m in DERIVED_METRICS)

# How many tiers from the top count as key accounts (the pages' "key accounts").
KEY_TIER_COUNT = 2


class PortfolioError(KamError, ValueError):
    """A portfolio function was called with an argument it cannot use."""


def key_tiers(settings: Settings) -> list[str]:
    """The tiers whose accounts are the *key accounts*: the top two of the scheme in force
    (Gold and Silver with the default medals)."""
    return [name for name, _ in settings.tier_list[:KEY_TIER_COUNT]]


# ---------------------------------------------------------------------------------------
# SQL
# ---------------------------------------------------------------------------------------


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

ACCOUNT_NAMES_SQL = """
select
    account_id,
    name,
from accounts
order by account_id
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
    """Every per-account input of scoring, one row per account (ordered by account_id).

    Columns: ``account_id``, ``name``; each name of ``schema.DERIVED_METRICS`` (float64, NaN =
    the account does not have the metric): ``annual_revenue`` from the accounts table, the
    relationship and growth metrics of the steps coverage and growth (``coverage`` and
    ``growth`` may give those steps' rows); ``manual_score_<criterion_id>`` per manual
    criterion; then ``percent_rank_<metric>`` for each derived metric (0–1 among the
    accounts that have it, rounded to 6 decimals first, ties lowest; NaN without the
    metric). Cache it and pass it to ``score_portfolio``.
    """
    as_of = resolve_as_of(con, settings, as_of)
    inputs = {"coverage": coverage, "growth": growth}
    given = {name: frame for name, frame in inputs.items() if frame is not None}
    with run_pipeline(con, settings, as_of, ("account_metrics", "manual_scores"), given=given) as steps:
        return metrics_frame(steps)


def metrics_frame(steps: Any) -> pd.DataFrame:
    """The metrics frame of a pipeline run that ran account_metrics (derived metric values
    and the manual criteria's scores per account): made by the run when it was asked to
    (``run_pipeline``'s ``prepare``, on the lane that computed the step), or now."""
    prepared = steps.prepared.get("account_metrics")
    if prepared is not None:
        return prepared
    return metrics_from_rows(steps.frame("account_metrics"))


def metrics_from_rows(rows: Any) -> pd.DataFrame:
    """The metrics frame from the step account_metrics' rows (a DataFrame in account order, or
    the step's Arrow rows)."""
    frame = rows if isinstance(rows, pd.DataFrame) else arrow_frame(account_order(rows))
    texts = {column: "str" for column in ("account_id", "name") if frame[column].dtype != "str"}
    if texts:  # (Arrow's rows are text already: a no-op astype still copies every column)
        frame = frame.astype(texts)
    return percent_ranks(frame)


def percent_ranks(metrics: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` with ``percent_rank_<metric>`` for every derived metric: DuckDB's
    ``percent_rank()`` — (rank − 1) / (n − 1) among the accounts that have the metric,
    rounded to 6 decimals, ties taking the lowest rank, n = 1 giving 0 — computed column
    by column in numpy: an account's rank − 1 is the number of values below its own (one
    sort per metric; fifteen window sorts in DuckDB took 0.9 s at 100k accounts). Large
    frames sort their metrics on every core (numpy releases the GIL while it sorts)."""
    columns = [metrics[metric].to_numpy(dtype="float64", na_value=np.nan) for metric in DERIVED_METRICS]
    if len(metrics) >= _PARALLEL_RANKS and (os.cpu_count() or 1) > 1:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            ranked = list(pool.map(_percent_rank, columns))
    else:
        ranked = [_percent_rank(values) for values in columns]
    kept = metrics.drop(columns=[c for c in RANK_COLUMNS if c in metrics.columns])
    return pd.concat([kept, pd.DataFrame(dict(zip(RANK_COLUMNS, ranked, strict=True)), index=metrics.index)],
                     axis=1)


# From how many accounts the percent ranks are sorted on several cores.
_PARALLEL_RANKS = 20_000


def _percent_rank(column: np.ndarray) -> np.ndarray:
    values = np.round(column, 6)
    present = np.flatnonzero(~np.isnan(values))
    order = present[np.argsort(values[present])]  # (ties share a rank: any order will do)
    ordered = values[order]
    # in sorted order, each value's rank − 1 is the position of its first equal value
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    below = np.maximum.accumulate(np.where(first, np.arange(len(ordered)), 0)).astype("float64")
    result = np.full(len(values), np.nan)
    result[order] = below / (len(ordered) - 1) if len(ordered) > 1 else 0.0
    return result


# ---------------------------------------------------------------------------------------
# The cheap part: scores from metrics and weights
# ---------------------------------------------------------------------------------------


def effective_criteria(con: duckdb.DuckDBPyConnection, settings: Settings) -> pd.DataFrame | None:
    """The criteria table with the weights in force: ``settings.criteria_weights`` override
    the table's (the weight editor's session changes and ``kam.toml``).

    Columns: criterion_id, name, axis, weight, source, axis_weight (the total weight of the
    criterion's axis). None when no criteria table was loaded. The table is small (a few
    dozen rows), so the override is applied in plain Python.
    """
    rows = _criteria_rows(con, settings)
    return None if rows is None else _criteria_frame(rows)


def _criteria_rows(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[tuple] | None:
    """``effective_criteria``'s rows as tuples (criterion_id, name, axis, weight, source,
    axis_weight): what a kept score is looked up by, before any frame is made."""
    try:
        rows = con.execute(CRITERIA_SQL).fetchall()
    except duckdb.CatalogException:  # no criteria table was loaded
        return None
    overrides = settings.criteria_weights or {}
    weights = [overrides.get(cid) if overrides.get(cid) is not None else weight for cid, _, _, weight, _ in rows]
    weights = [0.0 if weight is None else float(weight) for weight in weights]
    axis_totals: dict[str, float] = {}
    for (_, _, axis, _, _), weight in zip(rows, weights, strict=True):
        if axis is not None:
            axis_totals[axis] = axis_totals.get(axis, 0.0) + weight
    unknown = sorted({source for *_, source in rows} - {"manual", *DERIVED_METRICS})
    if unknown:
        raise PortfolioError(
            f"criteria name unknown source(s) {', '.join(unknown)}; valid sources: manual, "
            + ", ".join(DERIVED_METRICS)
        )
    return [(cid, name, axis, weight, source, np.nan if axis is None else axis_totals[axis])
            for (cid, name, axis, _, source), weight in zip(rows, weights, strict=True)]


def _criteria_frame(rows: list[tuple]) -> pd.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [[], [], [], [], [], []]
    return pd.DataFrame({
        "criterion_id": pd.Series(columns[0], dtype="str"),
        "name": pd.Series(columns[1], dtype="str"),
        "axis": pd.Series(columns[2], dtype="str"),
        "weight": np.array(columns[3], dtype="float64"),
        "source": pd.Series(columns[4], dtype="str"),
        "axis_weight": np.array(columns[5], dtype="float64"),
    })


@dataclass(frozen=True)
class ScoreMatrix:
    """Criterion scores of every account: ``scores[i, j]`` (0–10) of account i and criterion j
    (criteria in ``criteria`` order), ``missing[i, j]`` for a manual score not given."""

    accounts: pd.DataFrame  # account_id, name
    criteria: pd.DataFrame
    scores: np.ndarray
    missing: np.ndarray


# The score matrices of the latest complete metrics frames: a re-score after a weight change
# (the weight editor) finds its matrix here. The matrix depends on the frame and on the
# criteria's ids and sources, not on the weights; an entry lives as long as its frame (metrics
# frames are not changed in place: every producer makes a new one).
_MATRICES: dict[int, tuple[weakref.ref, tuple, ScoreMatrix]] = {}
_MATRICES_KEPT = 4


def score_matrix(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date | str | None,
                 metrics: pd.DataFrame | None, criteria: pd.DataFrame) -> ScoreMatrix:
    """The criterion-score matrix from a metrics frame (``account_metrics``).

    A frame of metric values alone (without ranks, manual scores or names) is completed:
    ranks by ``percent_ranks``, manual scores and names by the pipeline's manual_scores step.
    """
    manual = [MANUAL_PREFIX + cid for cid, source in zip(criteria["criterion_id"], criteria["source"], strict=True)
              if source == "manual"]
    if metrics is None or not {"name", *RANK_COLUMNS, *manual} <= set(metrics.columns):
        return _score_matrix(con, settings, as_of, metrics, criteria)  # completed from the database: not kept
    key = (tuple(criteria["criterion_id"]), tuple(criteria["source"]), len(metrics), tuple(metrics.columns))
    cached = _MATRICES.get(id(metrics))
    if cached is not None and cached[0]() is metrics and cached[1] == key:
        kept = cached[2]
        return ScoreMatrix(kept.accounts, criteria.reset_index(drop=True), kept.scores, kept.missing)
    matrix = _score_matrix(con, settings, as_of, metrics, criteria)
    _keep(_MATRICES, metrics, key, matrix)
    return matrix


def _score_matrix(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date | str | None,
                  metrics: pd.DataFrame | None, criteria: pd.DataFrame) -> ScoreMatrix:
    if metrics is None:
        metrics = account_metrics(con, settings, as_of)
    missing = [c for c in ("account_id", *DERIVED_METRICS) if c not in metrics.columns]
    if missing:
        raise PortfolioError(
            f"metrics frame lacks column(s) {', '.join(missing)}; build it with account_metrics()"
        )
    manual_ids = criteria.loc[criteria["source"] == "manual", "criterion_id"].tolist()
    manual_columns = [MANUAL_PREFIX + cid for cid in manual_ids]
    if not all(c in metrics.columns for c in RANK_COLUMNS):
        metrics = percent_ranks(metrics)
    if "name" not in metrics.columns or not all(c in metrics.columns for c in manual_columns):
        with run_pipeline(con, settings, resolve_as_of(con, settings, as_of), ("manual_scores",)) as steps:
            manual = steps.query("select * from step_manual_scores order by account_id")
        values = metrics.drop(columns=[c for c in ("name", *manual_columns) if c in metrics.columns])
        metrics = manual.astype({"account_id": "str", "name": "str"}).merge(
            values.astype({"account_id": "str"}), on="account_id", how="left")
    n = len(metrics)
    scores = np.zeros((n, len(criteria)), dtype="float64")
    absent = np.zeros((n, len(criteria)), dtype=bool)
    for j, (cid, source) in enumerate(zip(criteria["criterion_id"], criteria["source"], strict=True)):
        if source == "manual":
            column = metrics[MANUAL_PREFIX + cid].to_numpy(dtype="float64", na_value=np.nan)
            absent[:, j] = np.isnan(column)
        else:  # derived: a manual score given for it is not read
            column = 10 * metrics[f"{PERCENT_RANK_PREFIX}{source}"].to_numpy(dtype="float64", na_value=np.nan)
        scores[:, j] = np.nan_to_num(column, nan=0.0)
    accounts = metrics[["account_id", "name"]].reset_index(drop=True)
    return ScoreMatrix(accounts, criteria.reset_index(drop=True), scores, absent)


def _axis(matrix: ScoreMatrix, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the axis' criteria, attractiveness or strength rounded to 6 decimals; NaN
    without criteria or weight on the axis)."""
    on_axis = (matrix.criteria["axis"] == axis).to_numpy()
    weights = matrix.criteria["weight"].to_numpy(dtype="float64")[on_axis]
    total = float(weights.sum())
    if not on_axis.any() or total <= 0:
        return on_axis, np.full(len(matrix.accounts), np.nan)
    # every value is rounded to 6 decimals before a threshold meets it
    return on_axis, np.round(10 * (matrix.scores[:, on_axis] @ weights) / total, 6)


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
    ``metrics`` is the (cached) result of ``account_metrics``; without it the pipeline
    computes it. With cached metrics this is numpy arithmetic only.
    """
    rows = _criteria_rows(con, settings)
    if not rows:
        return _unscored(con)
    key = _scores_key(rows, settings)
    cached = _SCORES.get(id(metrics))
    if cached is not None and cached[0]() is metrics and cached[1] == key:
        return cached[2].copy()  # (a copy: the caller may change its frame)
    scores = _score_portfolio(con, settings, as_of, metrics, _criteria_frame(rows))
    kept = _MATRICES.get(id(metrics))
    if kept is not None and kept[0]() is metrics:  # a complete frame (its matrix is kept)
        _keep(_SCORES, metrics, key, scores.copy())
    return scores


# The scores of the latest complete metrics frames, by the criteria and scoring settings they
# were computed with: ``base_metrics`` scores its frame beside the health step (``prepare_scores``)
# and the caller's ``score_portfolio`` with the same settings finds them here.
_SCORES: dict[int, tuple[weakref.ref, tuple, pd.DataFrame]] = {}


def _scores_key(criteria: list[tuple], settings: Settings) -> tuple:
    """What a score of a complete metrics frame depends on besides the frame: the criteria in
    force (``_criteria_rows``: weights included) and the scoring settings."""
    return (repr(criteria), repr(settings.tier_list), settings.quadrant_attractiveness,
            settings.quadrant_strength, settings.stability_runs, settings.stability_spread,
            settings.stability_seed, settings.borderline_stability)


def _keep(cache: dict[int, tuple[weakref.ref, tuple, Any]], metrics: pd.DataFrame, key: tuple, value: Any) -> None:
    """Keep ``value`` for the frame ``metrics`` (while it lives) and ``key`` (the latest few)."""
    with _KEEPING:  # (the pipeline's side lane and the app's sessions keep from their threads)
        for stale in [k for k, (ref, _, _) in list(cache.items()) if ref() is None]:
            cache.pop(stale, None)
        while len(cache) >= _MATRICES_KEPT:
            cache.pop(next(iter(cache)), None)
        cache[id(metrics)] = (weakref.ref(metrics), key, value)


_KEEPING = threading.Lock()


def prepare_scores(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date | str | None,
                   metrics: pd.DataFrame) -> pd.DataFrame:
    """``metrics``, scored with ``settings`` now (on a cursor of its own: callable from the
    pipeline's side lane), so that ``score_portfolio`` with the same frame and settings returns
    the kept scores."""
    cur = con.cursor()
    try:
        score_portfolio(cur, settings, as_of, metrics=metrics)
    except (KamError, duckdb.Error):
        pass  # (the caller's own score_portfolio meets the same error and reports it)
    finally:
        cur.close()
    return metrics


def _score_portfolio(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date | str | None,
                     metrics: pd.DataFrame | None, criteria: pd.DataFrame) -> pd.DataFrame:
    matrix = score_matrix(con, settings, as_of, metrics, criteria)
    on_attractiveness, attractiveness = _axis(matrix, "attractiveness")
    _, strength = _axis(matrix, "strength")
    weights = matrix.criteria["weight"].to_numpy(dtype="float64")
    counted = (matrix.criteria["source"] == "manual").to_numpy() & (weights > 0)
    tiers = settings.tier_list
    thresholds = np.array([threshold for _, threshold in tiers], dtype="float64")
    # the first tier from the top whose threshold attractiveness reaches
    reached = attractiveness[:, None] >= thresholds[None, :]
    tier_rank = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
    has_tier = ~np.isnan(attractiveness) & (tier_rank >= 0)
    a_high = attractiveness >= float(settings.quadrant_attractiveness)
    s_high = strength >= float(settings.quadrant_strength)
    # positions in QUADRANTS: strategic, star, status, streamline
    quadrant = np.where(a_high, np.where(s_high, 0, 1), np.where(s_high, 2, 3))
    has_quadrant = ~np.isnan(attractiveness) & ~np.isnan(strength)
    stability = tier_stability(
        matrix.scores[:, on_attractiveness],
        weights[on_attractiveness],
        thresholds.tolist(),
        np.where(has_tier, tier_rank, np.nan).astype("float64"),
        has_attractiveness=~np.isnan(attractiveness),
        runs=int(settings.stability_runs),
        spread=float(settings.stability_spread),
        seed=int(settings.stability_seed),
    )
    n = len(matrix.accounts)
    out = {
        "account_id": matrix.accounts["account_id"].astype("str"),
        "name": matrix.accounts["name"].astype("str"),
        "attractiveness": attractiveness,
        "strength": strength,
        "missing_criteria": pd.arrays.IntegerArray((matrix.missing & counted).sum(axis=1).astype("int64"),
                                                   np.zeros(n, dtype=bool)),
        "tier": _labels([name for name, _ in tiers], tier_rank, has_tier),
        "tier_rank": pd.arrays.IntegerArray(np.where(has_tier, tier_rank, 0).astype("int64"), ~has_tier),
        "quadrant": _labels(list(QUADRANTS), quadrant, has_quadrant),
        "tier_stability": stability,
        "is_borderline": pd.arrays.BooleanArray(
            np.round(np.nan_to_num(stability), 6) < settings.borderline_stability, np.isnan(stability)),
    }
    for j, cid in enumerate(matrix.criteria["criterion_id"]):
        out[f"score_{cid}"] = matrix.scores[:, j]
    return pd.DataFrame(out)


def _labels(names: list[str], codes: np.ndarray, present: np.ndarray) -> pd.Series:
    """``names[code]`` per row (null where not ``present``) as a text column, made in Arrow
    (no Python string per row)."""
    import pyarrow as pa

    indices = pa.array(np.where(present, codes, 0).astype("int64"), mask=~present)
    return pa.chunked_array([pa.array(names or [""], type=pa.string()).take(indices)]).to_pandas()


def _unscored(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every account with null scores: there are no criteria."""
    with reading(con) as cur:
        frame = fetch_frame(cur, ACCOUNT_NAMES_SQL).astype({"account_id": "str", "name": "str"})
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
    (same result, less work); the others are computed in blocks on every core.
    Accounts without attractiveness (``has_attractiveness`` false) get NaN; so does
    everyone when the weights sum to 0.

    Vectorised on purpose: the criterion-score matrix (accounts × criteria) times the
    perturbed weight matrix (criteria × runs) in numpy, in blocks of accounts — well under a
    tenth of a second at 100k accounts, no Python loop over accounts.
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

    # Accounts that no perturbation can move out of their band keep it in every run. With
    # weights wᵢ·fᵢ, fᵢ ∈ [1 − δ, 1 + δ], attractiveness A ≥ lower ⟺ Σ wᵢfᵢ(10sᵢ − lower) ≥ 0,
    # whose least value over that box is Σ wᵢgᵢ − δ·Σ wᵢ|gᵢ| (gᵢ = 10sᵢ − lower); likewise the
    # largest of Σ wᵢfᵢ(10sᵢ − upper). Dividing by Σ wᵢfᵢ ≤ (1 + δ)·Σ wᵢ < 10·Σ wᵢ, a margin of
    # 10⁻⁵·Σ wᵢ keeps clear of the rounding at 6 decimals.
    total = weights.sum()
    if spread < 1:
        margin = 1e-5 * total
        with np.errstate(invalid="ignore"):  # an infinite bound: that side cannot be left
            below = 10 * scores - lower[:, None]
            above = 10 * scores - upper[:, None]
            keeps_lower = np.isneginf(lower) | (below @ weights - spread * (np.abs(below) @ weights) > margin)
            keeps_upper = np.isposinf(upper) | (above @ weights + spread * (np.abs(above) @ weights) < -margin)
        safe = keeps_lower & keeps_upper
    else:
        safe = np.zeros(n_accounts, dtype=bool)
    kept = np.where(safe, runs, 0).astype("int64")

    rng = np.random.default_rng(seed)
    factors = rng.uniform(1.0 - spread, 1.0 + spread, size=(weights.size, runs))
    perturbed = weights[:, None] * factors  # criteria × runs
    # Work in millionths with 10 / Σw folded into the weights: one product per block.
    # round(A, 6) >= t  ⟺  A·10⁶ >= t·10⁶ − 0.5 (up to exact half-way ties, which random
    # weights do not hit), so no separate rounding pass is needed.
    scaled = np.ascontiguousarray(perturbed * (1e7 / perturbed.sum(axis=0)))
    todo = np.flatnonzero(~safe & has_attractiveness)
    if todo.size:
        sub_scores = scores[todo]
        low = (lower[todo] * 1e6 - 0.5)[:, None]
        high = (upper[todo] * 1e6 - 0.5)[:, None]

        def inside(rows: slice) -> np.ndarray:
            # a block of accounts × runs; einsum, not BLAS: with a handful of criteria the
            # BLAS product is several times slower here (measured), and it spawns threads
            attractiveness = np.einsum("ij,jk->ik", sub_scores[rows], scaled)
            return ((attractiveness >= low[rows]) & (attractiveness < high[rows])).sum(axis=1)

        # blocks of accounts (bounded memory), on every core: numpy releases the GIL
        block = 4096
        blocks = [slice(start, start + block) for start in range(0, todo.size, block)]
        if len(blocks) > 1 and (os.cpu_count() or 1) > 1:
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                counts = list(pool.map(inside, blocks))
        else:
            counts = [inside(rows) for rows in blocks]
        kept[todo] += np.concatenate(counts)
    result = kept / runs
    result[~has_attractiveness] = np.nan
    return result


def contribution_matrix(matrix: ScoreMatrix) -> np.ndarray:
    """``wᶜ·sᶜ / Σ wᶜ × 10`` per account and criterion (the points each criterion adds to its
    axis, 0–100); NaN where the axis weighs 0."""
    weights = matrix.criteria["weight"].to_numpy(dtype="float64")
    axis_weight = matrix.criteria["axis_weight"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(axis_weight > 0, weights / axis_weight * 10, np.nan)
    return matrix.scores * factor[None, :]


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
    criteria = effective_criteria(con, settings)
    if criteria is None or criteria.empty:
        return _empty_contributions()
    matrix = score_matrix(con, settings, as_of, metrics, criteria)
    rows = np.arange(len(matrix.accounts))
    if account_ids is not None:
        rows = np.flatnonzero(matrix.accounts["account_id"].isin([str(a) for a in account_ids]).to_numpy())
    k = len(matrix.criteria)
    points = contribution_matrix(matrix)
    order = np.lexsort((matrix.criteria["criterion_id"].to_numpy(), matrix.criteria["axis"].to_numpy()))
    account_index = np.repeat(rows, k)
    criterion_index = np.tile(order, len(rows))
    crit = matrix.criteria.iloc[criterion_index].reset_index(drop=True)
    long = pd.DataFrame({
        "account_id": matrix.accounts["account_id"].to_numpy()[account_index],
        "criterion_id": crit["criterion_id"],
        "name": crit["name"],
        "axis": crit["axis"],
        "source": crit["source"],
        "weight": crit["weight"],
        "score": matrix.scores[account_index, criterion_index],
        "contribution": points[account_index, criterion_index],
        "is_missing": matrix.missing[account_index, criterion_index],
    })
    return long.astype(_CONTRIBUTION_DTYPES)


def contributions_by_account(matrix: ScoreMatrix) -> list[dict[str, float | None]]:
    """Per account (in matrix order) its contributions keyed by criterion_id (the report's
    ``contributions`` object; None where the axis weighs 0)."""
    points = contribution_matrix(matrix)
    ids = matrix.criteria["criterion_id"].tolist()
    values = np.where(np.isnan(points), None, points).tolist()
    return [dict(zip(ids, row, strict=True)) for row in values]


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
    without revenue) and ``totals`` (``growth.portfolio_figures`` of the same accounts).
    """

    by_tier: pd.DataFrame
    by_quadrant: pd.DataFrame
    top10_share: float | None
    herfindahl: float | None
    totals: dict[str, Any]


# Totals per tier and per quadrant over registered frames (a page's filtered accounts).
OVERVIEW_BY_TIER_SQL = """
with

scores as (
    select account_id, tier, tier_rank from overview_scores
),

growth as (
    select account_id, ttm_revenue, ttm_gross_margin from overview_growth
),

tiers as (
    select tier_rank, tier from tier_scheme
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
    select account_id, quadrant from overview_scores
),

growth as (
    select account_id, ttm_revenue, ttm_gross_margin from overview_growth
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


def portfolio_overview(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date | str | None,
    scores: pd.DataFrame,
    growth: pd.DataFrame,
) -> PortfolioOverview:
    """Accounts, ttm revenue and ttm gross margin per tier and per quadrant, and the
    portfolio figures (concentration included) — all over the accounts given.

    ``scores`` has account_id, tier, tier_rank, quadrant (a ``score_portfolio`` result or a
    page's filtered account table); ``growth`` has account_id and the growth columns
    (``growth_by_account``, or the same filtered table). Revenue sums are null without a
    revenue table; the gross margin sum is null when no account has a margin.
    """
    from kam_core.metrics.growth import portfolio_figures

    del as_of  # the figures are those of the rows given
    params = table_flags(loaded_inputs(con))
    cur = con.cursor()
    try:
        cur.register("overview_scores", scores[["account_id", "tier", "tier_rank", "quadrant"]])
        cur.register("overview_growth", growth.reindex(columns=["account_id", "ttm_revenue", "ttm_gross_margin"]))
        cur.register("tier_scheme", _tiers_frame(settings.tier_list))
        by_tier = fetch_frame(cur, OVERVIEW_BY_TIER_SQL, params)
        by_quadrant = fetch_frame(cur, OVERVIEW_BY_QUADRANT_SQL, params)
    finally:
        cur.close()
    totals = portfolio_figures(con, growth[growth["account_id"].isin(scores["account_id"])])
    money = {"ttm_revenue": "float64", "ttm_gross_margin": "float64", "accounts_count": "int64"}
    return PortfolioOverview(
        by_tier=by_tier.astype({"tier": "str", "tier_rank": "Int64"} | money),
        by_quadrant=by_quadrant.astype({"quadrant": "str"} | money),
        top10_share=totals.get("top10_share"),
        herfindahl=totals.get("herfindahl"),
        totals=totals,
    )


def _tiers_frame(tiers: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tier_rank": np.arange(len(tiers), dtype="int32"),
            "tier": pd.Series([name for name, _ in tiers], dtype="str"),
            "threshold": np.array([threshold for _, threshold in tiers], dtype="float64"),
        }
    )


# ---------------------------------------------------------------------------------------
# The weight editor
# ---------------------------------------------------------------------------------------


def weights_in_force(criteria: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """``criteria`` (criterion_id, weight as loaded, …) with ``weight`` replaced by the weight
    in force: ``settings.criteria_weights`` overrides the table's."""
    overrides = settings.criteria_weights
    weights = [overrides.get(cid, weight) for cid, weight in zip(criteria["criterion_id"], criteria["weight"],
                                                                    strict=True)]
    return criteria.assign(weight=weights)


def weight_overrides(criteria: pd.DataFrame, edited: pd.DataFrame) -> dict[str, float]:
    """The weights of ``edited`` (criterion_id, weight) that differ from the loaded ``criteria``:
    what ``settings.criteria_weights`` must hold for the edit (a blank weight keeps the loaded
    one).

    >>> loaded = pd.DataFrame({"criterion_id": ["a", "b"], "weight": [1.0, 2.0]})
    >>> weight_overrides(loaded, pd.DataFrame({"criterion_id": ["a", "b"], "weight": [1.0, 3.0]}))
    {'b': 3.0}
    """
    loaded = dict(zip(criteria["criterion_id"], criteria["weight"], strict=True))
    return {cid: float(weight) for cid, weight in zip(edited["criterion_id"], edited["weight"], strict=True)
            if pd.notna(weight) and float(weight) != float(loaded[cid])}
