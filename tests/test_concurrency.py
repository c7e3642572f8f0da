"""Several sessions at once, and reloads under load.

Each session's queries run on their own cursor of the app's shared dataset connection
(``ui.dataset()``, the app's pattern) and the SQL box runs in its worker processes. While the
database file is replaced by real loads, every session finishes on the data it started with,
the next run sees the new data, nothing raises, and the old connections and files are released
once their last cursor is gone.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import ui
from kam_core import sqlbox
from kam_core.appdata import DEMO_DIR
from kam_core.asof import resolve_as_of
from kam_core.dataset import open_dataset
from kam_core.demo import write_demo
from kam_core.ingest.loader import load
from kam_core.metrics.coverage import coverage_by_account
from kam_core.metrics.growth import growth_by_account
from kam_core.metrics.overview import account_overview, base_metrics
from kam_core.settings import Settings
from kam_core.sqlbox import Limits, run_query

from .conftest import ROOT

SQL = "select region, count(*) as n from accounts group by region order by region"
TOTALS = ("select a.region, count(distinct a.account_id) as accounts, sum(r.revenue) as revenue "
          "from accounts as a left join revenue as r using (account_id) group by a.region order by a.region")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("conc") / "kam.duckdb"
    load([DEMO_DIR], db)
    return db


@pytest.fixture(scope="module", autouse=True)
def workers():
    yield
    sqlbox.shutdown()


def _work(con, kind: str, settings: Settings, db: Path) -> pd.DataFrame:
    if kind == "sql":
        return run_query(db, SQL).frame
    cur = con.cursor()
    try:
        as_of = resolve_as_of(cur, settings)
        if kind == "coverage":
            return coverage_by_account(cur, settings, as_of)
        if kind == "growth":
            return growth_by_account(cur, settings, as_of)
        base = base_metrics(cur, settings, as_of)
        return account_overview(cur, settings, base)[["account_id", "attractiveness", "tier", "health"]]
    finally:
        cur.close()


def test_parallel_sessions_get_the_right_numbers(demo_db: Path) -> None:
    shared = open_dataset(demo_db)
    kinds = ["coverage", "growth", "overview", "sql"]
    settings = [Settings(), Settings({"half_life_days": 90, "tier_scheme": "league"})]
    expected = {(k, i): _work(shared, k, s, demo_db) for k in kinds for i, s in enumerate(settings)}
    jobs = [(k, i) for k in kinds for i in range(len(settings))] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: (job, _work(shared, job[0], settings[job[1]], demo_db)), jobs))
    shared.close()
    assert len(results) == len(jobs)
    for job, frame in results:
        pd.testing.assert_frame_equal(frame, expected[job])
    # the two settings really give different answers, so a mix-up would have been caught
    assert not expected[("overview", 0)]["tier"].equals(expected[("overview", 1)]["tier"])
    assert not expected[("coverage", 0)]["coverage"].equals(expected[("coverage", 1)]["coverage"])


def test_locked_connection_refuses_files_even_for_core_code(demo_db: Path, tmp_path: Path) -> None:
    import duckdb

    shared = open_dataset(demo_db)
    try:
        with pytest.raises(duckdb.Error):
            shared.cursor().execute(f"copy (select 1) to '{tmp_path / 'x.csv'}'")
    finally:
        shared.close()


# ---------------------------------------------------------------- reloads under load


def _page(kind: str, settings: Settings, db: Path) -> tuple[tuple, object]:
    """One page run as the app does it: the version's key and connection, a cursor, a result."""
    if kind == "sql":
        return (), run_query(db, SQL, Limits(time_s=60)).frame
    key, shared = ui.dataset()
    cur = shared.cursor()
    try:
        as_of = resolve_as_of(cur, settings)
        if kind == "overview":
            base = base_metrics(cur, settings, as_of)
            frame = account_overview(cur, settings, base)[["account_id", "tier", "health", "ttm_revenue"]]
        elif kind == "coverage":
            frame = coverage_by_account(cur, settings, as_of)
        else:
            frame = cur.execute(TOTALS).df()
        return key, frame
    finally:
        cur.close()


