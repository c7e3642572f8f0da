"""The workbench: edits of every editable table validated with the loader's rules, history,
undo, optimistic concurrency, the authorize hook, reloads underneath the store, migrations.

The small export below is written by the tests; other ``test_workbench_*`` files use it too.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest

from kam_core.ingest.loader import load
from kam_core.workbench.edits import Create, Delete, Update, Workbench, WriteRequest
from kam_core.workbench.errors import (
    ConflictError,
    PermissionDenied,
    StoreError,
    ValidationError,
    WorkbenchError,
)
from kam_core.workbench.store import MIGRATIONS, migrate, open_store, store_path_for, store_version

EXPORT = {
    "team.csv": "member_id,name,role\nT-01,Anna Berg,account_manager\nT-02,Ben Cole,mentor\nT-03,Cara Dunn,specialist\n",
    "accounts.csv": "account_id,name,account_manager_id,mentor_id\nA-1,Alpha,T-01,T-02\nA-2,Beta,T-01,T-02\n"
                    "A-3,Gamma,T-03,T-02\n",
    "contacts.csv": "contact_id,account_id,name,title,level,piece,attitude\n"
                    "C-1,A-1,Ada King,CEO,executive,king,supporter\n"
                    "C-2,A-1,Bob Queen,CFO,senior,queen,neutral\n"
                    "C-3,A-2,Cy Crown,CEO,executive,king,neutral\n"
                    "C-4,A-2,Di Pawn,Buyer,operational,pawn,neutral\n"
                    "C-5,A-3,Ed Rook,CIO,senior,rook,skeptic\n",
    "relationships.csv": "member_id,contact_id,strength,last_contact_date\nT-01,C-1,4,\nT-02,C-2,3,\nT-03,C-1,3,\n"
                         "T-01,C-5,2,2025-06-01\n",
    "plan_actions.csv": "action_id,account_id,objective,owner_id,due_date,status\n"
                        "PA-1,A-1,Second thread to the CFO,T-01,2030-01-01,open\n"
                        ",A-2,Reference visit,T-02,2030-02-01,open\n",
    "potential.csv": "account_id,product_line,annual_potential\nA-1,Software,1000\nA-2,Services,500\n",
    "criteria.csv": "criterion_id,name,axis,weight,source\nfit,Strategic fit,attractiveness,1,manual\n"
                    "rev,Revenue,attractiveness,1,ttm_revenue\npos,Position,strength,1,manual\n",
    "criterion_scores.csv": "account_id,criterion_id,score\nA-1,fit,5\nA-2,pos,6\n",
    "competitors.csv": "account_id,competitor,product_line,est_share\nA-1,Vantage,Software,0.4\n"
                       "A-1,Vantage,Services,0.2\n",
    "reviews.csv": "account_id,review_date,mentor_id,rating,notes\nA-1,2025-05-01,T-02,on_track,ok\n",
    "activities.csv": "activity_id,date,account_id,contact_id,member_id,type\nX-1,2025-06-30,A-1,C-1,T-01,meeting\n"
                      "X-2,2025-06-30,A-2,C-3,T-01,call\n",
}


def write_export(folder: Path, changes: dict[str, str | None] | None = None) -> Path:
    """The test export (with some files replaced or, for None, left out) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**EXPORT, **(changes or {})}.items():
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


def make_db(tmp_path: Path, changes: dict[str, str | None] | None = None) -> Path:
    db = tmp_path / "kam.duckdb"
    report = load([write_export(tmp_path / "export", changes)], db)
    assert report.ok and not [f for f in report.files if f.rows_rejected]
    return db


@pytest.fixture(scope="session")
def loaded_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db(tmp_path_factory.mktemp("workbench"))


def fresh_copy(loaded: Path, folder: Path) -> Path:
    """A copy of a loaded database in ``folder`` (one load serves many tests: loads take a while)."""
    copy = folder / "kam.duckdb"
    shutil.copyfile(loaded, copy)
    return copy


@pytest.fixture
def db(loaded_once: Path, tmp_path: Path) -> Path:
    return fresh_copy(loaded_once, tmp_path)


@pytest.fixture
def wb(db: Path) -> Workbench:
    return Workbench(db)


# ---------------------------------------------------------------- the store's place


def test_store_beside_the_database_and_created_by_the_first_save(db: Path, wb: Workbench) -> None:
    assert wb.store_path == db.parent / "kam.workbench.sqlite"
    assert store_version(wb.store_path) == (0, 0)
    assert wb.record("contacts", "C-1").version == 0  # a read creates nothing
    assert not wb.store_path.exists()
    wb.update("T-01", "contacts", "C-1", {"title": "Chief Executive"})
    assert wb.store_path.is_file()
    assert store_version(wb.store_path)[1] == 1
    with open_store(wb.store_path) as con:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"


# ---------------------------------------------------------------- every editable table


