"""The workbench's editors in the app (AppTest): each editor with invalid input (the loader's
message shows, the input stays, nothing is saved) and valid input (the store changes and the
page's numbers follow in the same run); "who am I" before the first save; history and undo;
two sessions editing one contact; role refusals; the Data page's orphans after a reload of a
different export; the Excel round trip; the SQL box and the CLI report see the edits.

The small export of ``test_workbench`` (three accounts) keeps every page run short.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import pickle
import re
import shutil
import sys
from pathlib import Path

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

import ui
from kam_core.ingest.loader import load
from kam_core.metrics.report import run_report
from kam_core.workbench.edits import Workbench
from kam_core.workbench.excel import export_workbook_bytes
from kam_core.workbench.overlay import overlay_for

from .conftest import ROOT
from .test_workbench import make_db, write_export

KAM_TOML = """\
as_of = "2025-06-30"

[roles]
"ben@example.com" = { role = "mentor", member_id = "T-03" }
"vera@example.com" = "viewer"
"""
AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 32,
                 "client_id": "kam", "client_secret": "secret",
                 "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}
BEN = {"email": "ben@example.com", "name": "Ben Mentor"}  # mentor T-03: A-3 is his, A-1 and A-2 are not
VERA = {"email": "vera@example.com", "name": "Vera Viewer"}
# A-1's only revenue: 1,000 in the last twelve months (share of wallet = 1,000 / potential)
REVENUE = "account_id,period,product_line,revenue,gross_margin\nA-1,2025-01,Software,1000,400\n"
PAGES = {"account": "pages/2_account.py", "portfolio": "pages/1_portfolio.py", "data": "pages/6_data.py",
         "explore": "pages/5_explore.py"}


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db(tmp_path_factory.mktemp("wbui"), {"revenue.csv": REVENUE})


@pytest.fixture
def env(small_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    db = tmp_path / "kam.duckdb"
    shutil.copy(small_db, db)
    config = tmp_path / "kam.toml"
    config.write_text(KAM_TOML, encoding="utf-8")
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(config))
    return {"db": db, "config": config, "dir": tmp_path}


def app(page: str, account: str | None = None, *, who: str | None = "T-02", user: dict | None = None) -> AppTest:
    """``page`` (of ``account``) as the local user who chose ``who`` in the sidebar, or signed in as ``user``."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if user is not None:
        at.secrets = AUTH
        at.user = {"is_logged_in": True, **user}
    elif who is not None:
        at.session_state["_whoami"] = who
        at.session_state["_whoami_name"] = {"T-01": "Anna Berg", "T-02": "Ben Cole", "T-03": "Cara Dunn"}[who]
    if account is not None:
        at.query_params["account"] = account
    at.switch_page(PAGES[page])
    return run(at)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def editor(at: AppTest, name: str):
    return next(d for d in at.data_editor if d.key.startswith(f"wb_{name}_"))


def edit(at: AppTest, name: str, edited: dict | None = None, added: list | None = None,
         deleted: list | None = None) -> str:
    """Type into editor ``name`` (as the browser would send it) and run; returns the widget key."""
    key = editor(at, name).key
    at.session_state[key] = {"edited_rows": edited or {}, "added_rows": added or [], "deleted_rows": deleted or []}
    run(at)
    return key


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    return run(at)


def save(at: AppTest, key: str) -> AppTest:
    return click(at, key.rsplit("_", 1)[0] + "_save")


def texts(elements) -> list[str]:
    """Texts as a user reads them (markdown escapes of data taken out)."""
    return [re.sub(r"\\(.)", r"\1", e.value).replace(ui.WORD_JOINER, "") for e in elements]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def heading(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("## "))


def reasons(at: AppTest) -> list[str]:
    return [t[2:] for t in texts(at.markdown) if t.startswith("- ")]


def record(env: dict[str, Path], table: str, key) -> dict | None:
    found = Workbench(env["db"]).record(table, key)
    return None if found is None else found.values


