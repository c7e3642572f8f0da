"""The metrics pipeline: every query against the demo database, steps stored at load time, the
team's edits read through the connection's views, private step tables, and the layering rule."""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kam_core.appdata import DEMO_DIR
from kam_core.asof import resolve_as_of
from kam_core.dataset import open_dataset
from kam_core.ingest.loader import load
from kam_core.ingest.schema import LOAD_ORDER, PHASES
from kam_core.metrics import coverage, pipeline
from kam_core.metrics.overview import base_metrics
from kam_core.metrics.pipeline import (
    ALL_STEPS,
    DATED_STEPS,
    STATIC_STEPS,
    STEPS,
    manual_scores_sql,
    run_pipeline,
    sql,
)
from kam_core.metrics.sources import stand_in_sql
from kam_core.settings import Settings
from kam_core.sqlutil import used_params

from .conftest import ROOT

METRIC_MODULES = ["account", "coverage", "growth", "health", "lifecycle", "overview", "pipeline", "portfolio",
                  "report", "sources"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("pipeline") / "kam.duckdb"
    load([DEMO_DIR], db)
    return db


@pytest.fixture
def con(demo_db: Path):
    con = duckdb.connect(str(demo_db), read_only=True)
    yield con
    con.close()


def without_stored_steps(demo_db: Path, path: Path, *changes: str) -> Path:
    """The demo export's tables copied into a database without the stored steps (a run
    computes every step), then ``changes`` (SQL; the export is attached as ``demo``)."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"attach '{demo_db}' as demo (read_only)")
        for table in LOAD_ORDER:
            con.execute(f"create table {table} as select * from demo.{table}")
        for change in changes:
            con.execute(change)
    return path


def named_queries() -> dict[str, str]:
    """Every query constant of the metrics package (``*_SQL``), templates filled as the code does."""
    queries: dict[str, str] = {}
    for name in METRIC_MODULES:
        module = importlib.import_module(f"kam_core.metrics.{name}")
        for attribute, value in vars(module).items():
            if attribute.endswith("_SQL") and isinstance(value, str):
                queries[f"{name}.{attribute}"] = value
    # templates, filled as their functions fill them
    for tail in ("DEPENDENCY_BY_MEMBER_SQL", "GAP_LIST_SQL", "OPPONENT_LIST_SQL", "TEAM_ACCOUNT_MATRIX_SQL",
                 "RELATIONSHIP_MAP_EDGES_SQL", "RELATIONSHIP_MAP_NODES_SQL"):
        queries[f"coverage.{tail}"] = coverage.query_sql(queries[f"coverage.{tail}"])
    queries["coverage.COVERAGE_BREAKDOWN_SQL"] = coverage.query_sql(coverage.QUERIES["coverage_breakdown"])
    queries["sources.STAND_IN_SQL"] = stand_in_sql("competitors").replace('"competitors"', "competitors_stand_in")
    queries["pipeline.STORED_FOR_SQL"] = pipeline.STORED_FOR_SQL
    return queries


def test_every_query_runs_against_the_demo_database(con) -> None:
    settings = Settings()
    as_of = resolve_as_of(con, settings)
    queries = named_queries()
    assert len(queries) >= 25
    files = sorted(p.stem for p in pipeline.SQL_DIR.glob("*.sql"))
    assert set(files) == set(STEPS) | {"portfolio_figures", "manual_scores"}
    with run_pipeline(con, settings, as_of, ALL_STEPS) as steps:
        cur = steps.cursor
        # every step file ran: one row per account where the grain is the account
        for name in ("names", "coverage", "growth", "plan", "health", "account_metrics", "manual_scores"):
            assert cur.execute(f"select count(*) from step_{name}").fetchone()[0] == 150, name
        growth = steps.frame("growth")
        cur.register("figure_accounts", growth)
        cur.register("overview_scores", pd.DataFrame({"account_id": growth["account_id"], "tier": "Gold",
                                                      "tier_rank": 0, "quadrant": "star"}))
        cur.register("overview_growth", growth)
        cur.register("tier_scheme", pd.DataFrame({"tier_rank": [0], "tier": ["Gold"], "threshold": [70.0]}))
        params = steps.params() | {
            "account_id": "A-0001", "member_id": None, "all_accounts": True, "account_ids": [],
            "phases": list(PHASES), "table": "accounts", "column": "account_id",
        }
        text, extra = manual_scores_sql(["strategic_fit"])
        queries["pipeline.manual_scores_sql"] = text
        queries["growth.portfolio_figures"] = sql("portfolio_figures")
        for name, query in queries.items():
            result = cur.execute(query, used_params(query, params | extra))
            assert result.description, name


@pytest.mark.parametrize("as_of", [None, dt.date(2024, 6, 30)])
def test_stored_steps_equal_computed_ones(demo_db: Path, tmp_path: Path, as_of: dt.date | None) -> None:
    """The loader stores the static steps for the data's as-of date; a run reads them for that
    date and computes them for any other, with the same results as a database without them."""
    con = duckdb.connect(str(demo_db), read_only=True)
    settings = Settings() if as_of is None else Settings({"as_of": as_of.isoformat()})
    day = resolve_as_of(con, settings)
    stored = dict(con.execute("select step, as_of from kam_steps").fetchall())
    assert set(stored) == set(DATED_STEPS) == {*STATIC_STEPS, "growth", "plan_facts"}
    assert (set(stored.values()) == {day}) == (as_of is None)
    with run_pipeline(con, settings, day, ("health",)) as steps:  # read for the load's date only
        assert ("growth" in steps.stored) == (as_of is None)
    with_stored = base_metrics(con, settings, day)
    # the same database without the stored steps
    plain = duckdb.connect(str(without_stored_steps(demo_db, tmp_path / "plain.duckdb")), read_only=True)
    without = base_metrics(plain, settings, day)
    for part in ("accounts", "coverage", "growth", "plan", "metrics", "health"):
        assert len(getattr(with_stored, part)) == 150
        assert_frame_equal(getattr(with_stored, part), getattr(without, part))


def test_inputs_are_read_through_the_connections_views(demo_db: Path) -> None:
    """The workbench lays the team's edits over the export with views named like the tables:
    the pipeline reads whatever the connection calls ``contacts``."""
    settings = Settings()

    def opponent_king(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("create or replace view contacts as select * replace ("
                    "case when piece = 'king' then 'opponent' else attitude end as attitude) "
                    "from crm.main.contacts")

    plain = open_dataset(demo_db)
    edited = open_dataset(demo_db, overlay=opponent_king)
    as_of = resolve_as_of(plain, settings)
    before = base_metrics(plain.cursor(), settings, as_of).health.set_index("account_id")
    after = base_metrics(edited.cursor(), settings, as_of).health.set_index("account_id")
    kings = set(edited.execute("select distinct account_id from contacts where piece = 'king' and "
                               "coalesce(is_active, true)").fetchall())
    assert kings
    changed = after[after["status"] != before["status"]]
    assert len(changed) > 0 and set(changed["status"]) == {"red"}
    assert all(any("opponent" in r for r in reasons) for reasons in after.loc[[a for (a,) in kings], "reasons"])


def test_growth_follows_the_teams_potential(demo_db: Path, tmp_path: Path) -> None:
    """growth is stored at load; once the team's edits lie over potential, a run computes it
    from the view, with the numbers a database loaded with that potential gives."""
    settings = Settings()

    def doubled(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("create or replace view potential as select * replace "
                    "(2 * annual_potential as annual_potential) from crm.main.potential")

    plain = open_dataset(demo_db)
    edited = open_dataset(demo_db, overlay=doubled)
    as_of = resolve_as_of(plain, settings)
    with run_pipeline(plain, settings, as_of, ("growth",)) as steps:
        assert "growth" in steps.stored  # the stored result: nothing computed
        stored = steps.frame("growth")
    with run_pipeline(edited, settings, as_of, ("growth",)) as steps:
        assert "growth" in steps.done and "growth" not in steps.stored
        computed = steps.frame("growth")
    # the same export with the doubled potential, loaded without stored steps
    reference_path = without_stored_steps(demo_db, tmp_path / "doubled.duckdb",
                                          "update potential set annual_potential = 2 * annual_potential")
    with duckdb.connect(str(reference_path), read_only=True) as ref:
        expected = base_metrics(ref, settings, as_of).growth
    assert len(computed) == 150 and computed["annual_potential"].notna().sum() > 50
    assert_frame_equal(computed, expected)
    changed = computed["annual_potential"].ne(stored["annual_potential"]) & computed["annual_potential"].gt(0)
    assert changed.sum() > 50
    assert_frame_equal(stored.drop(columns=["annual_potential", "share_of_wallet", "whitespace", "open_lines",
                                            "open_lines_list"]),
                       computed.drop(columns=["annual_potential", "share_of_wallet", "whitespace", "open_lines",
                                              "open_lines_list"]))


def test_plan_follows_the_teams_reviews(demo_db: Path, tmp_path: Path) -> None:
    """The plan's facts are stored at load; once the team's reviews lie over the export (the
    review loop records them), a run computes them from the view, with the numbers of a
    database loaded with those reviews; a change of the review cadence needs no recomputing."""
    settings = Settings()
    plain = open_dataset(demo_db)
    as_of = resolve_as_of(plain, settings)
    # a review today, at risk, for the accounts whose id ends in 1
    today = (f"select * replace (date '{as_of}' as review_date, 'at_risk' as rating) "
             "from {table} where account_id like '%1' qualify row_number() over (partition by account_id) = 1")

    def reviewed_today(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("create or replace view reviews as select * from crm.main.reviews union all "
                    + today.format(table="crm.main.reviews"))

    edited = open_dataset(demo_db, overlay=reviewed_today)
    with run_pipeline(plain, settings, as_of, ("plan",)) as steps:
        assert "plan_facts" in steps.stored  # the stored facts: only the overdue flag computed
        stored = steps.frame("plan")
    stricter = settings.replace(review_cadence_days=30)
    with run_pipeline(plain, stricter, as_of, ("plan",)) as steps:
        assert "plan_facts" in steps.stored
        strict = steps.frame("plan")
    assert strict["review_overdue"].sum() > stored["review_overdue"].sum()
    with run_pipeline(edited, settings, as_of, ("plan",)) as steps:
        assert "plan_facts" in steps.done and "plan_facts" not in steps.stored
        computed = steps.frame("plan")
    reference_path = without_stored_steps(demo_db, tmp_path / "reviewed.duckdb",
                                          "insert into reviews " + today.format(table="demo.reviews"))
    with duckdb.connect(str(reference_path), read_only=True) as ref:
        expected = base_metrics(ref, settings, as_of).plan
    assert len(computed) == 150
    assert_frame_equal(computed, expected)
    changed = computed["days_since_review"].eq(0) & stored["days_since_review"].ne(0)
    assert changed.sum() > 5
    assert (computed.loc[changed, "latest_rating"] == "at_risk").all()


def test_step_tables_are_private_to_the_run(con) -> None:
    settings = Settings()
    as_of = resolve_as_of(con, settings)
    other = con.cursor()
    with run_pipeline(con, settings, as_of, ("coverage",)) as steps:
        assert steps.cursor.execute("select count(*) from step_coverage").fetchone()[0] == 150
        with pytest.raises(duckdb.CatalogException):
            other.execute("select * from step_coverage")
        with pytest.raises(pipeline.PipelineError, match="was not run"):
            steps.frame("health")
    names = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    assert not any(n.startswith("step_") for n in names)


def test_steps_fetched_as_rows_become_tables_only_when_asked(con) -> None:
    """health and account_metrics (read by no other step) and coverage (computed on the main
    lane, read on both) are computed straight into Arrow rows; the cursor gets their tables,
    with the same rows, when somebody asks for it."""
    settings = Settings()
    as_of = resolve_as_of(con, settings)
    tables_sql = "select table_name from duckdb_tables() where temporary and table_name like 'step_%'"
    fetched_as_rows = {"step_coverage", "step_health", "step_account_metrics"}
    with run_pipeline(con, settings, as_of) as steps:
        before = {name for (name,) in steps._cursor.execute(tables_sql).fetchall()}
        assert not fetched_as_rows & before
        frame = steps.frame("health")
        assert len(frame) == 150
        in_sql = steps.query("select * from step_health order by account_id")
        assert {name for (name,) in steps.cursor.execute(tables_sql).fetchall()} >= fetched_as_rows
        assert len(in_sql) == 150
        for column in ("health", "status"):
            pd.testing.assert_series_equal(in_sql[column], frame[column], check_dtype=False)
        assert [list(r) for r in in_sql["reasons"]] == [list(r) for r in frame["reasons"]]
        coverage = steps.query("select * from step_coverage order by account_id")
        pd.testing.assert_frame_equal(coverage, steps.frame("coverage"), check_dtype=False)


def test_rows_handed_to_the_other_lane_come_in_small_batches(con, monkeypatch: pytest.MonkeyPatch) -> None:
    """coverage and plan (each read on both lanes) come in batches of SHARED_BATCH_ROWS rows,
    which DuckDB scans on several threads; the frames are the same as in one batch."""
    settings = Settings()
    as_of = resolve_as_of(con, settings)
    whole = base_metrics(con, settings, as_of)
    monkeypatch.setattr(pipeline, "SHARED_BATCH_ROWS", 32)  # (the demo has 150 accounts)
    with run_pipeline(con, settings, as_of) as steps:
        for name in ("coverage", "plan"):
            batches = steps._fetched[name].to_batches()
            assert len(batches) == 5 and max(len(b) for b in batches) == 32
    small = base_metrics(con, settings, as_of)
    for part in ("coverage", "plan", "health", "metrics"):
        assert len(getattr(small, part)) == 150
        assert_frame_equal(getattr(small, part), getattr(whole, part))


def test_needed_steps() -> None:
    assert pipeline.needed_steps(["growth"]) == ("revenue", "revenue_lines", "opportunities", "growth")
    # a given step's own inputs are not computed
    assert pipeline.needed_steps(["health"], given=["coverage", "growth", "plan"]) == (
        "activity", "coverage", "plan", "growth", "health")
    with pytest.raises(pipeline.PipelineError, match="unknown step"):
        pipeline.needed_steps(["nonsense"])


def test_kam_core_never_imports_streamlit() -> None:
    core = ROOT / "kam_core"
    files = sorted(core.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names), path
    # and importing every module pulls in no streamlit either
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in files]
    modules = [m.removesuffix(".__init__") for m in modules if not m.endswith("__main__")]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print('streamlit' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "False"
