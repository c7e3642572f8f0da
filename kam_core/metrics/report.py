"""The metric side of ``python -m kam_core report`` (spec §4): one row per account, as CSV or JSON.

``build_report`` returns the frame of one report kind, ``summary`` the portfolio-level
figures as one JSON-ready dict, ``write_report`` writes a frame (JSON: a list of objects
with ``null`` for missing values and ISO dates; CSV: contributions spread over
``contribution_<criterion_id>`` columns, reasons joined by ``"; "``), and ``run_report``
does all of it for the CLI.

>>> import datetime as dt, io, pandas as pd
>>> frame = pd.DataFrame({"account_id": ["A"], "coverage": [float("nan")],
...                       "reasons": [["no activity recorded"]]})
>>> out = io.StringIO()
>>> write_report(frame, "json", out)
>>> print(out.getvalue().strip())
[
{"account_id": "A", "coverage": null, "reasons": ["no activity recorded"]}
]
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import pandas as pd

from kam_core.asof import resolve_as_of
from kam_core.errors import KamError
from kam_core.metrics.pipeline import ALL_STEPS, run_pipeline
from kam_core.metrics.portfolio import (
    contributions_by_account,
    effective_criteria,
    metrics_frame,
    portfolio_overview,
    score_matrix,
    score_portfolio,
)
from kam_core.settings import Settings

__all__ = [
    "REPORT_KINDS",
    "ReportError",
    "build_report",
    "run_report",
    "summary",
    "write_report",
]

# Per-account report kinds (``summary`` is the portfolio-level one).
REPORT_KINDS: tuple[str, ...] = ("portfolio", "coverage", "growth", "health")
FORMATS: tuple[str, ...] = ("csv", "json")

# Columns of the portfolio report, in order (§3.1); contributions is a dict per account.
PORTFOLIO_REPORT_COLUMNS: tuple[str, ...] = (
    "account_id",
    "attractiveness",
    "strength",
    "missing_criteria",
    "tier",
    "quadrant",
    "tier_stability",
    "is_borderline",
    "contributions",
)



class ReportError(KamError, ValueError):
    """A report was asked for with an argument it cannot use."""


# The summary's coverage and health figures, over the pipeline's step tables.
SUMMARY_SQL = """
with

coverage_figures as (
    select
        avg(coverage) as coverage_mean,
        avg(case when king_covered then 1.0 else 0.0 end)
            filter (where king_covered is not null) as king_covered_share,
        count(*) filter (where single_threaded) as single_threaded_accounts,
    from step_coverage
),

health_figures as (
    select
        avg(health) as health_mean,
        count(*) filter (where status = 'green') as green_accounts,
        count(*) filter (where status = 'amber') as amber_accounts,
        count(*) filter (where status = 'red') as red_accounts,
        count(*) filter (where status is null) as no_status_accounts,
    from step_health
)

