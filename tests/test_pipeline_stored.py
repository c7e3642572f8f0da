"""The coverage steps stored at load time (keyed steps) and the pipeline's two lanes.

Coverage is computed from integer-keyed lists (``contact_links``, ``account_contacts``) that
the loader stores while contacts, relationships and team are the export itself, and that a run
computes from the connection's views otherwise. Both ways must give the same numbers as the
definition of spec §3.2, written here once more in plain pandas over a random dataset with
ties, runner-ups, members holding several contacts, inactive people and dates after as_of.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kam_core.dataset import open_dataset
from kam_core.ingest.schema import ATTITUDES, PIECES, create_schema
from kam_core.metrics import pipeline
from kam_core.metrics.coverage import coverage_by_account
from kam_core.metrics.overview import base_metrics
from kam_core.metrics.pipeline import KEYED_STEPS, STORED_PREFIX, run_pipeline, store_static_steps
from kam_core.settings import Settings
from kam_core.sqlutil import quote_literal

AS_OF = dt.date(2025, 6, 30)
SETTINGS = Settings({"as_of": AS_OF.isoformat()})


def random_tables(seed: int, with_team: bool = True, *, accounts: int = 25, contacts: int = 160,
                  pairs: int = 420) -> dict[str, pd.DataFrame]:
    """Accounts, team, contacts and relationships drawn at random, with exact ties on purpose:
    strengths 0–4 and a few distinct dates, so several members often share a contact's best e."""
    rng = np.random.default_rng(seed)
    n_accounts = accounts
    accounts = pd.DataFrame({"account_id": [f"A{i:05d}" for i in range(n_accounts)], "name": "x"})
    members = [f"M{i}" for i in range(9)]
    team = pd.DataFrame({"member_id": members, "name": [f"Member {m}" for m in members],
                         "is_active": rng.random(len(members)) > 0.15})
    n = contacts
    contacts = pd.DataFrame({
        "contact_id": [f"C{i:06d}" for i in range(n)],
        # some accounts get no contacts
        "account_id": rng.choice(accounts["account_id"].iloc[:n_accounts * 22 // 25], n),
        "name": "c",
        "piece": rng.choice([*PIECES, None], n),
        "attitude": rng.choice([*ATTITUDES, None], n),
        "is_active": rng.choice([True, True, True, False, None], n),
    })
    pairs = {(m, c) for m, c in zip(rng.choice(members, pairs), rng.choice(contacts["contact_id"], pairs), strict=True)}
    days = [None, AS_OF - dt.timedelta(days=180), AS_OF - dt.timedelta(days=30), AS_OF + dt.timedelta(days=9)]
    relationships = pd.DataFrame({
        "member_id": [m for m, _ in sorted(pairs)],
        "contact_id": [c for _, c in sorted(pairs)],
        "strength": rng.integers(0, 5, len(pairs)),
        "last_contact_date": [days[i] for i in rng.integers(0, len(days), len(pairs))],
    })
    tables = {"accounts": accounts, "contacts": contacts, "relationships": relationships}
    if with_team:
        tables["team"] = team
    return tables


def database(path: Path, tables: dict[str, pd.DataFrame], stored: bool) -> Path:
    with duckdb.connect(str(path)) as con:
        create_schema(con, tables=list(tables))
        for name, frame in tables.items():
            con.register("rows", frame)
            columns = ", ".join(frame.columns)
            con.execute(f"insert into {name} ({columns}) select {columns} from rows")
            con.unregister("rows")
        if stored:
            store_static_steps(con, SETTINGS)
    return path


def reference_coverage(tables: dict[str, pd.DataFrame], settings: Settings) -> pd.DataFrame:
    """Spec §3.2 in plain pandas, one contact and one member at a time where it must be."""
    team = tables.get("team")
    contacts = tables["contacts"]
    contacts = contacts[contacts["is_active"].fillna(True).astype(bool)].copy()
    contacts["piece"] = contacts["piece"].fillna("pawn")
    contacts["attitude"] = contacts["attitude"].fillna("neutral")
    contacts["v"] = contacts["piece"].map(settings.piece_values).astype(float).fillna(0.0)
    contacts["w"] = contacts["attitude"].map(settings.attitude_values).astype(float).fillna(0.0)
    active = (set(team.loc[team["is_active"], "member_id"]) if team is not None
              else set(tables["relationships"]["member_id"]))
    rel = tables["relationships"]
    rel = rel[rel["member_id"].isin(active)].merge(contacts[["contact_id", "account_id"]], on="contact_id")

    def e(row: pd.Series) -> float:
        days = 0 if row["last_contact_date"] is None else max((AS_OF - row["last_contact_date"]).days, 0)
        return row["strength"] / 4 * 0.5 ** (days / settings.half_life_days)

    rel = rel.assign(e=rel.apply(e, axis=1) if len(rel) else [])
    rows = []
    for account_id in tables["accounts"]["account_id"]:
        mine = contacts[contacts["account_id"] == account_id]
        links = rel[rel["account_id"] == account_id]
        best = {c: g["e"].max() for c, g in links.groupby("contact_id")}

        def covered(without: str | None = None, mine: pd.DataFrame = mine, links: pd.DataFrame = links) -> float:
            total = 0.0
            for contact_id, v in zip(mine["contact_id"], mine["v"], strict=True):
                es = links.loc[(links["contact_id"] == contact_id) & (links["member_id"] != without), "e"]
                total += v * (es.max() if len(es) else 0.0)
            return total

        value = mine["v"].sum()
        covered_value = covered()
        coverage = 100 * covered_value / value if len(mine) and value else None
        key = mine[mine["piece"].isin(["king", "queen", "rook"])]
        key_covered = sum(round(best.get(c, 0.0), 6) >= settings.covered_threshold for c in key["contact_id"])
        kings = mine[mine["piece"] == "king"]
        king_covered = (False if kings.empty else
                        any(round(best.get(c, 0.0), 6) >= settings.covered_threshold for c in kings["contact_id"]))
        threads = links.loc[links["strength"] >= settings.thread_strength, "member_id"].nunique()
        losses = {m: covered_value - covered(m) for m in sorted(links["member_id"].unique())}
        top = max(losses.values(), default=0.0)
        dependency = None if coverage is None else (0.0 if round(coverage, 6) == 0 else top / covered_value)
        key_person = (min(m for m, loss in losses.items() if abs(loss - top) < 1e-12)
                      if coverage is not None and round(coverage, 6) > 0 and round(top / covered_value, 6) > 0
                      else None)
        worst = kings.sort_values("w")["attitude"].iloc[0] if len(kings) else None
        rows.append({
            "account_id": account_id,
            "contacts_count": len(mine),
            "coverage": coverage,
            "key_players_covered": key_covered / len(key) if len(key) else None,
            "king_covered": king_covered,
            "threads": threads,
            "single_threaded": threads <= 1,
            "key_person_dependency": dependency,
            "key_person_id": key_person,
            "support_balance": float((mine["v"] * mine["w"]).sum()),
            "high_influence_opponents": int(((mine["w"].round(6) < 0)
                                             & (mine["v"].round(6) >= settings.high_influence_value)).sum()),
            "king_attitude": worst,
        })
    return pd.DataFrame(rows).astype(pipeline.COVERAGE_COLUMNS)


@pytest.mark.parametrize(("seed", "with_team"), [(1, True), (2, True), (3, False)])
def test_stored_and_computed_coverage_match_the_definition(tmp_path: Path, seed: int, with_team: bool) -> None:
    tables = random_tables(seed, with_team)
    stored_db = database(tmp_path / "stored.duckdb", tables, stored=True)
    plain_db = database(tmp_path / "plain.duckdb", tables, stored=False)
    expected = reference_coverage(tables, SETTINGS)
    assert expected["coverage"].notna().sum() > 10 and expected["key_person_id"].notna().sum() > 5
    with duckdb.connect(str(stored_db), read_only=True) as stored, duckdb.connect(str(plain_db), read_only=True) as plain:
        with run_pipeline(stored, SETTINGS, AS_OF, ("coverage",)) as steps:  # the stored lists are read
            assert {"contact_links", "account_contacts"} <= set(steps.done) - {"relationship_links"}
            assert "relationship_links" not in steps.done
        from_store = coverage_by_account(stored, SETTINGS, AS_OF)
        computed = coverage_by_account(plain, SETTINGS, AS_OF)
    assert_frame_equal(from_store, computed, check_exact=False, rtol=1e-12, atol=1e-12)
    assert_frame_equal(computed, expected, check_exact=False, rtol=1e-9, atol=1e-12)


def test_team_edits_are_read_from_the_views(tmp_path: Path) -> None:
    """Once the team's edits lie over relationships, the stored lists are not read: the
    coverage follows the edit."""
    tables = random_tables(4)
    db = database(tmp_path / "kam.duckdb", tables, stored=True)
    first = tables["relationships"].iloc[0]

    match = f"member_id = {quote_literal(first['member_id'])} and contact_id = {quote_literal(first['contact_id'])}"

    def stronger(con: duckdb.DuckDBPyConnection) -> None:  # a view cannot take parameters
        con.execute("create or replace view relationships as select * replace ("
                    f"case when {match} then 4 else strength end as strength, "
                    f"case when {match} then null else last_contact_date end as last_contact_date) "
                    "from crm.main.relationships")

    plain = open_dataset(db)
    edited = open_dataset(db, overlay=stronger)
    try:
        with run_pipeline(plain, SETTINGS, AS_OF, ("coverage",)) as steps:
            assert "relationship_links" not in steps.done  # the export: stored lists
        with run_pipeline(edited, SETTINGS, AS_OF, ("coverage",)) as steps:
            assert "relationship_links" in steps.done  # edited: computed from the views
        got = coverage_by_account(edited, SETTINGS, AS_OF)
    finally:
        plain.close()
        edited.close()
    changed = dict(tables)
    relationships = tables["relationships"].copy()
    hit = (relationships["member_id"] == first["member_id"]) & (relationships["contact_id"] == first["contact_id"])
    relationships.loc[hit, "strength"] = 4
    relationships.loc[hit, "last_contact_date"] = None
    changed["relationships"] = relationships
    assert_frame_equal(got, reference_coverage(changed, SETTINGS), check_exact=False, rtol=1e-9, atol=1e-12)


def test_keyed_steps_are_stored_at_load_and_only_the_dated_ones_indexed_by_date(tmp_path: Path) -> None:
    db = database(tmp_path / "kam.duckdb", random_tables(5), stored=True)
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        indexed = dict(con.execute("select step, as_of from kam_steps").fetchall())
    assert {STORED_PREFIX + name for name in KEYED_STEPS} <= tables
    assert set(indexed) & set(KEYED_STEPS) == {"growth", "plan_facts"}  # (they depend on the as-of date)
    assert indexed["growth"] == indexed["plan_facts"] == AS_OF


def _row_groups(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute("select count(distinct row_group_id) from pragma_storage_info(?)", [table]).fetchone()[0]


def test_coverages_input_is_spread_over_row_groups_and_reads_the_same(tmp_path: Path) -> None:
    """contact_links, rewritten in row groups of a few thousand rows (coverage then scans it on
    every core): the same rows in the same order, still read as the stored result, the same
    coverage — and the coverage computed without any stored step. (An account whose rows
    straddle two row groups is summed in two parts, in either order: its unrounded figures may
    differ in the last bits from run to run, as they did at 100,000 accounts before; every
    figure is rounded to 6 decimals before it meets a threshold.)"""
    tables = random_tables(7, accounts=400, contacts=6000, pairs=15000)
    db = database(tmp_path / "kam.duckdb", tables, stored=True)
    table = STORED_PREFIX + "contact_links"
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql(f"select * from {table}").to_arrow_table()
        assert _row_groups(con, table) == 1
        before = coverage_by_account(con, SETTINGS, AS_OF)
    size = pipeline.spread_row_group_size(len(rows))
    assert len(rows) > 2 * pipeline.VECTOR_SIZE and size is not None

    assert pipeline.spread_stored_steps(db) == {"contact_links": size}

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql(f"select * from {table}").to_arrow_table().equals(rows)
        assert _row_groups(con, table) == -(-len(rows) // size) > 1
        with run_pipeline(con, SETTINGS, AS_OF, ("coverage",)) as steps:
            assert "contact_links" in steps.stored
        after = coverage_by_account(con, SETTINGS, AS_OF)
    with duckdb.connect(str(database(tmp_path / "plain.duckdb", tables, stored=False)), read_only=True) as plain:
        computed = coverage_by_account(plain, SETTINGS, AS_OF)
    assert before["coverage"].notna().sum() > 300
    assert_frame_equal(after, before, check_exact=False, rtol=1e-12, atol=1e-12)
    assert_frame_equal(after, computed, check_exact=False, rtol=1e-12, atol=1e-12)


def test_the_loader_spreads_coverages_input(tmp_path: Path) -> None:
    from kam_core.ingest.loader import load

    export = tmp_path / "export"
    export.mkdir()
    for name, frame in random_tables(8, accounts=400, contacts=7000, pairs=14000).items():
        frame.to_csv(export / f"{name}.csv", index=False)
    db = tmp_path / "kam.duckdb"
    load([export], db, SETTINGS)
    with duckdb.connect(str(db), read_only=True) as con:
        (rows,) = con.execute(f"select count(*) from {STORED_PREFIX}contact_links").fetchone()
        assert rows > 2 * pipeline.VECTOR_SIZE
        assert _row_groups(con, STORED_PREFIX + "contact_links") == -(-rows // pipeline.spread_row_group_size(rows))
        assert _row_groups(con, "contacts") == 1  # (the export's own tables as DuckDB makes them)


def test_the_two_lanes_give_what_one_lane_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kam_core.appdata import DEMO_DIR
    from kam_core.ingest.loader import load

    db = tmp_path / "demo.duckdb"
    load([DEMO_DIR], db)
    with duckdb.connect(str(db), read_only=True) as con:
        as_of = pipeline_as_of(con)
        two = base_metrics(con, Settings(), as_of)
        monkeypatch.setattr(pipeline, "SIDE_STEPS", ())
        one = base_metrics(con, Settings(), as_of)
    for part in ("accounts", "coverage", "growth", "plan", "metrics", "health"):
        assert len(getattr(two, part)) == 150
        assert_frame_equal(getattr(two, part), getattr(one, part))


def test_an_error_on_the_side_lane_reaches_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = database(tmp_path / "kam.duckdb", random_tables(6), stored=True)
    with duckdb.connect(str(db), read_only=True) as con:
        original = pipeline._run_step

        def failing(cur, step, params, loaded, stored):  # type: ignore[no-untyped-def]
            if step.name == "growth":
                raise RuntimeError("growth broke")
            original(cur, step, params, loaded, stored)

        monkeypatch.setattr(pipeline, "_run_step", failing)
        with pytest.raises(RuntimeError, match="growth broke"):
            with run_pipeline(con, SETTINGS, AS_OF, ("coverage", "growth", "health")):
                pass


def pipeline_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    from kam_core.asof import resolve_as_of

    return resolve_as_of(con, Settings())


def test_an_error_in_a_step_fetched_straight_as_rows_reaches_the_caller(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """account_metrics (side lane) and health (main lane) are read by no other step: computed
    straight into Arrow rows, and their errors still reach the caller."""
    db = database(tmp_path / "kam.duckdb", random_tables(8), stored=True)
    original = pipeline._run_step_rows
    for broken in ("account_metrics", "health"):
        def failing(cur, step, params, loaded, stored, *rest, broken=broken):  # type: ignore[no-untyped-def]
            if step.name == broken:
                raise RuntimeError(f"{broken} broke")
            return original(cur, step, params, loaded, stored, *rest)

        monkeypatch.setattr(pipeline, "_run_step_rows", failing)
        with duckdb.connect(str(db), read_only=True) as con:
            with pytest.raises(RuntimeError, match=f"{broken} broke"):
                base_metrics(con, SETTINGS, AS_OF)


def test_a_stored_result_of_an_older_layout_is_computed_instead(tmp_path: Path) -> None:
    """account_contacts stored without its present layout's column (by an older version) is
    not read but computed, with the same coverage."""
    db = database(tmp_path / "kam.duckdb", random_tables(9), stored=True)
    with duckdb.connect(str(db), read_only=True) as con:
        with run_pipeline(con, SETTINGS, AS_OF, ("coverage",)) as steps:
            assert "account_contacts" in steps.stored
            expected = steps.frame("coverage")
    with duckdb.connect(str(db)) as con:
        con.execute(f"alter table {STORED_PREFIX}account_contacts drop column cell_counts")
    with duckdb.connect(str(db), read_only=True) as con:
        with run_pipeline(con, SETTINGS, AS_OF, ("coverage",)) as steps:
            assert "account_contacts" not in steps.stored
            assert "contact_links" in steps.stored
            assert len(expected) == 25
            assert_frame_equal(steps.frame("coverage"), expected)