VALID = [
    # table, key, values, expected stored values (canonical, as the loader stores them)
    ("contacts", "C-2", {"attitude": "Skeptical", "piece": " ROOK ", "is_active": "nein"},
     {"attitude": "skeptic", "piece": "rook", "is_active": False}),
    ("contacts", "C-2", {"level": "", "title": "Chief Financial Officer"}, {"level": None, "title": "Chief Financial Officer"}),
    ("relationships", ("T-02", "C-2"), {"strength": "2", "last_contact_date": "31.05.2025"},
     {"strength": 2, "last_contact_date": dt.date(2025, 5, 31)}),
    ("plan_actions", "PA-1", {"status": "Erledigt", "owner_id": "T-03", "due_date": dt.date(2025, 7, 1)},
     {"status": "done", "owner_id": "T-03", "due_date": dt.date(2025, 7, 1)}),
    ("potential", ("A-1", "Software"), {"annual_potential": 2500.5}, {"annual_potential": 2500.5}),
    ("competitors", ("A-1", "Vantage", "Services"), {"est_share": "0.35"}, {"est_share": 0.35}),
    ("criterion_scores", ("A-1", "fit"), {"score": 7}, {"score": 7.0}),
    ("reviews", ("A-1", "2025-05-01"), {"rating": "at risk", "notes": "=1+1 stays text"},
     {"rating": "at_risk", "notes": "=1+1 stays text"}),
]


@pytest.mark.parametrize(("table", "key", "values", "expected"), VALID, ids=[v[0] for v in VALID])
def test_valid_edit_of_every_table(wb: Workbench, table: str, key, values: dict, expected: dict) -> None:
    before = wb.record(table, key)
    saved = wb.update("T-02", table, key, values, seen=before.version)
    after = wb.record(table, key)
    assert {c: after.values[c] for c in expected} == expected
    changed = {c.column: (c.old, c.new) for c in saved.changes}
    assert changed == {c: (before.values[c], v) for c, v in expected.items() if before.values[c] != v}
    assert after.version == 1 and after.origin == "edited" and after.changed_by == "T-02"


INVALID = [
    ("contacts", "C-1", {"attitude": "hostile"}, "attitude",
     "contacts C-1: attitude 'hostile' is not one of: champion, supporter, neutral, skeptic, opponent"),
    ("contacts", "C-1", {"name": "  "}, "name", "contacts C-1: name is blank (required)"),
    ("contacts", "C-1", {"account_id": "A-99"}, "account_id", "contacts C-1: account_id 'A-99' has no account in accounts"),
    ("contacts", "C-1", {"is_active": "maybe"}, "is_active",
     "contacts C-1: is_active 'maybe' is not true or false (also 1/0, yes/no, ja/nein)"),
    ("relationships", ("T-01", "C-1"), {"strength": 5}, "strength",
     "relationships T-01, C-1: strength '5' is out of range (expected 0 to 4)"),
    ("relationships", ("T-01", "C-1"), {"strength": 2.5}, "strength",
     "relationships T-01, C-1: strength '2.5' is not a whole number"),
    ("relationships", ("T-01", "C-1"), {"last_contact_date": "yesterday"}, "last_contact_date",
     "relationships T-01, C-1: last_contact_date 'yesterday' is not a date (YYYY-MM-DD or DD.MM.YYYY)"),
    ("plan_actions", "PA-1", {"owner_id": "T-99"}, "owner_id", "plan_actions PA-1: owner_id 'T-99' has no team member in team"),
    ("plan_actions", "PA-1", {"status": "later"}, "status", "plan_actions PA-1: status 'later' is not one of: open, done"),
    ("potential", ("A-1", "Software"), {"annual_potential": -5}, "annual_potential",
     "potential A-1, Software: annual_potential '-5' is out of range (expected at least 0)"),
    ("competitors", ("A-1", "Vantage", "Software"), {"est_share": 1.5}, "est_share",
     "competitors A-1, Vantage, Software: est_share '1.5' is out of range (expected 0 to 1)"),
    ("criterion_scores", ("A-1", "fit"), {"score": 11}, "score",
     "criterion_scores A-1, fit: score '11' is out of range (expected 0 to 10)"),
    ("reviews", ("A-1", dt.date(2025, 5, 1)), {"rating": "great"}, "rating",
     "reviews A-1, 2025-05-01: rating 'great' is not one of: on_track, at_risk, off_track"),
    ("reviews", ("A-1", dt.date(2025, 5, 1)), {"notes": "#REF!"}, "notes",
     "reviews A-1, 2025-05-01: notes holds the Excel error #REF!"),
]


@pytest.mark.parametrize(("table", "key", "values", "column", "message"), INVALID,
                         ids=[f"{v[0]}-{v[3]}" for v in INVALID])