def _deleted_files(name: str) -> int:
    """Open file handles of this process on replaced (deleted) files called ``name``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += name in target and target.endswith("(deleted)")
    return count


@pytest.mark.slow
def test_twenty_sessions_while_the_database_is_reloaded_five_times(tmp_path: Path, monkeypatch) -> None:
    # two exports with different numbers: 150 accounts (the demo) and 60 others
    small = tmp_path / "small"
    write_demo(small, accounts=60, seed=11)
    versions = {"demo": [DEMO_DIR], "small": [small]}
    db = tmp_path / "kam.duckdb"
    settings = Settings()
    expected: dict[str, dict[str, pd.DataFrame]] = {}
    for name, sources in versions.items():
        load(sources, db)
        expected[name] = {"sql": run_query(db, SQL).frame}
        con = open_dataset(db)
        cur = con.cursor()
        as_of = resolve_as_of(cur, settings)
        expected[name]["overview"] = account_overview(cur, settings, base_metrics(cur, settings, as_of))[
            ["account_id", "tier", "health", "ttm_revenue"]]
        expected[name]["coverage"] = coverage_by_account(cur, settings, as_of)
        expected[name]["totals"] = cur.execute(TOTALS).df()
        cur.close()
        con.close()
    assert len(expected["demo"]["overview"]) == 150 and len(expected["small"]["overview"]) == 60
    load(versions["demo"], db)  # the sessions start on the demo
    monkeypatch.setenv("KAM_DB", str(db))
    sqlbox.prestart(Limits(time_s=60))

    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[tuple[str, str]] = []  # (kind, version) of every finished page run
    mismatches: list[str] = []
    # like a team: one on the portfolio (the whole pipeline), five on coverage, ten on
    # totals, four in the SQL box
    kinds = ["overview"] + ["coverage"] * 5 + ["totals"] * 10 + ["sql"] * 4

    def session(n: int) -> None:
        kind = kinds[n]
        while not stop.is_set():
            try:
                _, result = _page(kind, settings, db)
            except BaseException as exc:  # noqa: BLE001 - every exception is a failure of the test
                errors.append(exc)
                return
            match = [v for v in versions if _same(result, expected[v][kind])]
            if not match:
                mismatches.append(f"session {n} ({kind}): neither the old nor the new data")
            else:
                seen.append((kind, match[0]))
            stop.wait(0.3)  # a user reads the page before the next click

    threads = [threading.Thread(target=session, args=(n,), name=f"session-{n}") for n in range(20)]
    for t in threads:
        t.start()
    # alternately from the command line (another process) and in this process (the Data page)
    order = [("small", "cli"), ("demo", "app"), ("small", "cli"), ("demo", "app"), ("small", "cli")]
    try:
        for name, where in order:
            time.sleep(0.5)  # sessions are mid-query when the file is swapped
            if where == "cli":
                cli = [sys.executable, "-m", "kam_core", "load", *map(str, versions[name]), "--db", str(db)]
                subprocess.run(cli, check=True, capture_output=True, cwd=ROOT, timeout=300)
            else:
                load(versions[name], db)
        time.sleep(1.0)  # a few runs on the last version
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
    assert not errors, [repr(e) for e in errors[:5]]
    assert not mismatches, mismatches[:5]
    assert len(seen) >= 40
    # both versions were read by page runs and by the SQL box, so the swaps happened under load
    assert {v for k, v in seen if k != "sql"} == {"demo", "small"}
    assert {v for k, v in seen if k == "sql"} == {"demo", "small"}
    # the next run sees the last load's data
    assert _same(_page("overview", settings, db)[1], expected["small"]["overview"])


def _same(result: pd.DataFrame, expected: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(result.reset_index(drop=True), expected.reset_index(drop=True))
    except AssertionError:
        return False
    return True


def test_old_connections_and_files_are_released_after_reloads(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "kam.duckdb"
    load([DEMO_DIR], db)
    monkeypatch.setenv("KAM_DB", str(db))
    copy = tmp_path / "next.duckdb"
    held = ui.connection()  # a session still reading the first version
    fds_before = len(os.listdir("/proc/self/fd"))
    for i in range(12):
        copy.write_bytes(db.read_bytes())
        os.replace(copy, db)  # what a load does at its end
        cur = ui.connection()
        assert cur.execute("select count(*) from accounts").fetchone() == (150,)
        cur.close()
        del cur
        gc.collect()
        # the running session's version and the current one stay open, none of the others
        assert _deleted_files(db.name) == 1, i
    assert held.execute("select count(*) from accounts").fetchone() == (150,)  # it still reads
    held.close()
    del held
    gc.collect()
    assert _deleted_files(db.name) == 0
    assert len(os.listdir("/proc/self/fd")) <= fds_before
