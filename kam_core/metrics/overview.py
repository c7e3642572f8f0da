"""One computation of every per-account metric, and the account table the pages filter and rank.

``base_metrics`` runs the whole pipeline once (coverage, growth, plan status, health and the
scoring inputs; ``pipeline.py``) and returns its frames; it does not depend on criteria
weights or tiers. ``score_portfolio`` scores from it (cheap, so the weight editor can re-score
live) and ``account_overview`` joins what the pages show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from kam_core.metrics.pipeline import ALL_STEPS, COVERAGE_COLUMNS, GROWTH_COLUMNS, run_pipeline
from kam_core.metrics.portfolio import metrics_frame, score_portfolio
from kam_core.settings import Settings

# Settings that change scores but not the base metrics: a change to these re-scores only.
SCORING_SETTINGS = ("criteria_weights", "tier_scheme", "tiers", "quadrant_attractiveness",
                    "quadrant_strength", "stability_runs", "stability_spread", "stability_seed",
                    "borderline_stability")


def base_key(settings: Settings) -> str:
    """Cache key of ``base_metrics``: the settings except those that only affect scoring."""
    values = settings.as_dict()
    return repr(sorted((k, repr(v)) for k, v in values.items() if k not in SCORING_SETTINGS))


@dataclass
class BaseMetrics:
    """The frames of one pipeline run, each one row per account ordered by account_id:
    ``accounts`` (attributes and the names of manager and mentor), ``coverage``, ``growth``,
    ``plan``, ``metrics`` (the scoring inputs, ``portfolio.account_metrics``) and ``health``."""

    as_of: dt.date
    accounts: pd.DataFrame
    coverage: pd.DataFrame
    growth: pd.DataFrame
    plan: pd.DataFrame
    metrics: pd.DataFrame
    health: pd.DataFrame


def base_metrics(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date) -> BaseMetrics:
    """Every per-account metric: the pipeline's steps run once, their frames fetched at the end."""
    with run_pipeline(con, settings, as_of, ALL_STEPS) as steps:
        return BaseMetrics(
            as_of=as_of,
            accounts=steps.frame("names"),
            coverage=steps.frame("coverage"),
            growth=steps.frame("growth"),
            plan=steps.frame("plan"),
            metrics=metrics_frame(steps),
            health=steps.frame("health"),
        )


OVERVIEW_COLUMNS = {
    "scores": ["attractiveness", "strength", "missing_criteria", "tier", "tier_rank", "quadrant",
               "tier_stability", "is_borderline"],
    "growth": [c for c in GROWTH_COLUMNS if c != "account_id"],
    "coverage": [c for c in COVERAGE_COLUMNS if c != "account_id"],
    "health": ["health", "status", "reasons", "notes", "latest_rating", "latest_rating_date"],
    "plan": ["days_since_review", "review_overdue", "open_actions", "overdue_actions"],
}


def account_overview(con: duckdb.DuckDBPyConnection, settings: Settings, base: BaseMetrics,
                     scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per account: attributes, scores, tier, quadrant, growth, coverage, health, plan.
    Accounts without a status show ``no data``.

    ``scores`` is a ``score_portfolio`` result (the app's cached one); without it the
    portfolio is scored here from ``base.metrics`` (numpy only).
    """
    if scores is None:
        scores = score_portfolio(con, settings, base.as_of, metrics=base.metrics)
    frame = base.accounts
    sources = {"scores": scores, "growth": base.growth, "coverage": base.coverage,
               "health": base.health, "plan": base.plan}
    for part, columns in OVERVIEW_COLUMNS.items():
        source = sources[part]
        present = [c for c in columns if c in source.columns and c not in frame.columns]
        frame = frame.merge(source[["account_id", *present]], on="account_id", how="left")
    frame["status"] = frame["status"].astype("object").where(frame["status"].notna(), "no data")
    return frame