select *
from coverage_figures
cross join health_figures
"""

# The steps each report kind needs.
REPORT_STEPS: dict[str, tuple[str, ...]] = {
    "portfolio": ("account_metrics", "manual_scores"),
    "coverage": ("coverage",),
    "growth": ("growth",),
    "health": ("health",),
}


# ---------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------


def build_report(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    settings: Settings,
    as_of: dt.date | str | None = None,
) -> pd.DataFrame:
    """One row per account (ordered by account_id) with ``account_id`` and the metrics of ``kind``.

    - ``portfolio`` (§3.1): attractiveness, strength, missing_criteria, tier, quadrant,
      tier_stability, is_borderline, contributions (a dict criterion_id → points; null
      without a criteria table);
    - ``coverage`` (§3.2): the columns of ``coverage.coverage_by_account``;
    - ``growth`` (§3.3): the columns of ``growth.growth_by_account``;
    - ``health`` (§3.4): the columns of ``health.health_by_account`` (components, health,
      status, reasons, notes, overdue_actions, latest_rating, latest_rating_date).

    Each runs the pipeline's steps it needs, once.
    """
    if kind not in REPORT_KINDS:
        raise ReportError(f"unknown report {kind!r}; expected one of {', '.join(REPORT_KINDS)}")
    as_of = resolve_as_of(con, settings, as_of)
    with run_pipeline(con, settings, as_of, REPORT_STEPS[kind]) as steps:
        if kind != "portfolio":
            return steps.frame(kind)
        metrics = metrics_frame(steps)
    return _portfolio_report(con, settings, as_of, metrics)


def _portfolio_report(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date,
                      metrics: pd.DataFrame) -> pd.DataFrame:
    scores = score_portfolio(con, settings, as_of, metrics=metrics)
    report = scores[[c for c in PORTFOLIO_REPORT_COLUMNS if c != "contributions"]].copy()
    criteria = effective_criteria(con, settings)
    if criteria is None:
        report["contributions"] = pd.Series([None] * len(report), index=report.index, dtype=object)
        return report
    if criteria.empty:  # every account gets an object, an empty one
        report["contributions"] = pd.Series([{} for _ in range(len(report))], index=report.index, dtype=object)
        return report
    matrix = score_matrix(con, settings, as_of, metrics, criteria)
    report["contributions"] = pd.Series(contributions_by_account(matrix), index=report.index, dtype=object)
    return report


def summary(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date | str | None = None,
) -> dict[str, Any]:
    """The portfolio-level figures as one JSON-ready dict (None for missing values).

    Keys: ``as_of``, ``currency``, the keys of ``growth.portfolio_figures`` (accounts_count,
    ttm_revenue, …, top10_share, herfindahl, win_rate), then ``tiers`` and ``quadrants``
    (lists of {tier or quadrant, accounts_count, ttm_revenue, ttm_gross_margin}),
    ``borderline_accounts``, ``accounts_missing_criteria``, ``coverage_mean``,
    ``king_covered_share``, ``single_threaded_accounts``, ``health_mean`` and the counts
    ``green_accounts``, ``amber_accounts``, ``red_accounts``, ``no_status_accounts``.
    One pipeline run.
    """
    as_of = resolve_as_of(con, settings, as_of)
    with run_pipeline(con, settings, as_of, ALL_STEPS) as steps:
        growth = steps.frame("growth")
        metrics = metrics_frame(steps)
        figures = steps.query(SUMMARY_SQL)
    scores = score_portfolio(con, settings, as_of, metrics=metrics)
    overview = portfolio_overview(con, settings, as_of, scores=scores, growth=growth)

    result: dict[str, Any] = {"as_of": as_of.isoformat(), "currency": settings.currency}
    result.update(overview.totals)
    result["tiers"] = _records(overview.by_tier.drop(columns="tier_rank"))
    result["quadrants"] = _records(overview.by_quadrant)
    result["borderline_accounts"] = int(scores["is_borderline"].fillna(False).sum())
    result["accounts_missing_criteria"] = int((scores["missing_criteria"].fillna(0) > 0).sum())
    result.update(_records(figures)[0])
    return _clean(result)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def write_report(df: pd.DataFrame, fmt: str, stream: IO[str]) -> None:
    """Write a report frame to ``stream`` as ``csv`` or ``json``.

    JSON: a list of objects, one per row, ``null`` for every missing value (never NaN),
    dates as ISO text, dict columns as objects and list columns as arrays. CSV: a header
    row; missing values are empty cells; a dict column ``contributions`` becomes one
    column ``contribution_<key>`` per key; list columns are joined by ``"; "``; booleans
    are ``true``/``false``; dates ISO.
    """
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    df = _python_lists(df)
    if fmt == "json":
        _write_json(df, stream)
    else:
        _write_csv(df, stream)


def _python_lists(df: pd.DataFrame) -> pd.DataFrame:
    """List columns kept in Arrow (``reasons``, ``notes``) as columns of Python lists."""
    arrow_lists = [name for name in df.columns if isinstance(df[name].dtype, pd.ArrowDtype)
                   and str(df[name].dtype).startswith("list<")]
    if not arrow_lists:
        return df
    return df.assign(**{name: pd.Series(df[name].tolist(), index=df.index, dtype=object) for name in arrow_lists})


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (None for missing, ISO text for dates)."""
    plain = {
        name: df[name].map(_clean) if _is_nested(df[name]) else _plain_column(df[name]) for name in df.columns
    }
    return pd.DataFrame(plain, index=df.index, dtype=object).to_dict("records")


def _is_nested(column: pd.Series) -> bool:
    if column.dtype != object:
        return False
    sample = column.dropna()
    return bool(len(sample)) and isinstance(sample.iloc[0], (dict, list, tuple, np.ndarray))


def _plain_column(column: pd.Series) -> pd.Series:
    """One column as Python objects: None for missing, ISO text for dates, bools as bools."""
    if pd.api.types.is_datetime64_any_dtype(column):
        text = column.dt.strftime("%Y-%m-%d")
        with_time = column.dt.strftime("%Y-%m-%dT%H:%M:%S")
        midnight = column.dropna().dt.normalize().eq(column.dropna()).all()
        column = text if midnight else with_time
    values = column.astype(object)
    return values.where(column.notna(), None) if not _is_nested(column) else values


def _clean(value: Any) -> Any:
    """A JSON-ready copy: NaN/NA → None, numpy scalars → Python, dates → ISO, nested too."""
    kind = type(value)
    # fast paths first: this runs once per value of a nested column (100k accounts × criteria)
    if kind is float:
        return value if math.isfinite(value) else None
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in value]
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _write_json(df: pd.DataFrame, stream: IO[str]) -> None:
    records = _records(df)
    stream.write("[\n")
    for i, record in enumerate(records):
        # allow_nan=False: a NaN that slipped through fails loudly instead of writing NaN
        line = json.dumps(record, ensure_ascii=False, allow_nan=False, default=_json_default)
        stream.write(line + (",\n" if i < len(records) - 1 else "\n"))
    stream.write("]\n")