# ---------------------------------------------------------------- the editors, invalid then valid


def test_contacts_editor_asks_who_saves_and_the_account_turns_red_then_undo(env) -> None:
    at = app("account", "A-1", who=None)
    assert ":green-badge[green]" in heading(at)
    assert not any("opponent" in r for r in reasons(at))
    # the columns of the map fit the screen; the others on asking
    assert list(editor(at, "contacts").value.columns) == ["name", "piece", "attitude", "level", "department",
                                                         "reports_to", "is_active"]
    at.toggle(key="wb_contacts_A-1_all").set_value(True)
    assert list(editor(run(at), "contacts").value.columns) == [
        "name", "title", "piece", "attitude", "level", "department", "buying_role", "reports_to", "location",
        "is_active", "source", "contact_id"]
    # a contact the CRM does not know, without a name; nobody said who they are yet: asked first
    key = edit(at, "contacts", added=[{"title": "CTO", "piece": "rook"}])
    save(at, key)
    assert any(t.startswith("Every change is recorded with who made it.") for t in texts(at.markdown))
    at.selectbox(key="wb_who_pick").set_value("T-03")
    click(run(at), "wb_who_save")
    assert at.sidebar.selectbox(key="w_whoami").value == "T-03"  # chosen once for the session
    # then refused in the loader's words, the input kept, nothing saved
    assert texts(at.error) == ["contacts: name is blank (required)"]
    assert editor(at, "contacts").key == key and at.session_state[key]["added_rows"] == [{"title": "CTO", "piece": "rook"}]
    assert Workbench(env["db"]).history().empty
    # the king turns opponent and the new contact gets a name: one save
    edit(at, "contacts", edited={0: {"attitude": "Opponent"}},  # row 0: C-1 Ada King; spelled as in a file
         added=[{"name": "Cy Newman", "title": "CTO", "piece": "rook", "reports_to": "C-1"}])
    save(at, key)
    assert record(env, "contacts", "C-1")["attitude"] == "opponent"
    added = Workbench(env["db"]).records("contacts", "A-1")
    assert added.loc[added["name"] == "Cy Newman", ["piece", "reports_to", "_origin"]].values.tolist() == [
        ["rook", "C-1", "team"]]
    # C-1's attitude, and the new contact: the record, account, name, title, piece, reports to, and the
    # defaults the loader fills in (attitude neutral, active)
    assert "Saved: 9 changes (save 1)." in texts(at.success)
    # the same run shows it: red, with the reason in words
    assert ":red-badge[red]" in heading(at)
    assert "the king (Ada King) is an opponent" in reasons(at)
    history = Workbench(env["db"]).history("A-1")
    assert set(history["actor"]) == {"T-03"}
    assert ["contacts", "C-1", "attitude", "supporter", "opponent"] in history[
        ["table", "record", "column", "old_value", "new_value"]].values.tolist()
    # the account's history, and undo the last change (both, one save)
    assert "Last change: Cara Dunn (T-03), " in next(t for t in texts(at.caption) if t.startswith("Last change"))
    click(at, "wb_undo_A-1_button")
    assert record(env, "contacts", "C-1")["attitude"] == "supporter"
    assert "Cy Newman" not in Workbench(env["db"]).records("contacts", "A-1")["name"].tolist()
    assert ":green-badge[green]" in heading(at)
    assert "Undone: save 1 (9 changes)." in texts(at.success)
    # reports-to: Ada King under Bob Queen, who reports to her — a loop, refused, the input kept
    key = edit(at, "contacts", edited={0: {"reports_to": "C-2"}, 1: {"reports_to": "C-1"}})
    save(at, key)
    assert texts(at.error) == ["contacts C-2: reports_to 'C-1' makes a loop C-2 → C-1 → C-2 (expected a manager "
                               "who does not report to this contact)"]
    assert at.session_state[key]["edited_rows"] == {0: {"reports_to": "C-2"}, 1: {"reports_to": "C-1"}}
    assert record(env, "contacts", "C-1")["reports_to"] is None


