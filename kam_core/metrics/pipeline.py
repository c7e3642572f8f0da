"""The metrics pipeline: every per-account metric computed once, in DuckDB, as named steps.

Each step is one SQL file in ``sql/`` (in the spirit of dbt models) whose result becomes a
temporary table ``step_<name>`` on a private cursor of the caller's connection; later steps
read earlier ones by that name and the inputs by their bare table names (``accounts``,
``contacts`` …), so the app's dataset connection — whose views may lay the team's edits over
the export — is read as it is. Tables that were not loaded are empty stand-ins
(``sources``). Nothing goes through pandas inside the pipeline: frames are fetched at the
end (``StepResults.frame``), for the pages, the reports and the CLI.

The steps and what they read::

    names               accounts, team                              static
    revenue             revenue                                     static, as_of
    revenue_lines       revenue                                     static, as_of
    opportunities       opportunities                               static, as_of
    activity            activities                                  static, as_of
    members             team, relationships                         keyed
    relationship_links  contacts, relationships, names, members
    member_holds        relationship_links
    contact_links       relationship_links, member_holds            keyed
    account_contacts    contacts, names, member_holds               keyed
    coverage            names, members, contact_links, account_contacts
    plan_facts          accounts, plan_actions, reviews             keyed, as_of
    plan                plan_facts
    growth              accounts, potential, revenue, revenue_lines,
                        opportunities                               keyed, as_of
    health              accounts, contacts, team, coverage, growth, plan, activity
    manual_scores       accounts, criteria, criterion_scores
    account_metrics     accounts, coverage, growth, manual_scores

*Static* steps read only tables the team cannot edit in the app; the loader stores their
results in the database for the as-of date in force at load time (``store_static_steps``),
and a run for that date reads them instead of recomputing. *Keyed* steps depend on neither
the settings nor the as-of date but read tables the team can edit (contacts, relationships):
they put the relationships into numbers and lists (account, member, piece) so that coverage
groups integers, not texts. The loader stores them too, and a run reads them only while
every table they read is the export itself — a table the connection reads unchanged from the
database that holds the stored result (``sources.relations``); once the team's edits lie
over contacts or relationships, they are computed from what the connection reads. growth
is keyed too, and depends on the as-of date (no setting): it is stored for the date in force
at load time and read for that date while potential and accounts are the export; so is
plan_facts (the plan's actions and reviews as of that date), read while accounts,
plan_actions and reviews are the export. The loader then rewrites contact_links, which
coverage reads a row at a time, in smaller row groups (``spread_stored_steps``) so that DuckDB
scans it on every core. Every other step runs each time: each depends on
the settings (coverage, plan — whether a review is overdue under the review cadence —,
health) or reads the team's edits of criterion scores (manual_scores, account_metrics).

>>> import datetime as dt, duckdb
>>> from kam_core.ingest.schema import create_schema
>>> from kam_core.settings import Settings
>>> con = duckdb.connect()
>>> create_schema(con, tables=["accounts", "revenue"])
>>> _ = con.execute("insert into accounts (account_id, name) values ('A', 'Acme')")
>>> _ = con.execute("insert into revenue values ('A', date '2024-03-01', 'x', 120, 30)")
>>> with run_pipeline(con, Settings(), dt.date(2024, 3, 15), ("growth",)) as steps:
...     float(steps.frame("growth")["ttm_revenue"].iloc[0])
120.0
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kam_core.dataset import BASE_CONFIG
from kam_core.errors import KamError
from kam_core.ingest.schema import ATTITUDES, PIECES, TABLES
from kam_core.metrics.sources import Relations, add_stand_ins, relations, table_flags
from kam_core.settings import Settings
from kam_core.sqlutil import arrow_frame, fetch_frame, quote_ident, quote_literal, run

if TYPE_CHECKING:
    import pandas as pd

SQL_DIR = Path(__file__).resolve().parent / "sql"

# A step computed straight into Arrow rows (``_run_step_rows``) is run with execute(), and
# DuckDB warns that its rows are copied once on the way: that copy costs less than planning
# the query twice, as a query fetched through ``cursor.sql`` is (measured: health at 10,000
# accounts 59 against 66-72 ms with a temporary table and its scan).
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning,
                        module=r"kam_core\.metrics\.pipeline")  # (this module's calls only)

# Arrow rows come in batches of DuckDB's default size, except a step's rows read by the other
# lane too (coverage, plan): DuckDB scans registered Arrow rows on as many threads as they
# have batches, so the statements over them (health, account_metrics) use the second core
# whenever the other lane leaves it free (10,000 accounts, interleaved in fresh
# processes: 124.3 → 121.5 ms, faster in 8 of 10 pairs; 1,000: one batch either way).
ARROW_BATCH_ROWS = 131_072
SHARED_BATCH_ROWS = 2_048  # DuckDB's vector size

# Stored results of the static steps (written by the loader) and their as-of dates.
STORED_PREFIX = "kam_step_"
STORED_INDEX = "kam_steps"


@cache
def sql(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


class PipelineError(KamError, ValueError):
    """A pipeline was asked for a step it does not have, or given rows it cannot use."""


# Column dtypes of each step's frame (pandas names); given rows are conformed to them.
NAMES_COLUMNS: dict[str, str] = {
    "account_id": "str", "name": "str", "industry": "str", "region": "str", "country": "str",
    "phase": "str", "annual_revenue": "float64", "key_account_since": "datetime64[us]",
    "account_manager_id": "str", "mentor_id": "str", "account_manager": "str", "mentor": "str",
}
COVERAGE_COLUMNS: dict[str, str] = {
    "account_id": "str", "contacts_count": "Int64", "coverage": "float64",
    "key_players_covered": "float64", "king_covered": "boolean", "threads": "Int64",
    "single_threaded": "boolean", "key_person_dependency": "float64", "key_person_id": "str",
    "support_balance": "float64", "high_influence_opponents": "Int64", "king_attitude": "str",
}
GROWTH_COLUMNS: dict[str, str] = {
    "account_id": "str", "ttm_revenue": "float64", "prior_ttm_revenue": "float64",
    "revenue_growth": "float64", "ttm_gross_margin": "float64",
    "prior_ttm_gross_margin": "float64", "ttm_margin_revenue": "float64",
    "gross_margin_pct": "float64", "gross_margin_growth": "float64", "annual_potential": "float64",
    "share_of_wallet": "float64", "whitespace": "float64", "open_lines": "Int64",
    "open_lines_list": "str", "open_pipeline": "float64", "weighted_pipeline": "float64",
    "open_deals": "Int64", "open_deals_without_amount": "Int64", "won_deals": "Int64",
    "lost_deals": "Int64", "win_rate": "float64", "has_revenue_rows": "bool",
    "months_with_revenue": "Int64",
}
PLAN_COLUMNS: dict[str, str] = {
    "account_id": "str", "phase": "str", "mentor_id": "str", "open_actions": "Int64",
    "overdue_actions": "Int64", "done_actions": "Int64", "last_review_date": "datetime64[us]",
    "days_since_review": "Int64", "last_rating": "str", "review_overdue": "boolean",
    "reviews_count": "Int64", "latest_rating": "str", "latest_rating_date": "datetime64[us]",
}
ACTIVITY_COLUMNS: dict[str, str] = {"account_id": "str", "last_activity_date": "datetime64[us]"}
HEALTH_COLUMNS: dict[str, str] = {
    "account_id": "str", "coverage_score": "float64", "growth_score": "float64",
    "margin_score": "float64", "plan_score": "float64", "activity_score": "float64",
    "health": "float64", "status": "str", "reasons": "list", "notes": "list",
    "overdue_actions": "Int64", "latest_rating": "str", "latest_rating_date": "datetime64[us]",
}

_SQL_TYPES = {
    "str": "varchar", "float64": "double", "Int64": "bigint", "int64": "bigint",
    "boolean": "boolean", "bool": "boolean", "datetime64[us]": "date", "object": "varchar[]",
    "list": "varchar[]",
}


@dataclass(frozen=True)
class Step:
    """One named step: ``sql/<name>.sql`` run into ``step_<name>``."""

    name: str
    inputs: tuple[str, ...]  # canonical tables it reads
    after: tuple[str, ...] = ()  # steps it reads
    static: bool = False  # reads only tables the app cannot edit: stored at load time
    columns: Mapping[str, str] | None = None  # frame dtypes (None: as DuckDB gives them)
    # independent of settings and as_of: stored at load time, read while ``inputs`` (every
    # canonical table it depends on, through its steps too) are the export unchanged
    keyed: bool = False
    per_account: bool = False  # one row per account: fetched in account order
    # keyed: a column only the present layout of the stored result has — a result stored by
    # an older version (without it) is not read but computed, until the next load
    layout: str | None = None
    # keyed, and dependent on the as-of date (not on the settings): stored at load for the
    # as-of date in force then, and read only for that date (like a static step)
    dated: bool = False

    @property
    def relation(self) -> str:
        return f"step_{self.name}"


STEPS: dict[str, Step] = {
    step.name: step
    for step in (
        Step("names", ("accounts", "team"), static=True, columns=NAMES_COLUMNS, per_account=True),
        Step("revenue", ("revenue",), static=True),
        Step("revenue_lines", ("revenue",), static=True),
        Step("opportunities", ("opportunities",), static=True),
        Step("activity", ("activities",), static=True, columns=ACTIVITY_COLUMNS),
        Step("members", ("team", "relationships"), keyed=True),
        # (an intermediate of member_holds and contact_links: never stored itself)
        Step("relationship_links", ("accounts", "contacts", "relationships", "team"), ("names", "members")),
        Step("member_holds", ("accounts", "contacts", "relationships", "team"), ("relationship_links",)),
        Step("contact_links", ("accounts", "contacts", "relationships", "team"),
             ("relationship_links", "member_holds"), keyed=True),
        Step("account_contacts", ("accounts", "contacts", "relationships", "team"), ("names", "member_holds"),
             keyed=True, layout="cell_counts"),
        Step("coverage", ("accounts", "contacts", "relationships", "team"),
             ("names", "members", "contact_links", "account_contacts"), columns=COVERAGE_COLUMNS,
             per_account=True),
        Step("plan_facts", ("accounts", "plan_actions", "reviews"), keyed=True, dated=True),
        Step("plan", ("accounts", "plan_actions", "reviews"), ("plan_facts",), columns=PLAN_COLUMNS,
             per_account=True),
        Step("growth", ("accounts", "potential", "revenue", "opportunities"),
             ("revenue", "revenue_lines", "opportunities"), columns=GROWTH_COLUMNS, per_account=True,
             keyed=True, dated=True),
        Step("health", ("accounts", "contacts", "team"), ("coverage", "growth", "plan", "activity"),
             columns=HEALTH_COLUMNS, per_account=True),
        Step("manual_scores", ("accounts", "criteria", "criterion_scores"), per_account=True),
        Step("account_metrics", ("accounts",), ("coverage", "growth", "manual_scores"), per_account=True),
    )
}
STATIC_STEPS: tuple[str, ...] = tuple(name for name, step in STEPS.items() if step.static)
KEYED_STEPS: tuple[str, ...] = tuple(name for name, step in STEPS.items() if step.keyed)
# the stored steps indexed by the as-of date they were computed for
DATED_STEPS: tuple[str, ...] = tuple(name for name, step in STEPS.items() if step.static or step.dated)

# The steps a run computes on its second cursor, beside coverage on the first (see run_pipeline).
SIDE_STEPS: tuple[str, ...] = ("plan", "growth", "manual_scores", "account_metrics")

# What ``base_metrics`` computes: every per-account result (and so every step they need).
ALL_STEPS: tuple[str, ...] = ("names", "coverage", "plan", "growth", "health", "account_metrics", "manual_scores")


# ---------------------------------------------------------------------------------------
# Parameters: every value a step may use, from the settings and the as-of date
# ---------------------------------------------------------------------------------------


def month_windows(as_of: dt.date) -> dict[str, dt.date]:
    """First days of the months around M, the month of ``as_of`` (spec §3.3).

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