def _json_default(value: Any) -> Any:
    cleaned = _clean(value)
    if cleaned is value:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
    return cleaned


def _write_csv(df: pd.DataFrame, stream: IO[str]) -> None:
    columns: dict[str, pd.Series] = {}
    for name in df.columns:
        column = df[name]
        if name == "contributions" or (_is_nested(column) and isinstance(column.dropna().iloc[0], Mapping)):
            for key, values in _spread(column).items():
                columns[f"contribution_{key}" if name == "contributions" else f"{name}_{key}"] = values
        elif _is_nested(column):
            columns[name] = column.map(lambda v: "; ".join(str(x) for x in v) if v is not None else None)
        elif pd.api.types.is_bool_dtype(column):
            columns[name] = column.astype(object).map(
                lambda v: None if v is None or v is pd.NA else ("true" if v else "false")
            )
        elif pd.api.types.is_datetime64_any_dtype(column):
            columns[name] = _plain_column(column)
        else:
            columns[name] = column
    out = pd.DataFrame(columns, index=df.index)
    out.to_csv(stream, index=False, na_rep="", lineterminator="\n")


def _spread(column: pd.Series) -> dict[str, pd.Series]:
    """A column of dicts as one column per key (keys sorted; a missing key is empty)."""
    dicts = [v if isinstance(v, Mapping) else {} for v in column]
    keys = sorted({str(k) for d in dicts for k in d})
    wide = pd.DataFrame.from_records(dicts, index=column.index, columns=keys) if keys else None
    return {key: wide[key].astype("float64") for key in keys} if wide is not None else {}


# ---------------------------------------------------------------------------------------
# The CLI in one call
# ---------------------------------------------------------------------------------------


def run_report(
    db_path: str | Path,
    kind: str,
    config_path: str | Path | None,
    fmt: str,
    as_of: dt.date | str | None,
    stream: IO[str],
) -> int:
    """Open the database read-only, build the report ``kind`` and write it to ``stream``.

    ``kind`` is one of ``REPORT_KINDS`` or ``summary`` (one JSON object whatever ``fmt``).
    Returns the exit code: 0 written; 1 a problem the user can act on (message on stderr);
    2 bad arguments (unknown kind or format, missing database, invalid date).
    """
    if kind not in (*REPORT_KINDS, "summary"):
        return _fail(f"unknown report {kind!r}; expected one of {', '.join((*REPORT_KINDS, 'summary'))}", 2)
    if fmt not in FORMATS:
        return _fail(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", 2)
    if isinstance(as_of, str):
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            return _fail(f"--as-of {as_of!r} is not a date; expected YYYY-MM-DD", 2)
    path = Path(db_path)
    if not path.is_file():
        return _fail(f"database {path} does not exist; build it with 'python -m kam_core load'", 2)
    try:
        settings = Settings.from_file(config_path)
        # the export overlaid with the team's edits (the workbench store beside it), as the app reads it
        from kam_core.dataset import open_dataset
        from kam_core.workbench.overlay import overlay_for
        from kam_core.workbench.store import store_path_for

        con = open_dataset(path, overlay_for(store_path_for(path, settings)))
    except KamError as exc:
        return _fail(str(exc), 1)
    except duckdb.Error as exc:
        return _fail(f"cannot open database {path}: {exc}", 1)
    try:
        as_of = resolve_as_of(con, settings, as_of)
        if kind == "summary":
            json.dump(summary(con, settings, as_of), stream, ensure_ascii=False, indent=2, allow_nan=False)
            stream.write("\n")
        else:
            write_report(build_report(con, kind, settings, as_of), fmt, stream)
        for line in missing_lines(con, kind):
            print(line, file=sys.stderr)
    except KamError as exc:
        return _fail(str(exc), 1)
    except BrokenPipeError:
        # the reader stopped early (``... | head``): not an error of ours; keep Python from
        # complaining again when it flushes stdout at exit
        if stream is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        con.close()
    return 0


# The areas of ``sources.FILLS`` each report's figures come from.
REPORT_AREAS: dict[str, tuple[str, ...]] = {
    "portfolio": ("scores",),
    "coverage": ("coverage",),
    "growth": ("growth",),
    "health": ("health",),
    "summary": ("growth", "scores"),
}


def missing_lines(con: duckdb.DuckDBPyConnection, kind: str) -> list[str]:
    """What the report leaves empty (null) for want of a table, and which file would fill it:
    printed on stderr beside the report (stdout stays machine-readable, nulls as the spec says).

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("create table accounts (account_id varchar)")
    >>> missing_lines(con, "coverage")[0]
    '– empty: needs contacts.csv for relationship coverage'
    """
    from kam_core.metrics.sources import loaded_inputs, missing_messages

    loaded = loaded_inputs(con)
    lines: list[str] = []
    for area in REPORT_AREAS.get(kind, ()):
        for message in missing_messages(loaded, area):
            if f"– empty: {message}" not in lines:
                lines.append(f"– empty: {message}")
    return lines


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
