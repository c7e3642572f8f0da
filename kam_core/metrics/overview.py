"""One computation of every per-account metric, and the account table the pages filter and rank.

``base_metrics`` runs the whole pipeline once (coverage, growth, plan status, health and the
scoring inputs; ``pipeline.py``) and returns its frames; it does not depend on criteria
weights or tiers. ``score_portfolio`` scores from it (cheap, so the weight editor can re-score
live) and ``account_overview`` joins what the pages show.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from kam_core.metrics.pipeline import ALL_STEPS, COVERAGE_COLUMNS, GROWTH_COLUMNS, LazyFrame, run_pipeline
from kam_core.metrics.portfolio import metrics_frame, metrics_from_rows, prepare_scores, score_portfolio
from kam_core.settings import Settings

# Settings that change scores but not the base metrics: a change to these re-scores only.
SCORING_SETTINGS = ("criteria_weights", "tier_scheme", "tiers", "quadrant_attractiveness",
                    "quadrant_strength", "stability_runs", "stability_spread", "stability_seed",
                    "borderline_stability")


def base_key(settings: Settings) -> str:
    """Cache key of ``base_metrics``: the settings except those that only affect scoring."""
    values = settings.as_dict()
    return repr(sorted((k, repr(v)) for k, v in values.items() if k not in SCORING_SETTINGS))


FRAMES = ("accounts", "coverage", "growth", "plan", "metrics", "health")


class BaseMetrics:
    """The frames of one pipeline run, each one row per account ordered by account_id:
    ``accounts`` (attributes and the names of manager and mentor), ``coverage``, ``growth``,
    ``plan``, ``metrics`` (the scoring inputs, ``portfolio.account_metrics``) and ``health``.

    Every step ran and its rows were fetched when the object was made; a frame becomes a
    DataFrame when first read (``pipeline.LazyFrame``), so a caller that only scores pays
    nothing for the others. Pickling (Streamlit's cache) stores the DataFrames.
    """

    def __init__(self, as_of: dt.date, accounts: Any, coverage: Any, growth: Any, plan: Any,
                 metrics: Any, health: Any) -> None:
        self.as_of = as_of
        self._frames: dict[str, Any] = dict(zip(FRAMES, (accounts, coverage, growth, plan, metrics, health),
                                                strict=True))

    def _get(self, name: str) -> pd.DataFrame:
        value = self._frames[name]
        if isinstance(value, LazyFrame):
            value = self._frames[name] = value.frame()
        return value

    accounts = property(lambda self: self._get("accounts"), doc="Attributes, manager and mentor names.")
    coverage = property(lambda self: self._get("coverage"), doc="The step coverage.")
    growth = property(lambda self: self._get("growth"), doc="The step growth.")
    plan = property(lambda self: self._get("plan"), doc="The step plan.")
    metrics = property(lambda self: self._get("metrics"), doc="The scoring inputs.")
    health = property(lambda self: self._get("health"), doc="The step health.")

    def __getstate__(self) -> dict[str, Any]:
        return {"as_of": self.as_of, **{name: self._get(name) for name in FRAMES}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.as_of = state["as_of"]
        self._frames = {name: state[name] for name in FRAMES}


def base_metrics(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date) -> BaseMetrics:
    """Every per-account metric: the pipeline's steps run once, their rows fetched at the end."""
    # the metrics frame made, and scored with these settings, as soon as account_metrics is
    # done: beside the health step (score_portfolio then finds the scores)
    def prepare(rows: Any) -> pd.DataFrame:
        return prepare_scores(con, settings, as_of, metrics_from_rows(rows))

    with run_pipeline(con, settings, as_of, ALL_STEPS, fetch=("names", "growth"), prepare={"account_metrics": prepare}) as steps:
        return BaseMetrics(
            as_of=as_of,
            accounts=steps.lazy_frame("names"),
            coverage=steps.lazy_frame("coverage"),
            growth=steps.lazy_frame("growth"),
            plan=steps.lazy_frame("plan"),
            metrics=metrics_frame(steps),
            health=steps.lazy_frame("health"),
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