def test_relationships_editor(env) -> None:
    at = app("account", "A-2")
    assert metric(at, "Coverage") == "0 / 100"  # king C-3 and pawn C-4: nobody knows them
    key = edit(at, "relationships", added=[{"member_id": "T-01", "contact_id": "C-3", "strength": 7}])
    save(at, key)
    assert texts(at.error) == ["relationships T-01, C-3: strength '7' is out of range (expected 0 to 4)"]
    assert at.session_state[key]["added_rows"][0]["strength"] == 7 and metric(at, "Coverage") == "0 / 100"
    edit(at, "relationships", added=[{"member_id": "T-01", "contact_id": "C-3", "strength": 4,
                                      "last_contact_date": "2025-06-20T00:00:00.000"}])
    save(at, key)
    assert record(env, "relationships", ("T-01", "C-3"))["strength"] == 4
    # e(C-3) = 4/4 × 0.5^(10 days / 180) = 0.962; coverage = 100 × 10 × 0.962 / (10 king + 1 pawn) = 87.5
    assert metric(at, "Coverage") == "87 / 100"
    assert editor(at, "relationships").value.to_dict("records") == [
        {"member_id": "T-01", "contact_id": "C-3", "strength": 4,
         "last_contact_date": dt.date(2025, 6, 20)}]


def test_plan_editor(env) -> None:
    at = app("account", "A-1")
    assert "1 open, 0 overdue" in texts(at.caption)
    key = edit(at, "plan", added=[{"owner_id": "T-02", "due_date": "2025-06-01"}])
    save(at, key)
    assert texts(at.error) == ["plan_actions: objective is blank (required)"]
    edit(at, "plan", edited={0: {"status": "done"}},  # PA-1 done
         added=[{"objective": "Meet the new CFO", "owner_id": "T-02", "due_date": "2025-06-01"}])
    save(at, key)
    assert record(env, "plan_actions", "PA-1")["status"] == "done"
    created = Workbench(env["db"]).records("plan_actions", "A-1")
    new = created[created["objective"] == "Meet the new CFO"].iloc[0]
    assert new["action_id"].startswith("PA-team-") and new["owner_id"] == "T-02" and new["status"] == "open"
    assert "1 open, 1 overdue" in texts(at.caption)  # the new one was due on 1 June


def test_potential_editor(env) -> None:
    at = app("account", "A-1")
    assert metric(at, "Share of wallet") == "100.0 %"  # revenue 1,000 / potential 1,000
    key = edit(at, "potential", edited={0: {"annual_potential": -5}})
    save(at, key)
    assert texts(at.error) == ["potential A-1, Software: annual_potential '-5' is out of range (expected at least 0)"]
    edit(at, "potential", edited={0: {"annual_potential": 4000}})
    save(at, key)
    assert record(env, "potential", ("A-1", "Software"))["annual_potential"] == 4000
    assert metric(at, "Share of wallet") == "25.0 %"  # 1,000 / 4,000


def test_competitors_editor(env) -> None:
    at = app("account", "A-1")
    key = edit(at, "competitors", added=[{"competitor": "Rival", "product_line": "Software", "est_share": 1.5}])
    save(at, key)
    assert texts(at.error) == ["competitors A-1, Rival, Software: est_share '1.5' is out of range (expected 0 to 1)"]
    edit(at, "competitors", added=[{"competitor": "Rival", "product_line": "Software", "est_share": 0.1}],
         deleted=[1])  # rows by competitor and line: (Vantage, Services), (Vantage, Software)
    save(at, key)
    shown = next(d for d in at.dataframe if "est_share" in d.value.columns and d not in at.data_editor).value
    assert sorted(map(tuple, shown[["competitor", "product_line", "est_share"]].values.tolist())) == [
        ("Rival", "Software", 10.0), ("Vantage", "Services", 20.0)]  # shown in percent


