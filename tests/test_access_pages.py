"""Sign-in and roles in the app (AppTest with a faked ``st.user`` and an ``[auth]`` secrets
section): nothing before sign-in, the role × action matrix through ``ui.current_actor()`` and
on the pages that write (Data, Settings, the SQL box), scoping, "My accounts", the sidebar, and
the local user without sign-in."""

from __future__ import annotations

import csv
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui
from kam_core.appdata import DEMO_DIR
from kam_core.ingest.loader import load

from .conftest import MINI_ACCOUNTS, ROOT, query

AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 32,
                 "client_id": "kam", "client_secret": "secret",
                 "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}
ROLES_TOML = """\
[roles]
"ada@example.com" = "admin"
"max@example.com" = "management"
"ben@example.com" = { role = "mentor", member_id = "T-02" }
"lukas@example.com" = { role = "account_manager", member_id = "T-04" }
"vera@example.com" = "viewer"
"""
USERS = {
    "admin": {"email": "ada@example.com", "name": "Ada Admin"},
    "management": {"email": "max@example.com", "name": "Max Management"},
    "mentor": {"email": "ben@example.com", "name": "Ben Mentor"},
    "account_manager": {"email": "lukas@example.com", "name": "Lukas Manager"},
    "viewer": {"email": "vera@example.com", "name": "Vera Viewer"},
}
PAGES = {"portfolio": "pages/1_portfolio.py", "account": "pages/2_account.py",
         "relationships": "pages/3_relationships.py", "growth": "pages/4_growth.py",
         "explore": "pages/5_explore.py", "data": "pages/6_data.py", "settings": "pages/7_settings.py",
         "definitions": "pages/8_definitions.py"}


def demo_owners() -> dict[str, tuple[str, str]]:
    """account_id -> (account_manager_id, mentor_id), read from the demo export itself."""
    with open(DEMO_DIR / "accounts.csv", encoding="utf-8") as f:
        return {r["account_id"]: (r["account_manager_id"], r["mentor_id"]) for r in csv.DictReader(f)}


OWNERS = demo_owners()
# A-0001: account manager T-04 (Lukas), mentor T-01; A-0002: account manager T-05, mentor T-02 (Ben)
assert OWNERS["A-0001"] == ("T-04", "T-01") and OWNERS["A-0002"] == ("T-05", "T-02")
OWN = {"mentor": "A-0002", "account_manager": "A-0001"}
OTHER = {"mentor": "A-0001", "account_manager": "A-0002"}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("access") / "kam.duckdb"
    load([DEMO_DIR], db)
    return db


@pytest.fixture
def env(demo_db: Path, tmp_path: Path, monkeypatch) -> dict[str, Path]:
    db = tmp_path / "kam.duckdb"
    shutil.copy(demo_db, db)
    config = tmp_path / "kam.toml"
    config.write_text(ROLES_TOML, encoding="utf-8")
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(config))
    return {"db": db, "config": config, "dir": tmp_path}