def test_invalid_edit_is_refused_with_the_loaders_words(wb: Workbench, table, key, values, column, message) -> None:
    with pytest.raises(ValidationError) as exc:
        wb.update("T-02", table, key, values)
    assert str(exc.value) == message
    assert [p.column for p in exc.value.problems] == [column]
    assert not wb.store_path.exists() or store_version(wb.store_path)[1] == 0  # nothing saved
    assert wb.record(table, key).version == 0


def test_several_problems_are_all_named(wb: Workbench) -> None:
    with pytest.raises(ValidationError) as exc:
        wb.update("T-01", "contacts", "C-1", {"piece": "emperor", "level": "boss"})
    assert [(p.column, p.reason) for p in exc.value.problems] == [
        ("level", "level 'boss' is not one of: executive, senior, manager, operational"),
        ("piece", "piece 'emperor' is not one of: king, queen, rook, bishop, knight, pawn"),
    ]


@pytest.mark.parametrize(("call", "message"), [
    (lambda wb: wb.update("T-01", "contacts", "C-1", {"contact_id": "C-9"}),
     "contacts C-1: contact_id is the key and cannot be changed; delete the contact and add a new one"),
    (lambda wb: wb.update("T-01", "contacts", "C-1", {"mood": "happy"}),
     "contacts has no column 'mood'; columns: contact_id, account_id, name, title, department, level, location, "
     "buying_role, piece, attitude, is_active, reports_to"),
    (lambda wb: wb.update("T-01", "contacts", "C-99", {"title": "x"}),
     "contacts C-99: no such contact (not in the export, or deleted)"),
    (lambda wb: wb.update("T-01", "accounts", "A-1", {"name": "x"}),
     "table 'accounts' cannot be edited in the workbench; editable tables: contacts, relationships, plan_actions, "
     "potential, competitors, criterion_scores, reviews"),
    (lambda wb: wb.update(" ", "contacts", "C-1", {"title": "x"}),
     "every change needs the acting user: choose a team member (or sign in)"),
    (lambda wb: wb.update("T-01", "relationships", "C-1", {"strength": 1}),
     "relationships: the key is member_id, contact_id (2 values); got 1"),
    (lambda wb: wb.create("T-01", "contacts", {"contact_id": "C-9", "account_id": "A-1", "name": "X"}),
     "contacts: contact_id of a new contact is given by the workbench; leave it blank"),
    (lambda wb: wb.create("T-01", "relationships", {"member_id": "T-01", "contact_id": "C-1", "strength": 1}),
     "relationships T-01, C-1: this relationship already exists; change it instead"),
])
def test_bad_requests_are_refused_clearly(wb: Workbench, call, message: str) -> None:
    with pytest.raises(WorkbenchError) as exc:
        call(wb)
    assert str(exc.value) == message


def test_unchanged_values_record_nothing(wb: Workbench) -> None:
    saved = wb.update("T-01", "contacts", "C-1", {"attitude": "Supporter", "title": "CEO"})
    assert saved.batch_id is None and saved.changes == []
    assert store_version(wb.store_path)[1] == 0
    assert wb.history().empty


# ---------------------------------------------------------------- records the CRM does not know


def test_new_contact_gets_a_generated_id_flagged_as_the_teams(wb: Workbench) -> None:
    saved = wb.create("T-01", "contacts", {"account_id": "A-2", "name": "New Person", "piece": "Queen"})
    (contact_id,) = saved.keys[0]
    assert contact_id.startswith("C-team-") and len(contact_id) == len("C-team-") + 12
    record = wb.record("contacts", contact_id)
    assert record.origin == "team"
    # defaults of the schema apply as in a load: neutral attitude, active
    assert {k: record.values[k] for k in ("account_id", "name", "piece", "attitude", "is_active", "title")} == {
        "account_id": "A-2", "name": "New Person", "piece": "queen", "attitude": "neutral", "is_active": True,
        "title": None}
    # its history: created, then only the columns that have a value
    assert [(c.column, c.new) for c in saved.changes] == [
        ("record", "created"), ("account_id", "A-2"), ("name", "New Person"), ("piece", "queen"),
        ("attitude", "neutral"), ("is_active", True)]
    # a second new contact gets another id
    other = wb.create("T-01", "contacts", {"account_id": "A-2", "name": "Another"}).keys[0][0]
    assert other != contact_id


def test_new_records_are_checked_like_loaded_rows(wb: Workbench) -> None:
    with pytest.raises(ValidationError) as exc:
        wb.create("T-01", "contacts", {"account_id": "A-99", "name": ""})
    assert str(exc.value) == "contacts: name is blank (required)"  # references after the checks pass
    with pytest.raises(ValidationError) as exc:
        wb.create("T-01", "contacts", {"account_id": "A-99", "name": "X"})
    assert str(exc.value) == "contacts: account_id 'A-99' has no account in accounts"
    with pytest.raises(ValidationError) as exc:
        wb.create("T-01", "relationships", {"member_id": "T-09", "contact_id": "C-99", "strength": 2})
    assert str(exc.value) == ("relationships T-09, C-99: member_id 'T-09' has no team member in team; "
                              "relationships T-09, C-99: contact_id 'C-99' has no contact in contacts")
    with pytest.raises(ValidationError) as exc:
        wb.create("T-01", "criterion_scores", {"account_id": "A-1", "criterion_id": "rev", "score": 3})
    assert str(exc.value) == ("criterion_scores A-1, rev: criterion 'rev' is derived from the metric ttm_revenue; "
                              "a manual score would be ignored")


