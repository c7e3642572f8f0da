"""Several sessions at once: each query on its own cursor of the one shared, locked connection
(the app's pattern) gives no errors and the same numbers as running alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from kam_core.appdata import DEMO_DIR
from kam_core.asof import resolve_as_of
from kam_core.ingest.loader import load
from kam_core.metrics.coverage import coverage_by_account
from kam_core.metrics.growth import growth_by_account
from kam_core.metrics.overview import account_overview, base_metrics
from kam_core.settings import Settings
from kam_core.sqlbox import open_locked, run_query


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    db = tmp_path_factory.mktemp("conc") / "kam.duckdb"
    load([DEMO_DIR], db)
    con = open_locked(db)
    yield con
    con.close()


def _work(con, kind: str, settings: Settings) -> pd.DataFrame:
    cur = con.cursor()
    try:
        as_of = resolve_as_of(cur, settings)
        if kind == "coverage":
            return coverage_by_account(cur, settings, as_of)
        if kind == "growth":
            return growth_by_account(cur, settings, as_of)
        if kind == "sql":
            return run_query(cur, "select region, count(*) as n from accounts group by region order by region").frame
        base = base_metrics(cur, settings, as_of)
        return account_overview(cur, settings, base)[["account_id", "attractiveness", "tier", "health"]]
    finally:
        cur.close()


def test_parallel_sessions_get_the_right_numbers(shared) -> None:
    kinds = ["coverage", "growth", "overview", "sql"]
    settings = [Settings(), Settings({"half_life_days": 90, "tier_scheme": "league"})]
    expected = {(k, i): _work(shared, k, s) for k in kinds for i, s in enumerate(settings)}
    jobs = [(k, i) for k in kinds for i in range(len(settings))] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: (job, _work(shared, job[0], settings[job[1]])), jobs))
    assert len(results) == len(jobs)
    for job, frame in results:
        pd.testing.assert_frame_equal(frame, expected[job])
    # the two settings really give different answers, so a mix-up would have been caught
    assert not expected[("overview", 0)]["tier"].equals(expected[("overview", 1)]["tier"])
    assert not expected[("coverage", 0)]["coverage"].equals(expected[("coverage", 1)]["coverage"])


def test_locked_connection_refuses_files_even_for_core_code(shared, tmp_path: Path) -> None:
    import duckdb

    with pytest.raises(duckdb.Error):
        shared.cursor().execute(f"copy (select 1) to '{tmp_path / 'x.csv'}'")
