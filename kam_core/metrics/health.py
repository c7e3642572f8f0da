"""Account health (spec §3.4, health v2): the mentor's one-glance view of every account.

Five components, each 0–100, are combined into ``health`` (a weighted mean over the
components that have data) and a traffic-light ``status``:

- coverage: the relationship ``coverage`` (§3.2);
- growth: ``clamp(50 + growth_slope × revenue_growth, 0, 100)``; a new account (prior ttm
  revenue ≤ 0 < ttm revenue) scores 100; otherwise an unmeasurable growth scores 50 when
  the account has revenue rows in either window and has no data when it has none;
- margin: ``clamp(100 × gross_margin_pct / target_margin, 0, 100)``;
- plan: 100 up to ``review_cadence_days`` since the latest review, falling linearly to 0 at
  ``review_zero_days``; 0 if never reviewed (no data without a reviews table); then minus
  ``overdue_action_penalty`` per overdue plan action, at least 0;
- activity: ``100 × 0.5^(days since the latest activity / activity_half_life_days)``, 0 if
  none (no data without an activities table).

``status`` is red when health is below ``status_amber``, an active king is an opponent or
the mentor's latest rating is off track; otherwise amber when health is below
``status_green``, a component is below ``reason_below``, the king is not covered, the account
is single-threaded, one person carries ``key_person_reason`` of its coverage, a plan action
is overdue or the latest rating is at risk; otherwise green. ``reasons`` names every one of
those conditions that holds and nothing else (green ⇔ no reasons); ``notes`` holds other
observations. The computation is the pipeline's step ``health`` (``sql/health.sql``).

>>> import datetime as dt, duckdb, pandas as pd
>>> from kam_core.ingest.schema import create_schema
>>> from kam_core.settings import Settings
>>> con = duckdb.connect()
>>> create_schema(con, tables=["accounts"])
>>> _ = con.execute("insert into accounts (account_id, name) values ('A', 'Acme')")
>>> coverage = pd.DataFrame({"account_id": ["A"], "coverage": [80.0], "king_covered": [True],
...                          "king_attitude": ["supporter"], "contacts_count": [5], "threads": [3],
...                          "single_threaded": [False]})
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

import duckdb
import pandas as pd

from kam_core.asof import resolve_as_of
from kam_core.metrics import pipeline
from kam_core.metrics.pipeline import run_pipeline
from kam_core.settings import Settings

__all__ = ["HEALTH_COLUMNS", "health_by_account"]

# Columns of ``health_by_account`` and the ``health`` report, in order.
HEALTH_COLUMNS: tuple[str, ...] = tuple(pipeline.HEALTH_COLUMNS)


def health_by_account(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date | str | None = None,
    coverage: pd.DataFrame | None = None,
    growth: pd.DataFrame | None = None,
    plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Health components, health, status, reasons and notes: one row per account (by account_id).

    Columns: ``account_id``; ``coverage_score``, ``growth_score``, ``margin_score``,
    ``plan_score``, ``activity_score`` (0–100, null = no data); ``health`` (0–100, the
    weighted mean over the components with data, null if none has); ``status`` (green,
    amber, red; null when health is null); ``reasons`` (the conditions of the status, in
    words: empty exactly when green); ``notes`` (other observations: high-influence
    opponents, a review overdue or due soon); ``overdue_actions`` (null without a
    plan_actions table); ``latest_rating`` and ``latest_rating_date`` (the mentor's latest
    verdict up to ``as_of``).

    ``coverage``, ``growth`` and ``plan`` may give the rows of those pipeline steps (as
    ``coverage_by_account``, ``growth_by_account`` and ``plan_status_by_account`` return
    them; missing columns are null) instead of computing them: "given this coverage,
    expect this health".
    """
    as_of = resolve_as_of(con, settings, as_of)
    inputs = {"coverage": coverage, "growth": growth, "plan": plan}
    given = {name: frame for name, frame in inputs.items() if frame is not None}
    with run_pipeline(con, settings, as_of, ("health",), given=given) as steps:
        return steps.frame("health")