def test_criterion_scores_editor_on_the_portfolio(env) -> None:
    at = app("portfolio")
    at.selectbox(key="explain_account").set_value("A-1")
    run(at)
    assert "strength **0 / 100**" in next(t for t in texts(at.markdown) if "attractiveness **" in t)  # no pos score
    scores = editor(at, "scores").value
    assert scores[["criterion", "axis", "score"]].fillna(-1).values.tolist() == [
        ["Strategic fit", "attractiveness", 5.0], ["Position", "strength", -1]]  # the manual criteria only
    key = edit(at, "scores", edited={1: {"score": 11}})
    save(at, key)
    assert texts(at.error) == ["criterion_scores A-1, pos: score '11' is out of range (expected 0 to 10)"]
    edit(at, "scores", edited={1: {"score": 8}})
    save(at, key)
    assert record(env, "criterion_scores", ("A-1", "pos"))["score"] == 8
    # strength = the one strength criterion's score × 10 (weight 1 of 1)
    assert "strength **80 / 100**" in next(t for t in texts(at.markdown) if "attractiveness **" in t)


# ---------------------------------------------------------------- two sessions, roles


def test_two_sessions_edit_the_same_contact(env) -> None:
    first, second = app("account", "A-1", who="T-02"), app("account", "A-1", who="T-01")
    save(first, edit(first, "contacts", edited={1: {"attitude": "champion"}}))  # C-2 Bob Queen
    key = edit(second, "contacts", edited={1: {"attitude": "skeptic"}})
    save(second, key)
    [message] = texts(second.error)
    assert re.fullmatch(r"contacts C-2 was changed by Ben Cole \(T-02\) at \d{4}-\d\d-\d\d \d\d:\d\d UTC since you "
                        r"opened it; nothing was saved: check the current values and save again", message)
    assert record(env, "contacts", "C-2")["attitude"] == "champion"
    # the second user's input is still on screen, and they decide
    assert editor(second, "contacts").key == key and second.session_state[key]["edited_rows"] == {
        1: {"attitude": "skeptic"}}
    click(second, "wb_contacts_A-1_force")
    assert record(env, "contacts", "C-2")["attitude"] == "skeptic"
    assert Workbench(env["db"]).history("A-1")["actor"].tolist() == ["T-01", "T-02"]


def test_roles_viewer_and_another_mentors_account(env) -> None:
    refusal = ("Editing the records of account A-1 needs the role mentor or account manager of that account (its "
               "mentor_id or account_manager_id is your team member id); you are {}.")
    at = app("account", "A-1", user=VERA)
    assert f":material/lock: {refusal.format('Vera Viewer (vera@example.com), role viewer')}" in texts(at.caption)
    assert not any(b.key and b.key.endswith("_save") for b in at.button)
    assert not at.get("file_uploader")  # no workbook to upload either: a viewer writes nothing
    at = app("account", "A-1", user=BEN)
    assert (":material/lock: " + refusal.format("Ben Mentor (ben@example.com), role mentor, team member T-03; its "
                                                "mentor is T-02 and its account manager T-01")) in texts(at.caption)
    # the check is in kam_core: an Excel upload goes through it row by row
    sheet = io.BytesIO(export_workbook_bytes(Workbench(env["db"]), account_id="A-1"))
    book = openpyxl.load_workbook(sheet)
    book["contacts"]["J2"] = "opponent"  # C-1's attitude
    out = io.BytesIO()
    book.save(out)
    at.get("file_uploader")[0].set_value(("a1.xlsx", out.getvalue(), "application/octet-stream"))
    run(at)
    refused = at.dataframe[-1].value
    assert refused["reason"].tolist() == [refusal.format("Ben Mentor (ben@example.com), role mentor, team member "
                                                         "T-03; its mentor is T-02 and its account manager T-01")]
    assert at.button(key="wb_xl_A-1_apply").disabled
    # his own account: saved under his e-mail
    at = app("account", "A-3", user=BEN)
    save(at, edit(at, "contacts", edited={0: {"piece": "queen"}}))
    assert record(env, "contacts", "C-5")["piece"] == "queen"
    assert Workbench(env["db"]).history("A-3")["actor"].tolist() == ["ben@example.com"]