def test_one_save_adds_a_contact_and_a_relationship_to_it(wb: Workbench) -> None:
    saved = wb.save("T-01", [Create("contacts", {"account_id": "A-2", "name": "Eve"})])
    contact_id = saved.keys[0][0]
    saved = wb.save("T-03", [
        Create("relationships", {"member_id": "T-03", "contact_id": contact_id, "strength": 3}),
        Update("contacts", contact_id, {"title": "COO"}),
    ])
    assert saved.action == "edit" and {c.account_id for c in saved.changes} == {"A-2"}
    rels = wb.records("relationships", "A-2")
    assert rels[["member_id", "contact_id", "strength", "_origin"]].values.tolist() == [
        ["T-03", contact_id, 3, "team"]]


def test_a_failing_operation_saves_nothing_of_its_save(wb: Workbench) -> None:
    with pytest.raises(ValidationError):
        wb.save("T-01", [Update("contacts", "C-1", {"title": "Boss"}), Update("contacts", "C-2", {"piece": "x"})])
    assert wb.record("contacts", "C-1").values["title"] == "CEO"
    assert wb.history().empty


def test_delete_a_contact_takes_its_relationships_and_undo_brings_them_back(wb: Workbench) -> None:
    saved = wb.delete("T-02", "contacts", "C-1", seen=0)
    assert [(c.table, c.key, c.new) for c in saved.changes] == [
        ("relationships", ("T-01", "C-1"), "deleted"), ("relationships", ("T-03", "C-1"), "deleted"),
        ("contacts", ("C-1",), "deleted")]
    assert wb.record("contacts", "C-1") is None
    assert wb.records("relationships", "A-1")["contact_id"].tolist() == ["C-2"]
    with pytest.raises(WorkbenchError, match="no such contact"):
        wb.update("T-02", "contacts", "C-1", {"title": "x"})
    wb.undo("T-02")
    assert wb.record("contacts", "C-1").values["name"] == "Ada King"
    assert sorted(wb.records("relationships", "A-1")["member_id"]) == ["T-01", "T-02", "T-03"]


def test_plan_action_without_id_cannot_be_changed_but_new_ones_can_be_added(wb: Workbench) -> None:
    with pytest.raises(WorkbenchError, match="a plan action without action_id cannot be changed"):
        wb.update("T-01", "plan_actions", (None,), {"status": "done"})
    saved = wb.create("T-02", "plan_actions", {"account_id": "A-2", "objective": "Workshop", "owner_id": "T-02",
                                              "due_date": "2025-09-30"})
    action_id = saved.keys[0][0]
    assert action_id.startswith("PA-team-")
    actions = wb.records("plan_actions", "A-2")
    assert actions[["objective", "status", "_origin"]].values.tolist() == [
        ["Reference visit", "open", "export"], ["Workshop", "open", "team"]]


# ---------------------------------------------------------------- history and undo


def test_history_of_an_account_with_who_when_old_and_new(wb: Workbench) -> None:
    wb.update("T-01", "contacts", "C-1", {"attitude": "champion"})
    wb.update("T-02", "relationships", ("T-03", "C-1"), {"strength": 4})  # A-1 through its contact
    wb.update("T-02", "contacts", "C-3", {"title": "Owner"})  # another account
    history = wb.history("A-1")
    assert history[["actor", "action", "table", "record", "column", "old_value", "new_value"]].values.tolist() == [
        ["T-02", "edit", "relationships", "T-03, C-1", "strength", "3", "4"],
        ["T-01", "edit", "contacts", "C-1", "attitude", "supporter", "champion"],
    ]
    assert history["changed_at"].is_monotonic_decreasing
    assert len(wb.history()) == 3 and len(wb.history(limit=1)) == 1
    assert wb.history(table="contacts", key="C-3")["new_value"].tolist() == ["Owner"]


