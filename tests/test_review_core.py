"""The mentor's review in kam_core: recorded with who and when, counted in health at once (plan
component and status as spec §3.4 says), a snapshot kept; snapshots survive a reload of the
export; every load keeps the portfolio's figures, pruned to the setting; the cadence; the CLI.

The data below is small enough to work every expected number out by hand (as_of 2025-06-30,
the latest activity):

- A-1 Alpha AG: king C-1 (value 10) known by T-01 (strength 4, last contact 29 days ago:
  e = 0.5^(29/180) = 0.89435) and T-02 (strength 3, today: e = 0.75); pawn C-2 (value 1) known by
  T-02 (strength 3, today: e = 0.75). coverage = 100 × (10 × 0.89435 + 0.75) / 11 = 88.1229.
  Revenue 1000 in both years: growth 0 → growth score 50; margin 30 % of a 30 % target → 100;
  activity today → 100. Last review 2024-12-12, 200 days ago → plan 0.
  health = 0.30 × 88.1229 + 0.25 × 50 + 0.15 × 100 + 0.15 × 0 + 0.15 × 100 = 68.937 → amber.
  After a review on 2025-06-30: plan 100, health 83.937; on track → green (no reason left).
- A-2 Beta GmbH: never reviewed (mentor T-03).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from kam_core.access import AccessDenied, Actor, Role, local_actor
from kam_core.asof import resolve_as_of
from kam_core.cli import main
from kam_core.dataset import open_dataset
from kam_core.ingest.loader import load
from kam_core.metrics.overview import base_metrics
from kam_core.settings import Settings
from kam_core.workbench.edits import Create, Update, Workbench
from kam_core.workbench.errors import WorkbenchError
from kam_core.workbench.overlay import overlay_for
from kam_core.workbench.reviews import cadence_by_mentor, record_review, review_cadence, since_last_review
from kam_core.workbench.snapshots import (
    LoadIdentity,
    account_history,
    portfolio_snapshots,
    review_snapshots,
    snapshot_rows,
    take_portfolio_snapshot,
)
from kam_core.workbench.store import migrate, open_store, store_path_for

E_KING = 0.5 ** (29 / 180)
COVERAGE = 100 * (10 * E_KING + 0.75) / 11
HEALTH_BEFORE = 0.30 * COVERAGE + 0.25 * 50 + 0.15 * 100 + 0.15 * 0 + 0.15 * 100
HEALTH_AFTER = HEALTH_BEFORE + 0.15 * 100

FILES = {
    "team.csv": "member_id,name\nT-01,Anna Berg\nT-02,Ben Ohr\nT-03,Cleo Mahn\n",
    "accounts.csv": "account_id,name,account_manager_id,mentor_id\nA-1,Alpha AG,T-02,T-01\nA-2,Beta GmbH,T-03,T-03\n",
    "contacts.csv": ("contact_id,account_id,name,level,piece,attitude\nC-1,A-1,Karl King,executive,king,supporter\n"
                     "C-2,A-1,Paul Pawn,manager,pawn,neutral\nC-3,A-2,Bea Boss,executive,king,neutral\n"),
    "relationships.csv": ("member_id,contact_id,strength,last_contact_date\nT-01,C-1,4,2025-06-01\n"
                          "T-02,C-1,3,2025-06-30\nT-02,C-2,3,2025-06-30\nT-03,C-3,4,2025-06-30\n"),
    "activities.csv": "activity_id,date,account_id\nX1,2025-06-30,A-1\nX2,2025-06-30,A-2\n",
    "revenue.csv": ("account_id,period,product_line,revenue,gross_margin\nA-1,2025-06,Soft,1000,300\n"
                    "A-1,2024-06,Soft,1000,300\nA-2,2025-06,Soft,500,150\nA-2,2024-06,Soft,500,150\n"),
    "reviews.csv": "account_id,review_date,mentor_id,rating,notes\nA-1,2024-12-12,T-01,on_track,old review\n",
    "plan_actions.csv": "action_id,account_id,objective,owner_id,due_date,status\nPA-1,A-1,Meet the CFO,T-01,2025-09-30,open\n",
}
AS_OF = dt.date(2025, 6, 30)


def write_export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "kam.duckdb"
    load([write_export(tmp_path / "export")], path)
    return path


def health_of(db: Path, account_id: str) -> dict:
    con = open_dataset(db, overlay_for(store_path_for(db)))
    try:
        settings = Settings()
        frame = base_metrics(con, settings, resolve_as_of(con, settings)).health.set_index("account_id")
        return frame.loc[account_id].to_dict()
    finally:
        con.close()


def test_a_review_counts_in_health_at_once(db: Path) -> None:
    before = health_of(db, "A-1")
    assert before["plan_score"] == 0 and before["status"] == "amber"
    assert before["health"] == pytest.approx(HEALTH_BEFORE, abs=1e-5)
    assert list(before["reasons"]) == ["health 69 of 100 is below 70", "no review for 200 days"]  # 68.937 as shown

    done = record_review(db, local_actor("T-01", "Anna Berg"), "A-1", rating="On track", notes="CFO met",
                         decisions="second thread", review_date="2025-06-30", next_review_date="2025-09-28",
                         actions=[Create("plan_actions", {"objective": "Second thread to the CFO", "owner_id": "T-02",
                                                          "due_date": "2025-08-31"}),
                                  Update("plan_actions", "PA-1", {"status": "done"})])
    after = health_of(db, "A-1")
    assert after["plan_score"] == 100 and after["status"] == "green" and list(after["reasons"]) == []
    assert after["health"] == pytest.approx(HEALTH_AFTER, abs=1e-5)
    assert after["latest_rating"] == "on_track"

    # one save: the review and its actions, with who and when
    history = Workbench(db).history("A-1")
    assert set(history["batch_id"]) == {done.saved.batch_id} and set(history["actor"]) == {"T-01"}
    assert set(history["table"]) == {"reviews", "plan_actions"}
    review = Workbench(db).record("reviews", ("A-1", "2025-06-30")).values
    assert (review["rating"], review["mentor_id"], review["decisions"], review["next_review_date"]) == (
        "on_track", "T-01", "second thread", dt.date(2025, 9, 28))

    # the snapshot holds the figures after the review and the relationship map
    s = done.snapshot
    assert s.review_date == AS_OF and s.actor == "T-01" and s.batch_id == done.saved.batch_id
    assert s.figures["plan_score"] == 100 and s.figures["status"] == "green"
    assert s.figures["coverage"] == pytest.approx(COVERAGE, abs=1e-5)
    assert s.figures["review"]["rating"] == "on_track"
    assert sorted((c["contact_id"], c["piece"], c["attitude"]) for c in s.contacts) == [
        ("C-1", "king", "supporter"), ("C-2", "pawn", "neutral")]
    edges = {(r["member_id"], r["contact_id"]): r["effective_strength"] for r in s.relationships}
    assert edges == pytest.approx({("T-01", "C-1"): E_KING, ("T-02", "C-1"): 0.75, ("T-02", "C-2"): 0.75})
    assert sorted((a["objective"], a["status"]) for a in s.actions) == [
        ("Meet the CFO", "done"), ("Second thread to the CFO", "open")]
    assert [x.review_date for x in review_snapshots(store_path_for(db), "A-1")] == [AS_OF]


def test_an_off_track_rating_makes_the_account_red(db: Path) -> None:
    record_review(db, local_actor("T-01"), "A-1", rating="off_track", notes="lost the CFO", review_date=AS_OF)
    after = health_of(db, "A-1")
    assert after["plan_score"] == 100 and after["health"] == pytest.approx(HEALTH_AFTER, abs=1e-5)
    assert after["status"] == "red"
    assert list(after["reasons"]) == ["the mentor rated the account off track on 2025-06-30"]
    # the same day again: the review is changed, not added twice
    record_review(db, local_actor("T-01"), "A-1", rating="at_risk", notes="better", review_date=AS_OF)
    assert list(health_of(db, "A-1")["reasons"]) == ["the mentor rated the account at risk on 2025-06-30"]
    assert len(review_snapshots(store_path_for(db), "A-1")) == 1


def signed(identity: str, role: Role, member_id: str | None = None) -> Actor:
    return Actor(identity, identity.split("@")[0], frozenset({role}), member_id=member_id)


def test_who_may_record_a_review(db: Path) -> None:
    mentor_of_a2 = signed("cleo@example.com", Role.MENTOR, "T-03")
    with pytest.raises(AccessDenied, match="Recording a review of account A-1 needs the role management, or the role "
                                           "mentor or account manager of that account"):
        record_review(db, mentor_of_a2, "A-1", rating="on_track", review_date=AS_OF)
    with pytest.raises(AccessDenied, match="role viewer"):
        record_review(db, signed("vera@example.com", Role.VIEWER), "A-2", rating="on_track", review_date=AS_OF)
    assert record_review(db, mentor_of_a2, "A-2", rating="at_risk", review_date=AS_OF).snapshot is not None
    # management reviews every account; its review may carry plan actions (management does not edit accounts)
    boss = signed("boss@example.com", Role.MANAGEMENT)
    done = record_review(db, boss, "A-1", rating="on_track", review_date=AS_OF,
                         actions=[Create("plan_actions", {"objective": "Board visit"})])
    assert done.saved.actor == "boss@example.com"
    assert Workbench(db).record("reviews", ("A-1", AS_OF)).values["mentor_id"] is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rating": "great"}, "a review needs a rating: one of on_track, at_risk, off_track"),
    ({"rating": "on_track", "next_review_date": "2025-06-01"}, r"the next review \(2025-06-01\) must come after"),
    ({"rating": "on_track", "review_date": "30.06.2025"}, "review_date '30.06.2025' is not a date"),
    ({"rating": "on_track", "actions": [Create("contacts", {"name": "x"})]}, "a review saves plan actions with it"),
])
def test_bad_input_is_refused_with_a_message(db: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(WorkbenchError, match=message):
        record_review(db, local_actor("T-01"), "A-1", **{"review_date": AS_OF, **kwargs})
    with pytest.raises(WorkbenchError, match="account 'A-9' is not in the data"):
        record_review(db, local_actor("T-01"), "A-9", rating="on_track")


def test_snapshots_survive_a_reload_and_every_load_keeps_one(db: Path, tmp_path: Path, capsys) -> None:
    export = tmp_path / "export"
    assert main(["load", str(export), "--db", str(db)]) == 0
    assert "portfolio snapshot 1: 2 accounts kept for the history" in capsys.readouterr().out
    record_review(db, local_actor("T-01"), "A-1", rating="on_track", review_date=AS_OF)
    # the next export: Alpha's pawn is gone, the king turned opponent
    (export / "contacts.csv").write_text("contact_id,account_id,name,level,piece,attitude\n"
                                         "C-1,A-1,Karl King,executive,king,opponent\n"
                                         "C-3,A-2,Bea Boss,executive,king,neutral\n", encoding="utf-8")
    (export / "relationships.csv").write_text("member_id,contact_id,strength,last_contact_date\n"
                                              "T-01,C-1,4,2025-06-01\nT-02,C-1,3,2025-06-30\n"
                                              "T-03,C-3,4,2025-06-30\n", encoding="utf-8")
    assert main(["load", str(export), "--db", str(db)]) == 0
    assert "portfolio snapshot 2" in capsys.readouterr().out
    store = store_path_for(db)
    assert [s.accounts_count for s in portfolio_snapshots(store)] == [2, 2]
    assert review_snapshots(store, "A-1")[0].figures["status"] == "green"  # kept as it was
    assert health_of(db, "A-1")["plan_score"] == 100  # the review still counts on the new export
    from kam_core.workbench.reviews import account_now

    con = open_dataset(db, overlay_for(store))
    try:
        now = account_now(con, Settings(), AS_OF, "A-1")
    finally:
        con.close()
    diff, then = since_last_review(store, now, Settings())
    assert then.review_date == AS_OF
    assert [(c.contact_id, c.change) for c in diff.contacts] == [("C-2", "lost"), ("C-1", "attitude")]
    assert [(r.member_id, r.contact_id, r.change) for r in diff.relationships] == [("T-02", "C-2", "lost")]
    assert diff.figure("status").now == "red" and "the king (Karl King) is an opponent" in diff.reasons_added
    history = account_history(store, "A-1")
    assert history["status"].tolist() == ["amber", "red"]  # the first load before the review, then the king
    assert history["health"].iloc[0] == pytest.approx(HEALTH_BEFORE, abs=1e-5)
    assert snapshot_rows(store, history["snapshot_id"].iloc[0]).set_index("account_id").loc["A-2", "plan_score"] == 0


def test_history_is_pruned_to_the_setting_and_taken_once_per_load(tmp_path: Path) -> None:
    import pandas as pd

    store = tmp_path / "kam.workbench.sqlite"
    rows = pd.DataFrame({"account_id": ["A", "B"], "health": [50.0, None], "status": ["amber", "no data"],
                         "tier": ["Gold", None]})
    for column in ("coverage_score", "growth_score", "margin_score", "plan_score", "activity_score", "coverage",
                   "threads", "key_person_dependency", "ttm_revenue", "revenue_growth", "gross_margin_pct",
                   "share_of_wallet", "open_pipeline", "attractiveness", "strength", "quadrant"):
        rows[column] = None
    taken = [take_portfolio_snapshot(store, LoadIdentity(f"load {i}", None), AS_OF, rows, source="cli", keep=2)
             for i in range(3)]
    assert take_portfolio_snapshot(store, LoadIdentity("load 2", None), AS_OF, rows, source="app", keep=2) is None
    assert [t.pruned for t in taken] == [0, 0, 1]
    assert [s.load_id for s in portfolio_snapshots(store)] == ["load 2", "load 1"]
    with open_store(store) as con:
        assert con.execute("select count(*) from portfolio_snapshot_rows").fetchone()[0] == 4
    kept = snapshot_rows(store, taken[2].snapshot_id)
    assert kept["status"].iloc[0] == "amber" and kept["status"].isna().tolist() == [False, True]
    assert kept["health"].isna().tolist() == [False, True]
    assert take_portfolio_snapshot(store, LoadIdentity("load 9", None), AS_OF, rows, source="cli", keep=0) is None


def test_a_store_of_version_1_gets_the_snapshot_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    migrate(con, 1)
    con.close()
    with open_store(path) as con:
        assert con.execute("pragma user_version").fetchone()[0] == 2
        tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
    assert {"review_snapshots", "portfolio_snapshots", "portfolio_snapshot_rows", "cells"} <= tables


def test_the_cadence_per_account_and_mentor(db: Path) -> None:
    def cadence():
        con = open_dataset(db, overlay_for(store_path_for(db)))
        try:
            return review_cadence(con, Settings(), AS_OF).set_index("account_id")
        finally:
            con.close()

    before = cadence()
    # reviewed 2024-12-12, due 90 days later (2025-03-12): 110 days overdue; A-2 never
    assert before.loc["A-1", ["cadence_status", "days_until_due"]].tolist() == ["overdue", -110]
    assert before.loc["A-2", "cadence_status"] == "never reviewed"
    record_review(db, local_actor("T-01"), "A-1", rating="on_track", review_date="2025-06-20",
                  next_review_date="2025-07-10")
    after = cadence()
    assert after.loc["A-1", ["cadence_status", "days_until_due", "last_rating"]].tolist() == ["due", 10, "on_track"]
    by_mentor = cadence_by_mentor(after.reset_index()).set_index("mentor")
    assert by_mentor.loc["Anna Berg", ["accounts_count", "due_count", "overdue_count"]].tolist() == [1, 1, 0]
    assert by_mentor.loc["Cleo Mahn", "never_reviewed_count"] == 1


def test_cli_review_add_diff_history_cadence(db: Path, capsys) -> None:
    assert main(["review", "diff", "--db", str(db), "--account", "A-1"]) == 1
    assert "no review of account A-1 has a snapshot yet" in capsys.readouterr().err
    assert main(["review", "add", "--db", str(db), "--account", "A-1", "--rating", "at_risk", "--notes", "thin",
                 "--user", "T-01", "--date", "2025-06-30"]) == 0
    out = capsys.readouterr().out
    assert "review of A-1 on 2025-06-30 by Anna Berg (T-01): at_risk as save 1" in out
    assert "plan component 100" in out and "the mentor rated the account at risk on 2025-06-30" in out
    assert main(["review", "diff", "--db", str(db), "--account", "A-1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["then_label"] == "the review of 2025-06-30" and result["now_label"] == "now (as of 2025-06-30)"
    assert {f["name"]: f["direction"] for f in result["figures"]}["health"] == "same"
    assert main(["review", "diff", "--db", str(db), "--account", "A-1", "--from", "2025-01-01"]) == 1
    assert "has no review snapshot of 2025-01-01 (reviews with one: 2025-06-30)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["review", "add", "--db", str(db), "--account", "A-1", "--rating", "fine", "--notes", "x",
              "--user", "T-01"])
    assert exited.value.code == 2
    capsys.readouterr()
    assert main(["review", "cadence", "--db", str(db)]) == 0
    assert "Cleo Mahn: 1 accounts, 0 overdue, 1 never reviewed" in capsys.readouterr().out
    assert main(["review", "snapshot", "--db", str(db)]) == 0
    assert main(["review", "history", "--db", str(db), "--account", "A-1"]) == 0
    assert "snapshot_id,as_of,health,status" in capsys.readouterr().out


def as_of_of(db: Path) -> dt.date:
    con = open_dataset(db, overlay_for(store_path_for(db)))
    try:
        return resolve_as_of(con, Settings())
    finally:
        con.close()


def test_a_review_never_moves_the_as_of_date_of_the_portfolio(db: Path) -> None:
    """The data ends 2025-06-30 (long before today). A review recorded in the app is dated that
    day by default and counts at once; one dated today waits for the data, and neither moves the
    as-of date, so no other account changes."""
    other = health_of(db, "A-2")
    done = record_review(db, local_actor("T-01"), "A-1", rating="on_track")  # no date: the data's day
    assert done.snapshot.review_date == AS_OF and as_of_of(db) == AS_OF
    assert health_of(db, "A-1")["plan_score"] == 100
    assert health_of(db, "A-2") == other
    record_review(db, local_actor("T-03"), "A-2", rating="off_track", review_date=dt.date.today())
    assert as_of_of(db) == AS_OF  # the team's entries are not the export's dates
    assert health_of(db, "A-2") == other  # dated after the as-of date: it counts once the data reaches it
    with pytest.raises(WorkbenchError, match="is in the future"):
        record_review(db, local_actor("T-01"), "A-1", rating="on_track",
                      review_date=dt.date.today() + dt.timedelta(days=1))


def test_an_undone_review_is_no_longer_the_last_review(db: Path) -> None:
    first = record_review(db, local_actor("T-01"), "A-1", rating="at_risk", review_date="2025-06-01")
    second = record_review(db, local_actor("T-01"), "A-1", rating="on_track", review_date=AS_OF)
    store = store_path_for(db)
    assert [s.review_date for s in review_snapshots(store, "A-1")] == [dt.date(2025, 6, 1), AS_OF]
    Workbench(db).undo("T-01", second.saved.batch_id)
    assert [s.review_date for s in review_snapshots(store, "A-1")] == [dt.date(2025, 6, 1)]
    con = open_dataset(db, overlay_for(store))
    try:
        from kam_core.workbench.reviews import account_now

        now = account_now(con, Settings(), AS_OF, "A-1")
    finally:
        con.close()
    found = since_last_review(store, now, Settings())
    assert found is not None and found[1].review_date == dt.date(2025, 6, 1)
    assert found[1].batch_id == first.saved.batch_id