def number_text(value: float) -> str:
    """A number as a person writes it in a sentence: 30, 27.5, 0.5 (no trailing zeros)."""
    return f"{value:.6g}"


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def step_params(settings: Settings, as_of: dt.date, loaded: Iterable[str]) -> dict[str, Any]:
    """Every parameter a step may name (each query gets the ones it uses)."""
    pieces, attitudes, weights = settings.piece_values, settings.attitude_values, settings.health_weights
    return {
        "as_of": as_of,
        **month_windows(as_of),
        **table_flags(loaded),
        # coverage (§3.2); the keyed steps number pieces and attitudes by their place in these
        "pieces": list(PIECES),
        "attitudes": list(ATTITUDES),
        "piece_values_by_code": [_number(pieces.get(p)) for p in PIECES],
        "attitude_values_by_code": [_number(attitudes.get(a)) for a in ATTITUDES],
        "piece_names": list(pieces),
        "piece_values": [float(v) for v in pieces.values()],
        "attitude_names": list(attitudes),
        "attitude_values": [float(v) for v in attitudes.values()],
        "half_life_days": float(settings.half_life_days),
        "covered_threshold": float(settings.covered_threshold),
        "thread_strength": int(settings.thread_strength),
        "high_influence_value": float(settings.high_influence_value),
        # plan and health (§3.4)
        "review_cadence_days": int(settings.review_cadence_days),
        "review_zero_days": int(settings.review_zero_days),
        "review_soon_days": int(settings.review_due_soon_days),
        "overdue_action_penalty": float(settings.overdue_action_penalty),
        "growth_slope": float(settings.growth_slope),
        "target_margin": float(settings.target_margin),
        "target_margin_text": number_text(100 * float(settings.target_margin)),
        "activity_half_life_days": float(settings.activity_half_life_days),
        "status_green": float(settings.status_green),
        "status_amber": float(settings.status_amber),
        "status_green_text": number_text(float(settings.status_green)),
        "status_amber_text": number_text(float(settings.status_amber)),
        "reason_below": float(settings.reason_below),
        "key_person_share": float(settings.key_person_reason),
        **{f"weight_{name}": float(weights.get(name, 0.0)) for name in ("coverage", "growth", "margin",
                                                                        "plan", "activity")},
    }