def test_undo_the_last_change_is_itself_recorded(wb: Workbench) -> None:
    first = wb.update("T-01", "contacts", "C-1", {"attitude": "champion"})
    wb.update("T-01", "contacts", "C-1", {"attitude": "opponent", "title": "Chair"})
    assert wb.last_undoable("T-01") == first.batch_id + 1
    undone = wb.undo("T-01")
    # taken back in reverse order of the save's changes (title, then attitude)
    assert [(c.column, c.old, c.new) for c in undone.changes] == [
        ("attitude", "opponent", "champion"), ("title", "Chair", "CEO")]
    record = wb.record("contacts", "C-1")
    assert (record.values["attitude"], record.values["title"]) == ("champion", "CEO")
    assert record.team_columns == ("attitude",)  # the title is the export's again
    history = wb.history()
    assert history["action"].tolist() == ["undo", "undo", "edit", "edit", "edit"]
    assert history["undone"].tolist() == [False, False, True, True, False]
    wb.undo("T-01")  # the one before
    assert wb.record("contacts", "C-1").values["attitude"] == "supporter"
    assert wb.record("contacts", "C-1").origin == "export"
    with pytest.raises(WorkbenchError, match="nothing to undo: T-01 has no save that is not undone yet"):
        wb.undo("T-01")
    with pytest.raises(WorkbenchError, match=f"save {first.batch_id} was already undone"):
        wb.undo("T-01", first.batch_id)


def test_undo_refused_when_someone_changed_the_same_value_since(wb: Workbench) -> None:
    wb.update("T-01", "contacts", "C-1", {"attitude": "champion", "title": "Chair"})
    wb.update("T-02", "contacts", "C-1", {"attitude": "opponent"})
    wb.update("T-03", "contacts", "C-1", {"level": "senior"})
    with pytest.raises(ConflictError) as exc:
        wb.undo("T-01")
    assert str(exc.value).startswith("cannot undo save 1: contacts C-1 was changed by Ben Cole (T-02) at ")
    assert exc.value.changed_by == "T-02"
    assert wb.record("contacts", "C-1").values["attitude"] == "opponent"
    # once Ben's change is undone, Anna's can be; Cara's change of another column stays
    wb.undo("T-02")
    wb.undo("T-01")
    values = wb.record("contacts", "C-1").values
    assert (values["attitude"], values["title"], values["level"]) == ("supporter", "CEO", "senior")


# ---------------------------------------------------------------- two sessions, one contact


def test_second_writer_is_refused_with_who_and_when(db: Path) -> None:
    anna, ben = Workbench(db), Workbench(db)  # two sessions (or processes) on one store
    seen_by_anna = anna.record("contacts", "C-2")
    seen_by_ben = ben.record("contacts", "C-2")
    saved = anna.update("T-01", "contacts", "C-2", {"attitude": "champion"}, seen=seen_by_anna.version)
    with pytest.raises(ConflictError) as exc:
        ben.update("T-02", "contacts", "C-2", {"attitude": "opponent"}, seen=seen_by_ben.version)
    when = dt.datetime.fromisoformat(saved.changed_at).strftime("%Y-%m-%d %H:%M UTC")
    assert str(exc.value) == (f"contacts C-2 was changed by Anna Berg (T-01) at {when} since you opened it; "
                              "nothing was saved: check the current values and save again")
    assert (exc.value.changed_by, exc.value.changed_at) == ("T-01", saved.changed_at)
    assert ben.record("contacts", "C-2").values["attitude"] == "champion"
    # the same check by values: what Ben saw differs from what is there now
    with pytest.raises(ConflictError, match="changed by Anna Berg"):
        ben.update("T-02", "contacts", "C-2", {"attitude": "opponent"}, seen=dict(seen_by_ben.values))
    # with the new version Ben's save goes through
    ben.update("T-02", "contacts", "C-2", {"attitude": "opponent"}, seen=ben.record("contacts", "C-2").version)
    assert anna.record("contacts", "C-2").values["attitude"] == "opponent"