def app(user: dict | None, page: str | None = None, *, session: dict | None = None,
        query_params: dict | None = None, auth: bool = True) -> AppTest:
    """The app as ``user`` (None: signed out) with sign-in configured, on ``page``."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    if auth:
        at.secrets = AUTH
        at.user = {"is_logged_in": False} if user is None else {"is_logged_in": True, **user}
    for k, v in (session or {}).items():
        at.session_state[k] = v
    for k, v in (query_params or {}).items():
        at.query_params[k] = v
    if page:
        at.switch_page(PAGES[page])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(elements) -> list[str]:
    """The texts as a user reads them: data is escaped for markdown (ui.md), so backslash escapes
    and the invisible word joiners that keep e-mails from linking are taken out."""
    return [re.sub(r"\\(.)", r"\1", e.value).replace(ui.WORD_JOINER, "") for e in elements]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# ---------------------------------------------------------------- before sign-in


@pytest.mark.parametrize("page", [None, *PAGES])
def test_nothing_is_shown_before_sign_in(env, tmp_path: Path, monkeypatch, page: str | None) -> None:
    missing = tmp_path / "not-built.duckdb"
    monkeypatch.setenv("KAM_DB", str(missing))
    at = app(None, page)
    assert texts(at.title) == ["♚ KAM dashboard"]
    assert [b.label for b in at.button] == ["Sign in with your company account"]
    assert len(at.sidebar.children) == 0  # no navigation, no filters
    assert not at.metric and not at.dataframe and not at.get("plotly_chart") and not at.multiselect
    assert not missing.exists()  # not even the demo database is built before sign-in


def test_signed_in_without_a_role_sees_only_how_to_get_one(env) -> None:
    at = app({"email": "stranger@elsewhere.example", "name": "Stranger"})
    assert texts(at.warning) == [
        "You are signed in as Stranger (stranger@elsewhere.example), but you have no role in this "
        "dashboard. Ask an admin to add your e-mail or one of your groups to the roles in kam.toml."]
    assert [b.label for b in at.button] == ["Sign out"] and not at.metric and len(at.sidebar.children) == 0
    at.button[0].click().run()
    assert at.user == {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in with your company account"]


def test_a_broken_auth_section_says_what_is_missing(env) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.secrets = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback"}}
    at.user = {"is_logged_in": False}
    at.run()
    assert texts(at.error) == [
        "Sign-in is configured in .streamlit/secrets.toml but cannot work: [auth] has no cookie_secret; "
        "[auth] names no provider: add client_id, client_secret and server_metadata_url to [auth] or to an "
        "[auth.NAME] table. See docs/sign-in.md."]
    assert not at.button


def test_several_providers_each_get_a_button(env) -> None:
    one = {k: AUTH["auth"][k] for k in ("client_id", "client_secret", "server_metadata_url")}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.secrets = {"auth": {"redirect_uri": AUTH["auth"]["redirect_uri"], "cookie_secret": "c" * 32,
                           "microsoft": one, "keycloak": one}}
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in with Microsoft", "Sign in with Keycloak"]


# ---------------------------------------------------------------- the matrix through ui.current_actor()


def _probe() -> None:  # runs as an app script (AppTest.from_function)
    import streamlit as st

    import ui
    from kam_core import access

    actor = ui.current_actor()
    con = ui.connection()
    results = {}
    for action in access.Action:
        for account in (["A-0001", "A-0002"] if action.per_account else [None]):
            ref = (access.account_owner(con, account) or access.AccountRef(account)) if account else None
            results[(action.value, account)] = access.refusal(actor, action, ref)
    st.session_state["results"] = results
    st.session_state["actor"] = (actor.identity, actor.name, actor.role_label, actor.member_id)


Y = None  # allowed: no refusal
# (action, account) -> role -> allowed?   A-0001 is Lukas's (account manager), A-0002 Ben's (mentor)
EXPECTED = {
    ("load_data", None): {"admin"},
    ("change_settings", None): {"admin"},
    ("run_sql", None): {"admin", "management"},
    ("edit_account", "A-0001"): {"account_manager"},
    ("edit_account", "A-0002"): {"mentor"},
    ("record_review", "A-0001"): {"management", "account_manager"},
    ("record_review", "A-0002"): {"management", "mentor"},
    ("read_account", "A-0001"): set(USERS),
    ("read_account", "A-0002"): set(USERS),
}
NEEDS = {"load_data": "Loading, uploading or restoring data needs the role admin;",
         "change_settings": "Changing the settings needs the role admin;",
         "run_sql": "The SQL box needs the role admin or management (setting sql_roles);",
         "edit_account": "needs the role mentor or account manager of that account",
         "record_review": "needs the role management, or the role mentor or account manager of that account"}


@pytest.mark.parametrize("role", list(USERS))
def test_role_action_matrix_for_the_signed_in_user(env, role: str) -> None:
    at = AppTest.from_function(_probe, default_timeout=60)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, **USERS[role]}
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    user = USERS[role]
    member = {"mentor": "T-02", "account_manager": "T-04"}.get(role)
    assert at.session_state["actor"] == (user["email"], user["name"], role.replace("_", " "), member)
    results = at.session_state["results"]
    assert set(results) == set(EXPECTED)
    for (action, account), roles in EXPECTED.items():
        message = results[(action, account)]
        if role in roles:
            assert message is None, (action, account, message)
        else:
            assert message is not None, (action, account)
            assert NEEDS[action] in message
            assert f"you are {user['name']} ({user['email']}), role {role.replace('_', ' ')}" in message
    if role == "mentor":
        assert results[("edit_account", "A-0001")].endswith(
            "role mentor, team member T-02; its mentor is T-01 and its account manager T-04.")


# ---------------------------------------------------------------- the pages that write


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "accounts.csv").write_text(MINI_ACCOUNTS, encoding="utf-8")
    return folder


@pytest.mark.parametrize("role", list(USERS))
def test_data_page_load_only_for_admin(env, upload: Path, role: str) -> None:
    at = app(USERS[role], "data", session={"_upload_dir": str(upload)})
    uploader = at.get("file_uploader")[0]
    refusal = f"Loading, uploading or restoring data needs the role admin; you are {USERS[role]['name']} " \
              f"({USERS[role]['email']}), role {role.replace('_', ' ')}."
    assert uploader.proto.disabled == (role != "admin")
    assert (refusal in texts(at.info)) == (role != "admin")
    # the check is in the load path, not only in the disabled widget: a click still reaches it
    at.button(key="rebuild").click().run()
    at.button(key="replace_confirm").click().run()  # replacing all data asks first
    assert not at.exception
    accounts = query(env["db"], "select count(*) from accounts")[0][0]
    if role == "admin":
        assert accounts == 2 and not at.error
        assert any("accounts" in line for line in at.session_state["_load_report"])
    else:
        assert accounts == 150
        assert texts(at.error) == [refusal]
        assert "The previous database is unchanged." in texts(at.caption)


@pytest.mark.parametrize("role", list(USERS))
def test_settings_save_and_reset_only_for_admin(env, role: str) -> None:
    config: Path = env["config"]
    at = app(USERS[role], "settings")
    save = next(b for b in at.button if b.label == "Save to kam.toml")
    reset = next(b for b in at.button if b.label == "Reset to defaults")
    if role != "admin":
        # refused with the role it needs; Streamlit discards a click on a disabled widget
        # server-side, and save_settings/reset_settings check the role again (test_access.py)
        assert texts(at.info) == [f"Changing the settings needs the role admin; you are {USERS[role]['name']} "
                                  f"({USERS[role]['email']}), role {role.replace('_', ' ')}."]
        assert save.disabled and reset.disabled
        return
    assert not save.disabled and not reset.disabled and not at.info
    at.selectbox(key="set_tier_scheme").set_value("league")
    save.click().run()
    assert not at.exception and not at.error
    saved = tomllib.loads(config.read_text())
    assert saved["tier_scheme"] == "league"
    assert saved["roles"]["ben@example.com"] == {"role": "mentor", "member_id": "T-02"}  # never lost
    at = app(USERS[role], "settings")
    next(b for b in at.button if b.label == "Reset to defaults").click().run()
    at.button(key="reset_confirm").click().run()  # the reset asks first
    saved = tomllib.loads(config.read_text())
    assert "tier_scheme" not in saved and len(saved["roles"]) == 5


@pytest.mark.parametrize("role", list(USERS))
def test_sql_box_only_for_the_roles_in_sql_roles(env, role: str) -> None:
    at = app(USERS[role], "explore")
    run = at.button(key="explore_run")
    if role not in ("admin", "management"):
        assert texts(at.info) == [f"The SQL box needs the role admin or management (setting sql_roles); you are "
                                  f"{USERS[role]['name']} ({USERS[role]['email']}), role {role.replace('_', ' ')}."]
        assert run.disabled
        return
    assert not run.disabled and not at.info
    at.text_area(key="explore_sql").set_value("select count(*) as n from accounts")
    run.click().run()
    assert not at.error and at.dataframe[-1].value["n"].tolist() == [150]


def test_sql_roles_setting_opens_the_sql_box_to_viewers(env) -> None:
    env["config"].write_text('sql_roles = ["viewer"]\n' + ROLES_TOML, encoding="utf-8")
    at = app(USERS["viewer"], "explore")
    at.text_area(key="explore_sql").set_value("select count(*) as n from accounts")
    at.button(key="explore_run").click().run()
    assert not at.error and at.dataframe[-1].value["n"].tolist() == [150]


# ---------------------------------------------------------------- sidebar, my accounts, scoping


def own_count(member_id: str) -> int:
    return sum(member_id in owners for owners in OWNERS.values())


def test_sidebar_shows_who_and_signs_out(env) -> None:
    at = app(USERS["mentor"])
    assert ":material/account_circle: **Ben Mentor**  \nben@example.com · mentor · team member T-02" in texts(
        at.sidebar.caption)
    assert not at.sidebar.selectbox  # no "who am I" when signed in
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert at.user == {"is_logged_in": False}


def test_my_accounts_filter_and_its_link(env) -> None:
    assert own_count("T-02") == 74  # Ben is mentor or account manager of 74 of the 150 demo accounts
    at = app(USERS["mentor"])
    assert metric(at, "Accounts") == "150"
    toggle = at.sidebar.toggle[0]
    assert (toggle.label, toggle.value, toggle.disabled) == ("My accounts", False, False)
    toggle.set_value(True).run()
    assert metric(at, "Accounts") == "74" and at.query_params["mine"] == "1"
    at.switch_page(PAGES["growth"]).run()  # survives a page switch
    assert at.sidebar.toggle[0].value and at.query_params["mine"] == "1"
    # the link opens the same view; someone without a member id has no such filter
    assert metric(app(USERS["account_manager"], query_params={"mine": "1"}), "Accounts") == str(own_count("T-04"))
    assert not [t for t in app(USERS["viewer"], query_params={"mine": "1"}).sidebar.toggle if t.key == "w_mine"]


def test_scope_to_own_accounts(env) -> None:
    env["config"].write_text("scope_to_own_accounts = true\n" + ROLES_TOML, encoding="utf-8")
    at = app(USERS["mentor"])
    assert metric(at, "Accounts") == "74"
    toggle = at.sidebar.toggle[0]
    assert toggle.value and toggle.disabled
    assert not any(b.label == "Clear filters" for b in at.sidebar.button)
    # a link to someone else's account: refused with the reason, and the account is not offered
    at = app(USERS["mentor"], "account", query_params={"account": "A-0001"})
    assert any(w.startswith("Seeing account A-0001 needs the role admin, management or viewer, or the role "
                            "mentor or account manager of that account") for w in texts(at.sidebar.warning))
    options = at.selectbox(key="account_pick").options
    assert len(options) == 74 and not any("(A-0001)" in o for o in options)
    assert any("(A-0002)" in o for o in options)
    # a hostile link: its text is refused as text (no image fetched from the link)
    hostile = "![x](http://evil.example/t.png)"
    at = app(USERS["mentor"], "account", query_params={"account": hostile})
    warnings = [w.proto.body for w in at.sidebar.warning]
    assert warnings and all("![x](http" not in w and "!\\[x\\]" in w for w in warnings), warnings
    # the other roles still see every account
    for role in ("admin", "management", "viewer"):
        assert metric(app(USERS[role]), "Accounts") == "150", role
    assert metric(app(USERS["account_manager"]), "Accounts") == str(own_count("T-04"))


# ---------------------------------------------------------------- without sign-in


def test_local_user_has_every_right_and_says_who_they_are(env, upload: Path) -> None:
    at = app(None, auth=False)
    assert not any(b.label == "Sign out" for b in at.sidebar.button)
    who = at.sidebar.selectbox(key="w_whoami")
    assert who.value is None and "Markus Keller (T-02)" in who.options
    assert not [t for t in at.sidebar.toggle if t.key == "w_mine"]  # no member id yet: no "My accounts"
    who.set_value("T-02").run()
    assert at.session_state["_whoami"] == "T-02" and at.session_state["_whoami_name"] == "Markus Keller"
    at.switch_page(PAGES["growth"]).run()  # chosen once per session
    assert at.sidebar.selectbox(key="w_whoami").value == "T-02"
    assert at.sidebar.toggle[0].label == "My accounts"
    at = AppTest.from_function(_probe, default_timeout=60)
    at.session_state["_whoami"] = "T-02"
    at.session_state["_whoami_name"] = "Markus Keller"
    at.run()
    assert at.session_state["actor"] == ("T-02", "Markus Keller", "local user (every right)", "T-02")
    assert all(m is None for m in at.session_state["results"].values())
    # and the write paths work as before
    at = app(None, "data", session={"_upload_dir": str(upload)}, auth=False)
    assert not at.get("file_uploader")[0].proto.disabled and not at.info
    at.button(key="rebuild").click().run()
    at.button(key="replace_confirm").click().run()  # replacing all data asks first
    assert query(env["db"], "select count(*) from accounts")[0][0] == 2


def test_local_user_without_a_team_table_types_a_name(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "accounts.csv").write_text(MINI_ACCOUNTS, encoding="utf-8")
    load([src], tmp_path / "mini.duckdb")
    monkeypatch.setenv("KAM_DB", str(tmp_path / "mini.duckdb"))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    at = app(None, auth=False)
    at.sidebar.text_input(key="w_whoami_name").input("  Markus ").run()
    assert at.session_state["_whoami_name"] == "Markus"
    at.switch_page(PAGES["growth"]).run()
    assert at.sidebar.text_input(key="w_whoami_name").value == "Markus"
    probe = AppTest.from_function(_probe, default_timeout=60)
    probe.session_state["_whoami_name"] = "Markus"
    probe.run()
    assert probe.session_state["actor"] == ("Markus", "Markus", "local user (every right)", None)
