"""What changed between two snapshots of an account, and between two portfolio states: every
expectation below is worked out by hand from the two snapshots written in the test."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kam_core.dataset import open_dataset
from kam_core.workbench.review_diff import diff_snapshots, reason_kind, show_change
from kam_core.workbench.snapshots import AccountSnapshot, matrix_moves, status_changes, tier_migration

TIERS = ["Gold", "Silver", "Bronze", "Standard"]

THEN = AccountSnapshot(
    "A-1", dt.date(2025, 3, 31),
    figures={"health": 62.0, "coverage_score": 55.5, "growth_score": 50.0, "margin_score": 100.0, "plan_score": 100.0,
             "activity_score": 80.0, "status": "amber", "latest_rating": "on_track", "coverage": 55.5,
             "key_players_covered": 0.5, "threads": 2, "key_person_dependency": 0.4, "ttm_revenue": 1000.0,
             "revenue_growth": 0.1, "gross_margin_pct": 0.3, "share_of_wallet": 0.5, "open_pipeline": 200.0,
             "weighted_pipeline": 100.0, "attractiveness": 62.0, "strength": 55.0, "tier": "Silver",
             "quadrant": "strategic", "open_actions": 2, "overdue_actions": 0,
             "reasons": ["health 62 of 100 is below 70", "coverage depends 40 % on one person (Ann)"]},
    contacts=[
        {"contact_id": "C-1", "name": "Karl", "piece": "king", "attitude": "supporter", "is_active": True},
        {"contact_id": "C-2", "name": "Paula", "piece": "pawn", "attitude": "neutral", "is_active": True},
        {"contact_id": "C-3", "name": "Queenie", "piece": "queen", "attitude": "neutral", "is_active": True},
        {"contact_id": "C-5", "name": "Ida", "piece": "bishop", "attitude": "neutral", "is_active": True},
    ],
    relationships=[
        {"member_id": "T-1", "member_name": "Ann", "contact_id": "C-1", "strength": 3, "effective_strength": 0.6},
        {"member_id": "T-2", "member_name": "Ben", "contact_id": "C-2", "strength": 2, "effective_strength": 0.45},
        {"member_id": "T-1", "member_name": "Ann", "contact_id": "C-3", "strength": 2, "effective_strength": 0.3},
        {"member_id": "T-2", "member_name": "Ben", "contact_id": "C-5", "strength": 1, "effective_strength": 0.1},
    ],
    actions=[
        {"action_id": "P1", "objective": "Meet the CFO", "status": "open", "due_date": "2025-05-01",
         "is_overdue": False},
        {"action_id": "P2", "objective": "Workshop", "status": "open", "due_date": "2025-06-01", "is_overdue": False},
        {"action_id": "P3", "objective": "Kick-off", "status": "done", "due_date": "2025-01-10", "is_overdue": False},
        {"action_id": "P5", "objective": "Old idea", "status": "open", "due_date": None, "is_overdue": False},
    ],
    review_date=dt.date(2025, 3, 31), taken_at="2025-03-31T10:00:00+00:00", actor="T-1",
)

NOW = AccountSnapshot(
    "A-1", dt.date(2025, 6, 30),
    figures={**THEN.figures, "health": 48.5, "coverage_score": 40.25, "plan_score": 25.0, "status": "red",
             "latest_rating": "at_risk", "coverage": 40.25, "threads": 1, "key_person_dependency": 0.7,
             "ttm_revenue": 900.0, "gross_margin_pct": 0.25, "attractiveness": 45.0, "strength": 40.0, "tier": "Bronze",
             "quadrant": "streamline", "open_actions": 2, "overdue_actions": 1,
             "reasons": ["health 48 of 100 is below 70", "the king (Karl) is an opponent", "1 plan action overdue"]},
    contacts=[
        {"contact_id": "C-1", "name": "Karl", "piece": "king", "attitude": "opponent", "is_active": True},
        {"contact_id": "C-3", "name": "Queenie", "piece": "rook", "attitude": "neutral", "is_active": True},
        {"contact_id": "C-4", "name": "Kurt", "piece": "knight", "attitude": "supporter", "is_active": True},
        {"contact_id": "C-5", "name": "Ida", "piece": "bishop", "attitude": "neutral", "is_active": False},
    ],
    relationships=[
        {"member_id": "T-1", "member_name": "Ann", "contact_id": "C-1", "strength": 3, "effective_strength": 0.4},
        {"member_id": "T-1", "member_name": "Ann", "contact_id": "C-3", "strength": 2, "effective_strength": 0.35},
        {"member_id": "T-2", "member_name": "Ben", "contact_id": "C-4", "strength": 2, "effective_strength": 0.5},
        {"member_id": "T-2", "member_name": "Ben", "contact_id": "C-5", "strength": 2, "effective_strength": 0.2},
    ],
    actions=[
        {"action_id": "P1", "objective": "Meet the CFO", "status": "done", "due_date": "2025-05-01",
         "is_overdue": False},
        {"action_id": "P2", "objective": "Workshop", "status": "open", "due_date": "2025-06-01", "is_overdue": True},
        {"action_id": "P3", "objective": "Kick-off", "status": "done", "due_date": "2025-01-10", "is_overdue": False},
        {"action_id": "P4", "objective": "Second thread to the CFO", "status": "open", "due_date": "2025-09-01",
         "is_overdue": False},
    ],
)


@pytest.fixture(scope="module")
def d():
    return diff_snapshots(THEN, NOW, tier_names=TIERS, strength_change=0.1)


def test_each_figure_then_and_now_with_its_change(d) -> None:
    got = {f.name: (f.then, f.now, f.change, f.direction) for f in d.figures}
    assert got["health"] == (62.0, 48.5, -13.5, "worse")
    assert got["coverage"] == (55.5, 40.25, -15.25, "worse")
    assert got["plan_score"] == (100.0, 25.0, -75.0, "worse")
    assert got["growth_score"] == (50.0, 50.0, 0.0, "same")
    assert got["threads"] == (2, 1, -1, "worse")
    # lower is better for the dependency on one person and for overdue actions
    assert got["key_person_dependency"] == (0.4, 0.7, 0.3, "worse")
    assert got["overdue_actions"] == (0, 1, 1, "worse")
    assert got["ttm_revenue"] == (1000.0, 900.0, -100.0, "worse")
    assert got["gross_margin_pct"] == (0.3, 0.25, -0.05, "worse")
    assert got["open_actions"] == (2, 2, 0, "same")
    # ordered values: status and rating count up towards worse, tiers by rank
    assert got["status"] == ("amber", "red", None, "worse")
    assert got["latest_rating"] == ("on_track", "at_risk", None, "worse")
    assert got["tier"] == ("Silver", "Bronze", None, "worse")
    assert got["quadrant"] == ("strategic", "streamline", None, "changed")
    assert d.move("tier") == ("Silver", "Bronze") and d.move("quadrant") == ("strategic", "streamline")
    assert d.days == 91 and d.then_label == "the review of 2025-03-31" and d.now_label == "now (as of 2025-06-30)"


def test_reasons_compared_without_their_numbers(d) -> None:
    # "health 62 … below 70" and "health 48 … below 70" are the same problem
    assert d.reasons_added == ["the king (Karl) is an opponent", "1 plan action overdue"]
    assert d.reasons_resolved == ["coverage depends 40 % on one person (Ann)"]
    assert reason_kind("no review for 200 days") == "no review for # days"


def test_contacts_added_lost_and_changed(d) -> None:
    got = [(c.contact_id, c.change, c.then, c.now) for c in d.contacts]
    assert got == [
        ("C-5", "lost", "active", "inactive"),   # inactive now: lost to us
        ("C-2", "lost", None, None),             # gone from the data
        ("C-1", "attitude", "supporter", "opponent"),
        ("C-3", "piece", "queen", "rook"),
        ("C-4", "added", None, None),
    ]
    assert d.count("contacts", "lost") == 2 and d.count("contacts", "added") == 1


def test_relationships_added_lost_strengthened_weakened(d) -> None:
    got = [(r.member_id, r.contact_id, r.change, r.effective_then, r.effective_now) for r in d.relationships]
    # C-1: 0.6 → 0.4 is −0.2 (weakened); C-3: +0.05 is below the 0.1 threshold (not listed);
    # C-5: 0.1 → 0.2 is +0.1 exactly (strengthened: at least the threshold)
    assert got == [
        ("T-2", "C-2", "lost", 0.45, None),
        ("T-1", "C-1", "weakened", 0.6, 0.4),
        ("T-2", "C-4", "added", None, 0.5),
        ("T-2", "C-5", "strengthened", 0.1, 0.2),
    ]
    tighter = diff_snapshots(THEN, NOW, tier_names=TIERS, strength_change=0.05)
    assert ("T-1", "C-3", "strengthened") in [(r.member_id, r.contact_id, r.change) for r in tighter.relationships]


def test_actions_done_added_removed_overdue(d) -> None:
    got = [(a.action_id, a.change, a.was_overdue) for a in d.actions]
    assert got == [("P2", "overdue", False), ("P1", "done", False), ("P4", "added", False), ("P5", "removed", False)]
    assert "1 action(s) overdue" in d.summary() and "tier Silver → Bronze" in d.summary()


def test_the_same_snapshot_has_no_change_and_json_keeps_everything(d) -> None:
    same = diff_snapshots(NOW, NOW, tier_names=TIERS)
    assert same.changed_figures == [] and same.contacts == [] and same.relationships == []
    assert [a.change for a in same.actions] == ["overdue"]  # overdue now is listed whatever changed
    assert same.actions[0].was_overdue is True
    out = d.to_dict()
    assert out["tier_move"] == ["Silver", "Bronze"] and out["days"] == 91
    assert out["figures"][0] == {"name": "health", "label": "health", "kind": "score", "then": 62.0, "now": 48.5,
                                 "change": -13.5, "direction": "worse"}


def test_changes_as_a_person_reads_them(d) -> None:
    assert show_change(d.figure("health")) == "−14"
    assert show_change(d.figure("gross_margin_pct")) == "−5.0 %-points"
    assert show_change(d.figure("ttm_revenue"), "EUR") == "−100 EUR"
    assert show_change(d.figure("status")) == "amber → red"
    assert show_change(d.figure("growth_score")) == "–"


def test_missing_values_are_a_change_without_a_number() -> None:
    then = AccountSnapshot("A", dt.date(2025, 1, 1), {"coverage": None, "ttm_revenue": 10.0})
    now = AccountSnapshot("A", dt.date(2025, 2, 1), {"coverage": 50.0, "ttm_revenue": None})
    d = diff_snapshots(then, now)
    assert (d.figure("coverage").direction, d.figure("coverage").change) == ("changed", None)
    assert (d.figure("ttm_revenue").then, d.figure("ttm_revenue").now) == (10.0, None)
    assert d.figure("health").direction == "same"


# ---- two portfolio states

THEN_ROWS = pd.DataFrame({
    "account_id": ["A", "B", "C", "D"],
    "tier": ["Gold", "Silver", "Silver", "Bronze"],
    "status": ["green", "amber", "green", "red"],
    "health": [80.0, 60.0, 75.0, 30.0],
    "ttm_revenue": [100.0, 50.0, 40.0, 10.0],
    "strength": [60.0, 40.0, 50.0, 20.0],
    "attractiveness": [80.0, 55.0, 52.0, 35.0],
})
NOW_ROWS = pd.DataFrame({
    "account_id": ["A", "B", "C", "E"],
    "tier": ["Gold", "Gold", "Bronze", "Silver"],
    "status": ["amber", "red", "green", "no data"],
    "health": [65.0, 35.0, 78.0, None],
    "ttm_revenue": [120.0, 70.0, 30.0, 5.0],
    "strength": [63.0, 40.0, 50.0, 10.0],
    "attractiveness": [84.0, 71.0, 45.0, 55.0],
})


def test_tier_migration_counts_and_revenue() -> None:
    got = tier_migration(THEN_ROWS, NOW_ROWS, TIERS)
    rows = [(r.tier_from, r.tier_to, r.accounts_count, *(None if pd.isna(v) else v for v in (r.ttm_revenue_then,
                                                                                         r.ttm_revenue_now)))
            for r in got.itertuples()]
    assert rows == [
        ("Gold", "Gold", 1, 100.0, 120.0),
        ("Silver", "Gold", 1, 50.0, 70.0),
        ("Silver", "Bronze", 1, 40.0, 30.0),
        ("Bronze", "no longer in the data", 1, 10.0, None),
        ("new account", "Silver", 1, None, 5.0),
    ]


def test_status_worse_and_matrix_moves() -> None:
    changes = status_changes(THEN_ROWS, NOW_ROWS).set_index("account_id")
    assert list(changes.index[changes["is_worse"]]) == ["B", "A"]  # red first, then amber
    assert changes.loc["C", "is_better"] == False  # noqa: E712 (green stays green)
    assert changes.loc["A", "health_change"] == pytest.approx(-15.0)
    moves = matrix_moves(THEN_ROWS, NOW_ROWS).set_index("account_id")
    # A: (60, 80) → (63, 84) is a 3-4-5 triangle; B moved 16 up; C 7 down
    assert moves.loc["A", "distance"] == pytest.approx(5.0)
    assert moves.loc["B", "distance"] == pytest.approx(16.0)
    assert list(moves.index) == ["B", "C", "A"]
    # on a page's connection (a locked dataset connection: no file read) the same rows
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kam.duckdb"
        duckdb.connect(str(path)).close()
        con = open_dataset(path)
        try:
            pd.testing.assert_frame_equal(status_changes(THEN_ROWS, NOW_ROWS, con).set_index("account_id"), changes)
            assert not con.execute("select * from duckdb_views() where view_name like '%_rows'").fetchall()
        finally:
            con.close()


def test_a_review_recorded_afterwards_says_whose_figures_it_holds() -> None:
    """A review entered with an earlier date than the data's holds the figures of the data it
    was recorded with: its label says so, and a review on the data's date reads as before."""
    import dataclasses

    backdated = dataclasses.replace(THEN, as_of=dt.date(2025, 6, 30), review_date=dt.date(2025, 5, 2))
    assert backdated.label == "the review of 2025-05-02, figures as of 2025-06-30"
    assert THEN.label == "the review of 2025-03-31"
    assert diff_snapshots(backdated, NOW).then_label == "the review of 2025-05-02, figures as of 2025-06-30"