def test_values_seen_before_a_reload_are_refused(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    wb = Workbench(db)
    wb.update("T-03", "contacts", "C-2", {"level": "executive"})  # a team value: not what differs below
    seen = dict(wb.record("contacts", "C-2").values)
    load([write_export(tmp_path / "export2", {"contacts.csv": EXPORT["contacts.csv"].replace("CFO", "Finance")})], db)
    with pytest.raises(ConflictError, match=r"contacts C-2 was changed by a new CRM export \(loaded .*\) since you "
                                            r"opened it \(title\)"):
        wb.update("T-01", "contacts", "C-2", {"attitude": "opponent"}, seen=seen)


# ---------------------------------------------------------------- who may (the sign-in's hook)


def test_authorize_hook_sees_every_write_and_can_refuse_it(db: Path) -> None:
    asked: list[WriteRequest] = []

    def only_alpha(request: WriteRequest) -> None:
        asked.append(request)
        if request.account_ids != ("A-1",):
            raise PermissionDenied(f"{request.actor} may edit only account A-1 (role: account manager)")

    wb = Workbench(db, authorize=only_alpha)
    wb.update("T-01", "contacts", "C-1", {"title": "Chair"})
    with pytest.raises(PermissionDenied, match="may edit only account A-1"):
        wb.update("T-01", "relationships", ("T-01", "C-5"), {"strength": 3})
    with pytest.raises(PermissionDenied):  # moving a contact to another account touches both
        wb.update("T-01", "contacts", "C-2", {"account_id": "A-2"})
    assert [(r.action, r.table, r.key, r.account_ids) for r in asked] == [
        ("update", "contacts", ("C-1",), ("A-1",)),
        ("update", "relationships", ("T-01", "C-5"), ("A-3",)),
        ("update", "contacts", ("C-2",), ("A-1", "A-2")),
    ]
    assert len(wb.history()) == 1


# ---------------------------------------------------------------- reloads underneath the store


def test_reload_keeps_every_edit_and_lists_the_orphans(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    wb = Workbench(db)
    wb.update("T-01", "contacts", "C-1", {"attitude": "opponent"})
    wb.update("T-01", "contacts", "C-5", {"title": "CTO"})
    new_contact = wb.create("T-01", "contacts", {"account_id": "A-3", "name": "Fay"}).keys[0][0]
    wb.create("T-02", "relationships", {"member_id": "T-02", "contact_id": "C-4", "strength": 2})
    wb.update("T-02", "potential", ("A-1", "Software"), {"annual_potential": 1500})
    assert wb.orphans().empty

    # the next export: C-1's title changed in the CRM, account A-3 (with C-5) and contact C-4 are gone
    contacts = "\n".join(line for line in EXPORT["contacts.csv"].splitlines()
                         if not line.startswith(("C-4", "C-5"))).replace("CEO,executive,king,supporter",
                                                                        "Chair,executive,king,supporter") + "\n"
    changes = {
        "accounts.csv": "account_id,name,account_manager_id,mentor_id\nA-1,Alpha,T-01,T-02\nA-2,Beta,T-01,T-02\n",
        "contacts.csv": contacts,
        "relationships.csv": "member_id,contact_id,strength,last_contact_date\nT-01,C-1,4,\nT-02,C-2,3,\n",
        "potential.csv": None,  # the new export has no potential at all
    }
    report = load([write_export(tmp_path / "export2", changes)], db)
    assert report.ok

    c1 = wb.record("contacts", "C-1")
    assert (c1.values["attitude"], c1.values["title"]) == ("opponent", "Chair")  # team's column, export's column
    assert wb.record("contacts", "C-5") is None and wb.record("contacts", new_contact) is None
    orphans = wb.orphans()
    assert orphans[["table", "record", "account_id", "reason", "changed_by"]].values.tolist() == [
        ["contacts", "C-5", "A-3", "this contact is no longer in the export", "T-01"],
        ["contacts", new_contact, "A-3", "its account 'A-3' is no longer in the export", "T-01"],
        ["relationships", "T-02, C-4", "A-2", "its contact 'C-4' is no longer in the export or was deleted", "T-02"],
        ["potential", "A-1, Software", "A-1", "this potential is no longer in the export", "T-02"],
    ]
    # nothing was dropped: the old export brings every record back
    load([tmp_path / "export"], db)
    assert wb.orphans().empty
    assert wb.record("contacts", "C-5").values["title"] == "CTO"
    assert wb.record("potential", ("A-1", "Software")).values["annual_potential"] == 1500


# ---------------------------------------------------------------- the store file


def test_team_members_to_choose_from(wb: Workbench) -> None:
    assert wb.team_members().values.tolist() == [["T-01", "Anna Berg"], ["T-02", "Ben Cole"], ["T-03", "Cara Dunn"]]


def test_store_path_setting(tmp_path: Path) -> None:
    from kam_core.settings import Settings

    db = tmp_path / "data" / "kam.duckdb"
    assert store_path_for(db) == tmp_path / "data" / "kam.workbench.sqlite"
    assert store_path_for(db, Settings({"workbench_path": "edits/team.sqlite"})) == tmp_path / "data" / "edits" / "team.sqlite"
    assert store_path_for(db, Settings({"workbench_path": str(tmp_path / "x.sqlite")})) == tmp_path / "x.sqlite"


# Rows written by an app of each earlier version (raw SQL of that version's schema): opened by
# this version they must still be read. A new migration adds the rows of the version it replaces.
EARLIER_ROWS: dict[int, list[str]] = {
    1: [
        "insert into batches values (1, 'T-01', '2025-06-30T10:00:00.000000+00:00', 'edit', 'app', null)",
        "insert into changes values (1, 1, 'contacts', '[\"C-1\"]', 'A-1', 'attitude', 0, 'supporter', 1, 'opponent')",
        "insert into cells values ('contacts', '[\"C-1\"]', 'attitude', 'opponent')",
        "insert into records values ('contacts', '[\"C-1\"]', 'A-1', 1, 1)",
    ],
}


@pytest.mark.parametrize("version", range(len(MIGRATIONS)))
def test_a_store_of_every_earlier_version_opens_and_keeps_its_records(db: Path, version: int) -> None:
    path = store_path_for(db)
    con = sqlite3.connect(path, isolation_level=None)
    assert migrate(con, version) == version
    for statement in EARLIER_ROWS.get(version, []):
        con.execute(statement)
    con.close()
    wb = Workbench(db)
    wb.update("T-02", "contacts", "C-2", {"title": "Finance"})  # opens (migrates) and writes
    with open_store(path) as con:
        assert con.execute("pragma user_version").fetchone()[0] == len(MIGRATIONS)
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    if version >= 1:
        assert wb.record("contacts", "C-1").values["attitude"] == "opponent"
        assert wb.history("A-1", table="contacts", key="C-1")["actor"].tolist() == ["T-01"]


def test_store_of_a_newer_version_or_not_a_store_is_refused(db: Path, tmp_path: Path) -> None:
    path = store_path_for(db)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"pragma user_version = {len(MIGRATIONS) + 1}")
    con.close()
    with pytest.raises(StoreError, match=f"of version {len(MIGRATIONS) + 1}, written by a newer version"):
        Workbench(db).update("T-01", "contacts", "C-1", {"title": "x"})
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="is not a workbench store"):
        Workbench(db, junk).update("T-01", "contacts", "C-1", {"title": "x"})