# ---------------------------------------------------------------- Data page, Excel, SQL box, CLI


def test_data_page_lists_the_notes_a_new_export_no_longer_has(env) -> None:
    wb = Workbench(env["db"])
    wb.update("T-02", "contacts", "C-4", {"piece": "knight"})
    wb.create("T-02", "plan_actions", {"account_id": "A-2", "objective": "Visit"})
    at = app("data")
    assert texts(at.success)[-1] == "Every record of the team refers to data the export has."
    # a new export without A-2 and its contacts
    contacts = "contact_id,account_id,name\nC-1,A-1,Ada King\nC-2,A-1,Bob Queen\nC-5,A-3,Ed Rook\n"
    export = write_export(env["dir"] / "next", {
        "accounts.csv": "account_id,name\nA-1,Alpha\nA-3,Gamma\n", "contacts.csv": contacts,
        "relationships.csv": None, "activities.csv": None, "plan_actions.csv": None, "potential.csv": None,
        "criterion_scores.csv": None})
    load([export], env["db"])
    at = app("data")
    orphans = at.dataframe[-1].value
    assert orphans[["table", "record", "account_id", "reason", "last changed by"]].values.tolist() == [
        ["contacts", "C-4", "A-2", "this contact is no longer in the export", "Ben Cole (T-02)"],
        ["plan_actions", orphans["record"].iloc[1], "A-2", "its account 'A-2' is no longer in the export", "Ben Cole (T-02)"]]


def test_excel_round_trip_in_the_app(env) -> None:
    at = app("account", "A-1")
    book = openpyxl.load_workbook(io.BytesIO(export_workbook_bytes(Workbench(env["db"]), account_id="A-1")))
    sheet = book["potential"]
    assert [c.value for c in sheet[1]] == ["account_id", "product_line", "annual_potential"]
    sheet["C2"] = 2000  # A-1 Software
    book["competitors"]["D2"] = 7  # a share of 700 %: refused
    out = io.BytesIO()
    book.save(out)
    at.get("file_uploader")[0].set_value(("team.xlsx", out.getvalue(), "application/octet-stream"))
    run(at)
    changes, refused = at.dataframe[-2].value, at.dataframe[-1].value
    assert changes[["sheet", "record", "column", "old_value", "new_value"]].values.tolist() == [
        ["potential", "A-1, Software", "annual_potential", "1000", "2000"]]
    assert refused[["sheet", "row", "column", "reason"]].values.tolist() == [
        ["competitors", 2, "est_share", "est_share '7' is out of range (expected 0 to 1)"]]
    assert record(env, "potential", ("A-1", "Software"))["annual_potential"] == 1000  # nothing before apply
    click(at, "wb_xl_A-1_apply")
    assert record(env, "potential", ("A-1", "Software"))["annual_potential"] == 2000
    assert "Imported: 1 change saved (save 1)." in texts(at.success)
    assert metric(at, "Share of wallet") == "50.0 %"  # 1,000 / 2,000


def test_sql_box_and_cli_report_read_the_edits(env, capsys) -> None:
    Workbench(env["db"]).update("T-02", "contacts", "C-1", {"attitude": "opponent"})
    # the overlay the app hands to the SQL box's worker processes survives pickling
    assert pickle.loads(pickle.dumps(overlay_for(Workbench(env["db"]).store_path))).args
    at = app("explore")
    at.text_area(key="explore_sql").set_value("select attitude from contacts where contact_id = 'C-1'")
    click(at, "explore_run")
    assert at.dataframe[-1].value["attitude"].tolist() == ["opponent"]
    assert run_report(env["db"], "health", env["config"], "json", None, sys.stdout) == 0
    health = {r["account_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert health["A-1"]["status"] == "red" and "the king (Ada King) is an opponent" in health["A-1"]["reasons"]