# ---------------------------------------------------------------------------------------
# Manual scores: the one step whose columns depend on the data (one per manual criterion)
# ---------------------------------------------------------------------------------------

MANUAL_PREFIX = "manual_score_"
MANUAL_CRITERIA_SQL = """
select criterion_id
from criteria
where coalesce(nullif(lower(trim(source)), ''), 'manual') = 'manual'
order by criterion_id
"""
MANUAL_COLUMN = "        max(score) filter (where criterion_id = $criterion_{j}) as {column},"


def manual_scores_sql(criterion_ids: list[str]) -> tuple[str, dict[str, Any]]:
    """``sql/manual_scores.sql`` for these manual criteria, and its parameters."""
    lines = [MANUAL_COLUMN.format(j=j, column=quote_ident(MANUAL_PREFIX + cid))
             for j, cid in enumerate(criterion_ids)]
    params: dict[str, Any] = {f"criterion_{j}": cid for j, cid in enumerate(criterion_ids)}
    params["manual_criteria"] = list(criterion_ids)
    return sql("manual_scores").replace("{columns}", "\n".join(lines)), params


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------


class LazyFrame:
    """A step's rows as an Arrow table, made a pandas DataFrame (``sqlutil.arrow_frame``) on
    first use and kept; with ``ordered``, in account_id order (sorted then: the rows come as
    the step made them)."""

    def __init__(self, table: Any, dtypes: Mapping[str, str] | None, *, ordered: bool = False) -> None:
        self._table = table
        self._dtypes = dtypes
        self._ordered = ordered
        self._frame: pd.DataFrame | None = None

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = arrow_frame(account_order(self._table) if self._ordered else self._table, self._dtypes)
            self._table = None
        return self._frame