def test_database_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match="does not exist; load a CRM export first"):
        Workbench(tmp_path / "none.duckdb").record("contacts", "C-1")


def test_delete_operation_via_save(wb: Workbench) -> None:
    saved = wb.save("T-01", [Delete("competitors", ("A-1", "Vantage", "Services"))])
    assert saved.action == "delete"
    assert wb.records("competitors", "A-1")[["product_line", "est_share"]].values.tolist() == [["Software", 0.4]]


# ---------------------------------------------------------------- reports-to, older databases, roles


def test_reports_to_is_a_reference_to_a_contact(tmp_path: Path) -> None:
    contacts = EXPORT["contacts.csv"].replace("attitude\n", "attitude,reports_to\n", 1)
    contacts = contacts.replace("Bob Queen,CFO,senior,queen,neutral\n", "Bob Queen,CFO,senior,queen,neutral,C-1\n")
    contacts = contacts.replace("Di Pawn,Buyer,operational,pawn,neutral\n", "Di Pawn,Buyer,operational,pawn,neutral,C-99\n")
    db = tmp_path / "kam.duckdb"
    report = load([write_export(tmp_path / "export", {"contacts.csv": contacts})], db)
    # as the loader treats every optional reference: a row whose manager is not loaded is kept, with a warning
    # (and the rows without the new last field are kept with it blank: one warning for the file)
    contacts_file = next(f for f in report.files if f.table == "contacts")
    assert (contacts_file.rows_loaded, contacts_file.warnings) == (5, 2)
    assert contacts_file.notes == ["3 rows have fewer fields than the header (row 2: 7 of 8 fields, row 4: 7 of 8 "
                                   "fields, row 6: 7 of 8 fields): the missing cells were read as blank"]
    wb = Workbench(db)
    assert wb.record("contacts", "C-2").values["reports_to"] == "C-1"
    with pytest.raises(ValidationError) as exc:
        wb.update("T-01", "contacts", "C-3", {"reports_to": "C-77"})
    assert str(exc.value) == "contacts C-3: reports_to 'C-77' has no contact in contacts"
    wb.update("T-01", "contacts", "C-3", {"reports_to": "C-4"})
    assert wb.records("contacts", "A-2").set_index("contact_id")["reports_to"].to_dict() == {"C-3": "C-4", "C-4": "C-99"}


@pytest.mark.parametrize(("key", "values", "message"), [
    ("C-1", {"reports_to": "C-1"},
     "contacts C-1: reports_to 'C-1' is the contact itself (expected another contact of account 'A-1')"),
    ("C-1", {"reports_to": "C-3"},
     "contacts C-1: reports_to 'C-3' is a contact of account 'A-2' (expected a contact of account 'A-1')"),
    # C-2 reports to C-1 (saved first): C-1 reporting to C-2 would close the loop
    ("C-1", {"reports_to": "C-2"},
     "contacts C-1: reports_to 'C-2' makes a loop C-1 → C-2 → C-1 (expected a manager who does not report to "
     "this contact)"),
    # moving C-2 to A-2 would leave its manager C-1 at another customer
    ("C-2", {"account_id": "A-2"},
     "contacts C-2: reports_to 'C-1' is a contact of account 'A-1' (expected a contact of account 'A-2')"),
], ids=["itself", "another-account", "loop", "moved-away"])
def test_reports_to_must_be_another_contact_of_the_account_without_a_loop(wb: Workbench, key: str, values: dict,
                                                                           message: str) -> None:
    wb.update("T-01", "contacts", "C-2", {"reports_to": "C-1"})
    with pytest.raises(ValidationError) as exc:
        wb.update("T-01", "contacts", key, values)
    assert str(exc.value) == message and [p.column for p in exc.value.problems] == ["reports_to"]
    assert wb.record("contacts", "C-1").values["reports_to"] is None
    assert wb.record("contacts", "C-2").values["account_id"] == "A-1"
    # one save that sets both directions is refused as a whole
    with pytest.raises(ValidationError, match="makes a loop C-2 → C-1 → C-2"):
        wb.save("T-01", [Update("contacts", "C-2", {"reports_to": None}), Update("contacts", "C-1", {"reports_to": "C-2"}),
                         Update("contacts", "C-2", {"reports_to": "C-1"})])
    with pytest.raises(ValidationError, match="is a contact of account 'A-2'"):  # a new contact too
        wb.create("T-01", "contacts", {"account_id": "A-1", "name": "Eve New", "reports_to": "C-3"})


