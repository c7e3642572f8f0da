"""The overlay: every metric reads the export overlaid with the team's edits, through the
same views, with the canonical column names and types."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from kam_core.asof import resolve_as_of
from kam_core.dataset import open_dataset
from kam_core.ingest.schema import TABLES, loaded_tables
from kam_core.metrics.overview import base_metrics
from kam_core.settings import Settings
from kam_core.workbench.edits import Workbench
from kam_core.workbench.overlay import overlay_for
from kam_core.workbench.store import store_version
from kam_core.workbench.tables import EDITABLE

from .test_workbench import make_db

SETTINGS = Settings({"as_of": "2025-06-30"})


def health(db: Path, store: Path | None) -> dict:
    con = open_dataset(db, overlay_for(store) if store else None)
    try:
        metrics = base_metrics(con, SETTINGS, resolve_as_of(con, SETTINGS))
    finally:
        con.close()
    h = metrics.health.set_index("account_id")
    c = metrics.coverage.set_index("account_id")
    return {a: (h.loc[a, "status"], list(h.loc[a, "reasons"]), c.loc[a, "coverage"]) for a in h.index}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path)


def test_king_turned_opponent_makes_the_account_red(db: Path) -> None:
    wb = Workbench(db)
    status, reasons, coverage = health(db, wb.store_path)["A-1"]
    # king C-1 covered by T-01 (4) and T-03 (3), queen C-2 by T-02 (3):
    # coverage = 100 × (10 × 1 + 9 × 0.75) / 19
    assert coverage == pytest.approx(100 * (10 + 9 * 0.75) / 19)
    assert (status, reasons) == ("green", [])
    wb.update("T-02", "contacts", "C-1", {"piece": "king", "attitude": "opponent"})
    status, reasons, _ = health(db, wb.store_path)["A-1"]
    assert status == "red"
    assert any("Ada King" in r and "opponent" in r for r in reasons), reasons
    # the export itself is untouched: without the overlay the account is green
    assert health(db, None)["A-1"][0] == "green"
    wb.undo("T-02")
    assert health(db, wb.store_path)["A-1"][:2] == ("green", [])


def test_team_created_relationship_raises_coverage(db: Path) -> None:
    wb = Workbench(db)
    assert health(db, wb.store_path)["A-2"][2] == 0  # king C-3 and pawn C-4, nobody knows them
    wb.create("T-01", "relationships", {"member_id": "T-01", "contact_id": "C-3", "strength": 4})
    # e(C-3) = 4 / 4 without decay (no last contact): coverage = 100 × 10 × 1 / (10 + 1)
    assert health(db, wb.store_path)["A-2"][2] == pytest.approx(100 * 10 / 11)


def test_views_keep_the_canonical_names_and_types(db: Path) -> None:
    wb = Workbench(db)
    wb.update("T-01", "contacts", "C-1", {"attitude": "opponent", "is_active": False})
    wb.update("T-01", "relationships", ("T-01", "C-1"), {"strength": 1, "last_contact_date": "2025-01-31"})
    wb.create("T-01", "plan_actions", {"account_id": "A-1", "objective": "Workshop", "due_date": "2025-07-15"})
    wb.update("T-01", "potential", ("A-1", "Software"), {"annual_potential": 7})
    wb.update("T-01", "competitors", ("A-1", "Vantage", "Services"), {"est_share": 0.25})
    wb.update("T-01", "criterion_scores", ("A-1", "fit"), {"score": 9})
    wb.create("T-01", "reviews", {"account_id": "A-2", "review_date": "2025-06-01", "rating": "off_track"})
    plain = open_dataset(db)
    overlaid = open_dataset(db, overlay_for(wb.store_path))
    views = {r[0]: r[1] for r in overlaid.execute(
        "select view_name, sql from duckdb_views() where schema_name = 'main' and not internal").fetchall()}
    for table in EDITABLE:
        assert "workbench" in views[table], table  # every edited table is overlaid
        assert overlaid.execute(f"describe {table}").fetchall() == plain.execute(f"describe {table}").fetchall()
        assert [r[0] for r in overlaid.execute(f"describe {table}").fetchall()] == TABLES[table].column_names
    assert "workbench" not in views["accounts"]  # the others stay plain views of the export
    rows = overlaid.execute("select * from contacts where contact_id = 'C-1'").fetchall()
    assert rows == [("C-1", "A-1", "Ada King", "CEO", None, "executive", None, None, "king", "opponent", False, None)]
    assert overlaid.execute(
        "select strength, last_contact_date from relationships where member_id = 'T-01' and contact_id = 'C-1'"
    ).fetchall() == [(1, dt.date(2025, 1, 31))]
    # one competitor in two product lines: only the edited line changes
    assert overlaid.execute("select product_line, est_share from competitors order by product_line").fetchall() == [
        ("Services", 0.25), ("Software", 0.4)]
    assert overlaid.execute("select count(*) from plan_actions").fetchone()[0] == 3
    assert overlaid.execute("select rating from reviews where account_id = 'A-2'").fetchall() == [("off_track",)]
    # still locked: no file access after the overlay
    with pytest.raises(duckdb.PermissionException):
        overlaid.execute("select * from read_csv('x.csv')")
    # cursors (the app's pattern) see the overlay
    assert overlaid.cursor().execute("select attitude from contacts where contact_id = 'C-1'").fetchall() == [
        ("opponent",)]


def test_deleted_records_leave_the_data(db: Path) -> None:
    wb = Workbench(db)
    wb.delete("T-01", "contacts", "C-2")
    wb.delete("T-01", "criterion_scores", ("A-1", "fit"))
    con = open_dataset(db, overlay_for(wb.store_path))
    assert [r[0] for r in con.execute("select contact_id from contacts order by 1").fetchall()] == [
        "C-1", "C-3", "C-4", "C-5"]
    assert con.execute("select count(*) from relationships where contact_id = 'C-2'").fetchone()[0] == 0
    assert con.execute("select count(*) from criterion_scores").fetchone()[0] == 1


def test_a_table_the_export_lacks_exists_once_the_team_records_rows(tmp_path: Path) -> None:
    db = make_db(tmp_path, {"competitors.csv": None})
    wb = Workbench(db)
    assert "competitors" not in loaded_tables(open_dataset(db, overlay_for(wb.store_path)))
    wb.create("T-01", "competitors", {"account_id": "A-2", "competitor": "Rival", "est_share": "0.3"})
    con = open_dataset(db, overlay_for(wb.store_path))
    assert "competitors" in loaded_tables(con)
    assert con.execute("select * from competitors").fetchall() == [("A-2", "Rival", None, 0.3)]
    assert [r[1] for r in con.execute("describe competitors").fetchall()] == ["VARCHAR", "VARCHAR", "VARCHAR", "DOUBLE"]


def test_store_version_changes_with_every_save(db: Path) -> None:
    wb = Workbench(db)
    assert store_version(wb.store_path) == (0, 0)
    versions = []
    wb.update("T-01", "contacts", "C-1", {"title": "Chair"})
    versions.append(store_version(wb.store_path))
    wb.update("T-01", "contacts", "C-1", {"title": "Chair"})  # no change: no new version
    versions.append(store_version(wb.store_path))
    wb.undo("T-01")
    versions.append(store_version(wb.store_path))
    assert versions[0] == versions[1] != versions[2]
    assert [v[1] for v in versions] == [1, 1, 2]