class StepResults:
    """The step tables of one run, on the run's private cursor (valid inside ``run_pipeline``)."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date,
                 loaded: frozenset[str], done: tuple[str, ...], fetched: Mapping[str, Any] | None = None,
                 lane: _Lane | None = None, unreceived: Iterable[str] = (), stored: Iterable[str] = (),
                 prepared: Mapping[str, Any] | None = None) -> None:
        self._cursor = cursor
        self.settings = settings
        self.as_of = as_of
        self.loaded = loaded
        self.done = done
        self._fetched = dict(fetched or {})  # step -> its rows as Arrow (as the step made them)
        # the steps the other lane computed that the main cursor has not made tables of yet:
        # made when the cursor is asked for (the frames come from their Arrow rows)
        self._lane = lane
        self._unreceived = list(unreceived)
        # the stored steps the run read from their tables: views named like the steps are
        # made when the cursor is asked for
        self._stored = frozenset(stored)
        self._views_made = not self._stored
        self.prepared: dict[str, Any] = dict(prepared or {})  # run_pipeline's ``prepare`` results

    @property
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """The run's cursor: every step of the run is a table on it."""
        if self._lane is not None:
            for name in self._unreceived:
                self._lane.receive(name)
            self._lane.materialize()
            self._lane, self._unreceived = None, []
        if not self._views_made:
            _read_stored(self._cursor, sorted(self._stored))
            self._views_made = True
        return self._cursor

    @property
    def stored(self) -> frozenset[str]:
        """The steps of ``done`` read from their stored results, not computed by this run."""
        return self._stored

    def params(self) -> dict[str, Any]:
        return step_params(self.settings, self.as_of, self.loaded)

    def frame(self, name: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """A step's rows, ordered by account_id, in the step's column dtypes."""
        return self.lazy_frame(name, columns).frame()

    def lazy_frame(self, name: str, columns: Iterable[str] | None = None) -> LazyFrame:
        """A step's rows as ``frame`` gives them, fetched now (as Arrow), made a DataFrame when
        first asked for: valid after the run, and cheap when nobody asks."""
        if name not in self.done:
            raise PipelineError(f"step {name!r} was not run; ran: {', '.join(self.done)}")
        step = STEPS[name]
        wanted = list(columns) if columns is not None else list(step.columns or ())
        table = self._fetched.get(name)
        self._cursor.complete()  # as a fetch would: a result left unread by an execute() is closed
        if table is None:  # a step of this cursor's lane (or a stored one): a table of it
            table = _fetch_step(self._cursor, step, STORED_PREFIX + name if name in self._stored else None)
        return LazyFrame(table.select(wanted) if wanted else table, step.columns, ordered=step.per_account)

    def query(self, text: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Any query over the step tables and inputs (with the step parameters)."""
        return fetch_frame(self.cursor, text, {**self.params(), **(params or {})})


def needed_steps(targets: Iterable[str], given: Iterable[str] = ()) -> tuple[str, ...]:
    """The steps ``targets`` need, in run order; a given step's own inputs are not needed."""
    given = set(given)
    unknown = sorted(set(targets) - set(STEPS))
    if unknown:
        raise PipelineError(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(STEPS)}")
    needed: set[str] = set()

    def visit(name: str) -> None:
        if name in needed:
            return
        needed.add(name)
        if name not in given:
            for before in STEPS[name].after:
                visit(before)

    for target in targets:
        visit(target)
    return tuple(name for name in STEPS if name in needed)


STORED_FOR_SQL = f"select step from {STORED_INDEX} where as_of = $as_of"


def _stored_for(cur: duckdb.DuckDBPyConnection, rel: Relations, loaded: frozenset[str], as_of: dt.date
                ) -> set[str]:
    """The steps this run reads from the database: the static ones stored for ``as_of`` and
    the keyed ones whose inputs are all the export the stored result was computed from."""
    stored: set[str] = set()
    dated: set[str] = set()  # the static and dated steps stored for as_of
    if STORED_INDEX in rel.present:
        dated = {name for (name,) in cur.execute(STORED_FOR_SQL, {"as_of": as_of}).fetchall()}
        stored = {name for name in dated if name in STEPS and STEPS[name].static
                  and STORED_PREFIX + name in rel.present}
    keyed = set()
    for name in KEYED_STEPS:
        if STEPS[name].dated and name not in dated:
            continue
        catalog = rel.plain.get(STORED_PREFIX + name)
        if catalog is not None and all(rel.plain.get(t) == catalog for t in STEPS[name].inputs if t in loaded):
            keyed.add(name)
    for name in [name for name in keyed if STEPS[name].layout]:
        if not cur.execute(LAYOUT_SQL, {"table": STORED_PREFIX + name, "column": STEPS[name].layout}).fetchall():
            keyed.discard(name)
    return stored | keyed


# Whether a stored keyed result has the column of its present layout (``Step.layout``); one
# table's columns (``duckdb_columns()`` of every table took 1.3 against 0.5 ms).
LAYOUT_SQL = "select name from pragma_table_info($table) where name = $column"


def _conform(cur: duckdb.DuckDBPyConnection, step: Step, frame: pd.DataFrame) -> None:
    view = f"given_{step.name}"
    cur.register(view, frame)
    columns = []
    for column, dtype in (step.columns or {}).items():
        kind = _SQL_TYPES[dtype]
        name = quote_ident(column)
        if column not in frame.columns:
            source = f"cast(null as {kind})"
        elif frame[column].dtype.kind == "f":  # pandas' NaN is a missing value, not a number
            source = f"cast(case when isnan({name}) then null else {name} end as {kind})"
        else:
            source = f"cast({name} as {kind})"
        columns.append(f"{source} as {quote_ident(column)}")
    select = ", ".join(columns) if columns else "*"
    cur.execute(f"create temp table {step.relation} as select {select} from {view}")
    cur.unregister(view)


def _read_stored(cur: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """The stored steps ``names`` as views named like the steps (one round trip)."""
    views = [f"create temp view {STEPS[name].relation} as select * from {STORED_PREFIX}{name};" for name in names]
    if views:
        cur.execute("\n".join(views))


# A step's name in a step's SQL (``step_<name>``).
_STEP_REFERENCE = re.compile(r"\bstep_(\w+)\b")


def step_sql(text: str, stored: Iterable[str]) -> str:
    """A step's SQL reading the stored steps ``stored`` from their tables (``kam_step_<name>``)
    instead of ``step_<name>`` (no view to make and bind first).

    >>> step_sql("select * from step_names join step_coverage using (account_id)", {"names"})
    'select * from kam_step_names join step_coverage using (account_id)'
    """
    stored = frozenset(stored)
    if not stored:
        return text
    return _STEP_REFERENCE.sub(lambda m: STORED_PREFIX + m.group(1) if m.group(1) in stored else m.group(0), text)


def _step_select(cur: duckdb.DuckDBPyConnection, step: Step, params: dict[str, Any], loaded: frozenset[str],
                 stored: set[str]) -> tuple[str, dict[str, Any]]:
    """A step's query and its parameters; ``stored``: the steps read from their stored tables
    (read by name in the SQL of the others)."""
    if step.name == "manual_scores":
        ids = ([cid for (cid,) in cur.execute(MANUAL_CRITERIA_SQL).fetchall()]
               if "criteria" in loaded else [])
        if not ids:  # no manual criterion: the accounts alone
            return "select account_id, name from accounts", params
        text, extra = manual_scores_sql(ids)
        return text, {**params, **extra}
    return step_sql(sql(step.name), stored), params


def _run_step(cur: duckdb.DuckDBPyConnection, step: Step, params: dict[str, Any], loaded: frozenset[str],
              stored: set[str]) -> None:
    """Compute ``step`` into its temporary table; ``stored``: the steps read from their stored
    tables (not computed, and read by name in the SQL of the others)."""
    if step.name in stored:
        return
    text, used = _step_select(cur, step, params, loaded, stored)
    run(cur, f"create temp table {step.relation} as {text}", used)


def _run_step_rows(cur: duckdb.DuckDBPyConnection, step: Step, params: dict[str, Any], loaded: frozenset[str],
                   stored: set[str], batch_rows: int = ARROW_BATCH_ROWS) -> Any:
    """Compute ``step`` straight into Arrow rows, without a temporary table: for a step no
    other step of the run reads, or one the other lane reads (its rows go there anyway; this
    lane reads them registered) — a table is made of the rows only if somebody asks for the
    cursor. One statement planned once — a query fetched through ``cursor.sql`` is bound
    twice, and a temporary table costs a write and a scan (coverage at 10,000 accounts: the
    run 7 ms shorter)."""
    text, used = _step_select(cur, step, params, loaded, stored)
    return run(cur, text, used).to_arrow_table(batch_size=batch_rows)


def _fetch_step(cur: duckdb.DuckDBPyConnection, step: Step, relation: str | None = None) -> Any:
    """A step's rows (from ``relation``, by default the step's table) as an Arrow table, in the
    order the step made them: its frame sorts them (``LazyFrame``), when somebody reads it."""
    cur.complete()  # a result left unread by an earlier execute() would block sql()
    return cur.sql(f"select * from {relation or step.relation}").to_arrow_table()


def account_order(table: Any) -> Any:
    """An Arrow table's rows in account_id order — DuckDB's ``order by account_id``: both
    compare text byte by byte, and account_id is a key (no ties)."""
    return table.sort_by("account_id")


class _Handoff:
    """A step's Arrow rows passed from one lane to the other (or the lane's failure)."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._table: Any = None
        self._error: BaseException | None = None

    def put(self, table: Any) -> None:
        self._table = table
        self._ready.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._ready.set()

    def get(self) -> Any:
        self._ready.wait()
        if self._error is not None:
            raise PipelineError("a step of the other lane failed") from self._error
        return self._table


class _Lane:
    """One cursor running its share of the steps in dependency order. A step of the other
    lane is waited for and its rows registered on this cursor under the step's name."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, steps: list[str], done: set[str],
                 handoffs: dict[str, _Handoff], shared: set[str], run_one: Any,
                 timings: dict[str, float] | None, setup: Any = None,
                 prepare: Mapping[str, Any] | None = None, prefetch: Iterable[str] = (),
                 direct: Iterable[str] = (), run_rows: Any = None) -> None:
        self.cur = cur
        self.setup = setup  # run first, on the lane's thread
        self.prepare = dict(prepare or {})  # step -> function of its Arrow rows, run once it has them
        self.prefetch = list(prefetch)  # stored steps to fetch before waiting for the other lane
        self.prepared: dict[str, Any] = {}
        self.steps = steps
        self.done = done  # given or stored: made from what is there, reading no other step
        self.handoffs = handoffs  # steps of either lane another lane reads
        self.shared = shared  # of this lane's steps, those to hand off
        self.run_one = run_one
        # the steps no other step reads: computed straight into Arrow rows (``run_rows``), a
        # table made of them only when the cursor is asked for (``materialize``)
        self.direct = set(direct)
        self.run_rows = run_rows
        self.unmade: set[str] = set()
        self.timings = timings
        self.fetched: dict[str, Any] = {}
        self.registered: set[str] = set()
        self.views: set[str] = set()  # received as Arrow views (``receive``)
        self.error: BaseException | None = None

    def receive(self, name: str, *, view: bool = False) -> None:
        """The other lane's step ``name`` on this cursor: a temporary table like the lane's own
        steps, or with ``view`` its Arrow rows registered under the step's name (no copy: for
        the lane's next steps; ``materialize`` makes it a table before anyone else reads it —
        a registered Arrow view reads differently: its results stream, so a fetchone() leaves
        the cursor busy)."""
        if name in self.registered:
            return
        table = self.handoffs[name].get()
        if view:
            self._register_rows(name, table)
        else:
            self._copy(name, table)
            self.fetched[name] = table
            self.registered.add(name)

    def _register_rows(self, name: str, table: Any) -> None:
        """A step's Arrow rows readable on this cursor under the step's name, until
        ``materialize`` makes them a table."""
        self.cur.register(STEPS[name].relation, table)
        self.views.add(name)
        self.fetched[name] = table
        self.registered.add(name)

    def _copy(self, name: str, table: Any) -> None:
        source = f"handoff_{name}"
        self.cur.register(source, table)
        try:
            self.cur.execute(f"create temp table {STEPS[name].relation} as select * from {source}")
        finally:
            self.cur.unregister(source)

    def materialize(self) -> None:
        """Every step received as an Arrow view, or computed straight into Arrow rows, made a
        temporary table."""
        for name in sorted(self.views):
            self.cur.unregister(STEPS[name].relation)
            self._copy(name, self.fetched[name])
        self.views.clear()
        for name in sorted(self.unmade):
            self._copy(name, self.fetched[name])
        self.unmade.clear()

    def run(self) -> None:
        mine = set(self.steps)
        try:
            if self.setup is not None:
                self.setup()
            for name in self.steps:
                for before in () if name in self.done else STEPS[name].after:
                    if before not in mine and before in self.handoffs:
                        if before not in self.registered:  # (may wait for the other lane)
                            self.fetch_stored()
                        self.receive(before, view=True)
                started = time.perf_counter()
                if name in self.direct and name not in self.done:
                    table = self.fetched[name] = self.run_rows(self.cur, name)
                    if name in self.shared:
                        self.handoffs[name].put(table)
                    else:
                        self.unmade.add(name)
                elif name in self.shared and name not in self.done:
                    # straight into Arrow rows too: handed to the other lane at once, and read
                    # on this one as registered rows (``materialize`` makes them a table)
                    table = self.run_rows(self.cur, name, SHARED_BATCH_ROWS)
                    self.handoffs[name].put(table)
                    self._register_rows(name, table)
                else:
                    self.run_one(self.cur, name)
                    if name in self.shared:
                        table = _fetch_step(self.cur, STEPS[name])
                        self.fetched[name] = table
                        self.handoffs[name].put(table)
                if self.timings is not None:
                    self.timings[name] = time.perf_counter() - started
                if name in self.prepare and name not in self.done:
                    if name not in self.fetched:
                        self.fetched[name] = _fetch_step(self.cur, STEPS[name])
                    self.prepared[name] = self.prepare[name](self.fetched[name])
            self.fetch_stored()
        except BaseException as error:
            for name in self.shared:  # the other lane must not wait for what will not come
                self.handoffs[name].fail(error)
            raise

    def fetch_stored(self) -> None:
        """The rows of the stored steps of ``prefetch``, from their tables (once)."""
        for name in self.prefetch:
            self.fetched[name] = _fetch_step(self.cur, STEPS[name], STORED_PREFIX + name)
        self.prefetch = []

    def run_caught(self) -> None:
        """``run`` in a thread of its own: an error is kept for the caller's thread."""
        try:
            self.run()
        except BaseException as error:
            self.error = error


def _lanes(order: tuple[str, ...], done: set[str]) -> tuple[list[str], list[str]]:
    """(main, side) steps: the side lane computes ``SIDE_STEPS`` and what only they need, the
    main lane the rest. A ``done`` step (given or stored: a view or a copy, no work) is made on
    every lane that reads it."""
    side_targets = [name for name in SIDE_STEPS if name in order and name not in done]
    if not side_targets:
        return list(order), []
    side_needs = set(needed_steps(side_targets, done))
    main_needs = set(needed_steps([n for n in order if n not in SIDE_STEPS], done))
    computed_side = {n for n in side_needs - done if n in SIDE_STEPS or n not in main_needs}
    side = [n for n in order if n in computed_side or (n in done and n in side_needs)]
    main = [n for n in order if n not in computed_side]
    return main, side


@contextmanager
def run_pipeline(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date,
                 targets: Iterable[str] = ALL_STEPS, *,
                 given: Mapping[str, pd.DataFrame] | None = None,
                 timings: dict[str, float] | None = None, fetch: Iterable[str] = (),
                 prepare: Mapping[str, Any] | None = None) -> Iterator[StepResults]:
    """Run the steps ``targets`` need on a private cursor of ``con``; yield their results.

    ``given`` supplies the rows of some steps instead of computing them (a frame per step
    name, its columns conformed to the step's: missing ones are null) — how a test states
    "given this coverage, expect this health". The step tables disappear with the cursor
    when the ``with`` block ends. ``timings``, when given, receives the seconds each step took
    (the benchmark's per-step costs). ``fetch`` names steps whose rows the caller will read:
    a stored one is fetched on the side lane while that lane would wait for the main one.
    ``prepare`` maps a computed step to a function of its rows (Arrow), called on the lane
    that computed it as soon as it is done; the results are ``StepResults.prepared``.

    Two lanes: the steps of ``SIDE_STEPS`` (and what only they need) run on a second cursor in
    a thread while the main cursor computes coverage — most steps are one scan of one row
    group (a single thread inside DuckDB), so two lanes use two cores. A step one lane hands
    to the other travels as Arrow (its frame's source too); once a caller asks for
    ``StepResults.cursor``, every step is readable on it by its name.
    """
    given = dict(given or {})
    rel = relations(con)
    loaded = frozenset(rel.present & set(TABLES))
    cur = con.cursor()
    side_cur: duckdb.DuckDBPyConnection | None = None
    try:
        add_stand_ins(cur, loaded)
        stored = _stored_for(cur, rel, loaded, as_of)
        # a stored step's own inputs are not needed (unless another step needs them)
        order = needed_steps(targets, set(given) | stored)
        params = step_params(settings, as_of, loaded)

        read_stored = stored - set(given)  # (a given step's rows replace its stored ones)

        def run_one(lane_cur: duckdb.DuckDBPyConnection, name: str) -> None:
            if name in given:
                _conform(lane_cur, STEPS[name], given[name])
            else:
                _run_step(lane_cur, STEPS[name], params, loaded, read_stored)

        def run_rows(lane_cur: duckdb.DuckDBPyConnection, name: str, batch_rows: int = ARROW_BATCH_ROWS) -> Any:
            return _run_step_rows(lane_cur, STEPS[name], params, loaded, read_stored, batch_rows)

        done = set(given) | stored
        # the computed steps no other step of this run reads: straight into Arrow rows
        direct = {name for name in order if name not in done
                  and not any(name in STEPS[other].after for other in order)}
        main, side = _lanes(order, done)
        if not any(n not in done for n in main):
            main, side = list(order), []  # nothing to do side by side
        computed_side = {n for n in side if n not in done}
        # computed on one lane, read on the other; and every side step, for the main cursor
        crossing = computed_side | {before for name in computed_side for before in STEPS[name].after
                                    if before not in done and before not in computed_side}
        handoffs = {name: _Handoff() for name in crossing}
        main_lane = _Lane(cur, main, done, handoffs, crossing - computed_side, run_one, timings,
                          prepare=prepare, direct=direct, run_rows=run_rows)
        fetched: dict[str, Any] = {}
        prepared: dict[str, Any] = {}
        if side:
            side_cur = con.cursor()
            side_lane = _Lane(side_cur, side, done, handoffs, computed_side, run_one, timings,
                              setup=lambda: add_stand_ins(side_cur, loaded), prepare=prepare,
                              prefetch=[name for name in fetch if name in read_stored and STEPS[name].per_account],
                              direct=direct, run_rows=run_rows)
            worker = threading.Thread(target=side_lane.run_caught, name="kam-pipeline-side", daemon=True)
            worker.start()
            try:
                main_lane.run()
                for name in side:  # the side lane's results: waited for (made tables on demand)
                    if name in computed_side:
                        handoffs[name].get()
            except PipelineError:
                worker.join()
                if side_lane.error is not None:  # the side lane's own error says more
                    raise side_lane.error from None
                raise
            finally:
                worker.join()
            if side_lane.error is not None:
                raise side_lane.error
            fetched.update(side_lane.fetched)
            prepared.update(side_lane.prepared)
        else:
            main_lane.run()
        fetched.update(main_lane.fetched)
        prepared.update(main_lane.prepared)
        unreceived = [name for name in side if name in computed_side]
        yield StepResults(cur, settings, as_of, loaded, order, fetched, main_lane, unreceived,
                          [name for name in order if name in read_stored], prepared)
    finally:
        if side_cur is not None:
            side_cur.close()
        cur.close()


def store_static_steps(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """Compute the static steps for the as-of date in force, and the keyed steps, and store
    them in the database.

    Called by the loader once the tables are loaded (its connection is writable). A run for
    that as-of date then reads the stored static results (``kam_step_<name>``); a run for
    another date computes them. A run reads the stored keyed results while the tables they
    read are the export (see the module's docstring). Returns the names stored.
    """
    from kam_core.asof import resolve_as_of

    as_of = resolve_as_of(con, settings)
    loaded = frozenset(relations(con).present & set(TABLES))
    cur = con.cursor()
    try:
        add_stand_ins(cur, loaded)
        params = step_params(settings, as_of, loaded)
        for name in STATIC_STEPS:
            table = quote_ident(STORED_PREFIX + name)
            run(cur, f"create or replace table {table} as {sql(name)}", params)
        for name in KEYED_STEPS:  # computed afresh below, never read from an earlier store
            cur.execute(f"drop table if exists {quote_ident(STORED_PREFIX + name)}")
        cur.execute(f"create or replace table {STORED_INDEX} (step varchar, as_of date)")
        # (the dated keyed steps are indexed once stored, below)
        values = ", ".join(f"({quote_literal(name)}, $as_of)" for name in STATIC_STEPS)
        cur.execute(f"insert into {STORED_INDEX} values {values}", {"as_of": as_of})
    finally:
        cur.close()
    # the keyed steps, computed by a run (it reads the static steps just stored); stored in
    # account order, so that their readers group by account over runs of equal numbers
    with run_pipeline(con, settings, as_of, KEYED_STEPS) as steps:
        for name in KEYED_STEPS:
            table = quote_ident(STORED_PREFIX + name)
            columns = {c for (c,) in steps.cursor.execute(f"select column_name from (describe {STEPS[name].relation})"
                                                         ).fetchall()}
            order = " order by account_no" if "account_no" in columns else ""
            steps.cursor.execute(f"create or replace table {table} as select * from {STEPS[name].relation}{order}")
        dated = [name for name in KEYED_STEPS if STEPS[name].dated]
        if dated:
            values = ", ".join(f"({quote_literal(name)}, $as_of)" for name in dated)
            steps.cursor.execute(f"insert into {STORED_INDEX} values {values}", {"as_of": as_of})
    return [*STATIC_STEPS, *KEYED_STEPS]


# The stored step coverage reads a row at a time (contact_links: one row per contact, its
# relationships as lists) is kept in smaller row groups than DuckDB's 122,880 rows. DuckDB scans
# a table on as many threads as it has row groups, so coverage then runs on both cores while the
# side lane, done with its own steps, waits for it. Measured at 10,000 accounts (146,000 rows:
# two row groups as loaded, 15 spread), interleaved in fresh processes: the whole run 135 → 124
# ms, coverage alone 67 → 53 ms; no change at 1,000 accounts. From eight row groups as loaded
# (100,000 accounts: twelve) nothing is rewritten.
SPREAD_STEPS: tuple[str, ...] = ("contact_links",)
SPREAD_ROW_GROUPS = 16
DEFAULT_ROW_GROUP_SIZE = 122_880  # DuckDB's
VECTOR_SIZE = 2_048  # DuckDB's; a row group size is a multiple of it


def spread_row_group_size(rows: int) -> int | None:
    """The row group size that spreads ``rows`` over about ``SPREAD_ROW_GROUPS`` groups (a
    multiple of DuckDB's vector size); None when there is nothing to spread (one vector) or
    DuckDB's own size already makes eight groups or more.

    >>> spread_row_group_size(146_341), spread_row_group_size(14_634)
    (10240, 2048)
    >>> spread_row_group_size(1_000), spread_row_group_size(1_463_410)
    (None, None)
    """
    if rows <= VECTOR_SIZE or rows >= SPREAD_ROW_GROUPS // 2 * DEFAULT_ROW_GROUP_SIZE:
        return None
    return max(VECTOR_SIZE, -(-rows // (SPREAD_ROW_GROUPS * VECTOR_SIZE)) * VECTOR_SIZE)


def spread_stored_steps(db_path: Path, config: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Rewrite the stored steps of ``SPREAD_STEPS`` in the database file ``db_path`` in row
    groups of ``spread_row_group_size`` rows: same rows, same order. The file must not be open
    elsewhere (the loader calls this on its new file, after its own connection is closed): the
    row group size belongs to an attached database, so the file is attached once to count and
    once per size. All or nothing (one transaction per size). Returns the size per rewritten step.
    """
    path = quote_literal(str(db_path))
    con = duckdb.connect(":memory:", config={**BASE_CONFIG, **(config or {})})
    try:
        con.execute(f"attach {path} as crm (read_only)")
        present = {name for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'crm' and schema_name = 'main'").fetchall()}
        sizes: dict[str, int] = {}
        for name in SPREAD_STEPS:
            if STORED_PREFIX + name in present:
                (rows,) = con.execute(f"select count(*) from crm.main.{quote_ident(STORED_PREFIX + name)}").fetchone()
                size = spread_row_group_size(rows)
                if size is not None:
                    sizes[name] = size
        con.execute("detach crm")
        for size in sorted(set(sizes.values())):
            con.execute(f"attach {path} as crm (row_group_size {int(size)})")
            con.execute("begin")
            for name in (n for n in SPREAD_STEPS if sizes.get(n) == size):
                table, spread = STORED_PREFIX + name, STORED_PREFIX + name + "_spread"
                # (insertion order is kept: DuckDB's default, which the loader turns off)
                con.execute(f"create table crm.main.{quote_ident(spread)} as select * from crm.main.{quote_ident(table)}")
                con.execute(f"drop table crm.main.{quote_ident(table)}")
                con.execute(f"alter table crm.main.{quote_ident(spread)} rename to {quote_ident(table)}")
            con.execute("commit")
            con.execute("checkpoint crm")
            con.execute("detach crm")
        return sizes
    finally:
        con.close()