def test_an_exports_own_loop_does_not_block_an_unrelated_edit(tmp_path: Path) -> None:
    contacts = EXPORT["contacts.csv"].replace("attitude\n", "attitude,reports_to\n", 1)
    contacts = contacts.replace("king,supporter\n", "king,supporter,C-2\n").replace("queen,neutral\n",
                                                                                      "queen,neutral,C-1\n")
    contacts = contacts.replace("Ed Rook,CIO,senior,rook,skeptic\n", "Ed Rook,CIO,senior,rook,skeptic,C-5\n")
    wb = Workbench(make_db(tmp_path, {"contacts.csv": contacts}))  # the loader keeps C-1 ⇄ C-2 and C-5 → C-5
    wb.update("T-01", "contacts", "C-1", {"attitude": "opponent"})
    wb.update("T-01", "contacts", "C-5", {"title": "CTO"})
    wb.update("T-01", "contacts", "C-4", {"reports_to": "C-3"})
    # a new manager above the loop: the walk up stops at the export's loop
    new = wb.create("T-01", "contacts", {"account_id": "A-1", "name": "Eve New", "reports_to": "C-1"}).keys[0][0]
    assert wb.record("contacts", new).values["reports_to"] == "C-1"
    with pytest.raises(ValidationError, match="is the contact itself"):  # set by the team: checked
        wb.update("T-01", "contacts", "C-2", {"reports_to": "C-2"})


def test_a_database_loaded_before_reports_to_existed(db: Path) -> None:
    import duckdb

    from kam_core.dataset import open_dataset
    from kam_core.ingest.schema import TABLES
    from kam_core.workbench.overlay import overlay_for

    with duckdb.connect(str(db)) as con:
        con.execute("alter table contacts drop column reports_to")
    wb = Workbench(db)
    wb.update("T-01", "contacts", "C-1", {"attitude": "opponent"})
    wb.update("T-01", "contacts", "C-2", {"reports_to": "C-1"})
    rows = wb.records("contacts", "A-1").set_index("contact_id")
    assert rows[["attitude", "reports_to"]].fillna("–").values.tolist() == [["opponent", "–"], ["neutral", "C-1"]]
    con = open_dataset(db, overlay_for(wb.store_path))
    assert [r[0] for r in con.execute("describe contacts").fetchall()] == TABLES["contacts"].column_names


def test_role_hook_of_the_app(db: Path) -> None:
    from kam_core.access import Actor, Role
    from kam_core.workbench.roles import authorize_for

    wb = Workbench(db)
    cara = Actor("cara@example.com", "Cara Dunn", frozenset({Role.ACCOUNT_MANAGER}), member_id="T-03")
    max_ = Actor("max@example.com", "Max", frozenset({Role.MANAGEMENT}))
    as_cara, as_max = wb.with_authorize(authorize_for(cara, wb)), wb.with_authorize(authorize_for(max_, wb))
    as_cara.update(cara.identity, "contacts", "C-5", {"attitude": "supporter"})  # her account
    with pytest.raises(PermissionDenied, match=r"^Editing the records of account A-1 needs the role mentor or "
                       r"account manager of that account"):
        as_cara.update(cara.identity, "contacts", "C-1", {"attitude": "opponent"})
    with pytest.raises(PermissionDenied, match=r"^a change in the name of 'T-01' was refused: you are Cara Dunn "
                       r"\(cara@example.com\), and every change is recorded under your own name$"):
        as_cara.update("T-01", "contacts", "C-5", {"attitude": "neutral"})
    # moving her contact to someone else's account needs both accounts
    with pytest.raises(PermissionDenied, match="account A-1"):
        as_cara.update(cara.identity, "contacts", "C-5", {"account_id": "A-1"})
    # management records reviews of every account, but edits no contact
    as_max.create(max_.identity, "reviews", {"account_id": "A-1", "review_date": "2025-06-15", "rating": "at_risk"})
    with pytest.raises(PermissionDenied, match=r"^Editing the records of account A-2"):
        as_max.update(max_.identity, "contacts", "C-3", {"piece": "queen"})
    # one connection behind every user's workbench; the unbound one checks nothing
    assert as_cara._state is wb._state and wb.authorize is None
    assert wb.history().drop_duplicates("batch_id")["actor"].tolist() == ["max@example.com", "cara@example.com"]
