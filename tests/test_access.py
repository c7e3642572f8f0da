"""Access (kam_core.access): the role × action rules with their messages, the roles mapping of
kam.toml and its validation, claims → actor, providers, and the settings save/reset that only an
admin may do and that keep the sign-in roles."""

from __future__ import annotations

import tomllib
from pathlib import Path

import duckdb
import pytest

from kam_core.access import (
    AccessDenied,
    AccountRef,
    Action,
    Actor,
    Policy,
    Role,
    account_owner,
    allowed,
    auth_problems,
    local_actor,
    own_account_ids,
    providers,
    reads_only_own,
    refusal,
    require,
    resolve_actor,
    team_members,
)
from kam_core.errors import KamError, SettingsError
from kam_core.settings import Settings, reset_settings, save_settings

OWN = AccountRef("A-2", mentor_id="T-02", account_manager_id="T-04")  # Ben's (mentor) and Lukas's (AM)
OTHER = AccountRef("A-1", mentor_id="T-01", account_manager_id="T-05")


def actor(role: Role | None, member_id: str | None = None, policy: Policy | None = None) -> Actor:
    roles = frozenset() if role is None else frozenset({role})
    return Actor(f"{role or 'nobody'}@example.com", "Pat", roles, member_id=member_id, policy=policy or Policy())


MEMBER = {Role.MENTOR: "T-02", Role.ACCOUNT_MANAGER: "T-04"}
Y, N = True, False
# role -> (load, settings, sql, edit own, edit other, review own, review other, read own, read other)
MATRIX = {
    Role.ADMIN: (Y, Y, Y, N, N, N, N, Y, Y),
    Role.MANAGEMENT: (N, N, Y, N, N, Y, Y, Y, Y),
    Role.MENTOR: (N, N, N, Y, N, Y, N, Y, Y),
    Role.ACCOUNT_MANAGER: (N, N, N, Y, N, Y, N, Y, Y),
    Role.VIEWER: (N, N, N, N, N, N, N, Y, Y),
}
CASES = [(Action.LOAD_DATA, None), (Action.CHANGE_SETTINGS, None), (Action.RUN_SQL, None),
         (Action.EDIT_ACCOUNT, OWN), (Action.EDIT_ACCOUNT, OTHER), (Action.RECORD_REVIEW, OWN),
         (Action.RECORD_REVIEW, OTHER), (Action.READ_ACCOUNT, OWN), (Action.READ_ACCOUNT, OTHER)]


@pytest.mark.parametrize("role", list(Role))
def test_role_action_matrix(role: Role) -> None:
    who = actor(role, MEMBER.get(role))
    got = tuple(allowed(who, action, account) for action, account in CASES)
    assert got == MATRIX[role]
    for (action, account), ok in zip(CASES, got, strict=True):
        if ok:
            require(who, action, account)
        else:
            with pytest.raises(AccessDenied) as exc:
                require(who, action, account)
            assert isinstance(exc.value, KamError)
            assert exc.value.action is action
            assert "needs the role" in str(exc.value)
            assert f"role {role.label}" in str(exc.value)


@pytest.mark.parametrize(
    ("who", "action", "account", "message"),
    [
        (actor(Role.VIEWER), Action.LOAD_DATA, None,
         "Loading, uploading or restoring data needs the role admin; "
         "you are Pat (viewer@example.com), role viewer."),
        (actor(Role.MENTOR, "T-02"), Action.CHANGE_SETTINGS, None,
         "Changing the settings needs the role admin; you are Pat (mentor@example.com), role mentor."),
        (actor(Role.ACCOUNT_MANAGER, "T-04"), Action.RUN_SQL, None,
         "The SQL box needs the role admin or management (setting sql_roles); "
         "you are Pat (account_manager@example.com), role account manager."),
        (actor(Role.MENTOR, "T-02"), Action.EDIT_ACCOUNT, OTHER,
         "Editing the records of account A-1 needs the role mentor or account manager of that account "
         "(its mentor_id or account_manager_id is your team member id); you are Pat (mentor@example.com), "
         "role mentor, team member T-02; its mentor is T-01 and its account manager T-05."),
        (actor(Role.VIEWER), Action.RECORD_REVIEW, OWN,
         "Recording a review of account A-2 needs the role management, or the role mentor or account "
         "manager of that account (its mentor_id or account_manager_id is your team member id); "
         "you are Pat (viewer@example.com), role viewer."),
        (actor(Role.MENTOR), Action.EDIT_ACCOUNT, OWN,
         "Editing the records of account A-2 needs the role mentor or account manager of that account "
         "(its mentor_id or account_manager_id is your team member id); you are Pat (mentor@example.com), "
         "role mentor, without a team member id (member_id in your entry of the roles mapping)."),
        (actor(None), Action.READ_ACCOUNT, OWN,
         "Seeing account A-2 needs the role admin, management, mentor, account manager or viewer; "
         "you are Pat (nobody@example.com), with no role."),
    ],
)
def test_refusals_name_the_role_needed(who: Actor, action: Action, account, message: str) -> None:
    assert refusal(who, action, account) == message
    with pytest.raises(AccessDenied, match="needs the role"):
        require(who, action, account)


def test_scope_to_own_accounts_limits_mentors_and_account_managers_only() -> None:
    scoped = Policy(scope_to_own_accounts=True)
    mentor = actor(Role.MENTOR, "T-02", scoped)
    assert allowed(mentor, Action.READ_ACCOUNT, OWN)
    assert refusal(mentor, Action.READ_ACCOUNT, OTHER) == (
        "Seeing account A-1 needs the role admin, management or viewer, or the role mentor or account "
        "manager of that account (its mentor_id or account_manager_id is your team member id); you are "
        "Pat (mentor@example.com), role mentor, team member T-02; its mentor is T-01 and its account "
        "manager T-05.")
    assert reads_only_own(mentor) and reads_only_own(actor(Role.ACCOUNT_MANAGER, "T-04", scoped))
    for role in (Role.ADMIN, Role.MANAGEMENT, Role.VIEWER):
        assert allowed(actor(role, policy=scoped), Action.READ_ACCOUNT, OTHER)
        assert not reads_only_own(actor(role, policy=scoped))
    # a mentor who is also management reads everything
    both = Actor("m@example.com", "M", frozenset({Role.MENTOR, Role.MANAGEMENT}), "T-02", policy=scoped)
    assert not reads_only_own(both) and allowed(both, Action.READ_ACCOUNT, OTHER)
    assert not reads_only_own(actor(Role.MENTOR, "T-02"))  # scope off


def test_sql_roles_setting_decides_the_sql_box() -> None:
    policy = Policy(sql_roles=frozenset({Role.VIEWER}))
    assert allowed(actor(Role.VIEWER, policy=policy), Action.RUN_SQL)
    assert refusal(actor(Role.ADMIN, policy=policy), Action.RUN_SQL) == (
        "The SQL box needs the role viewer (setting sql_roles); you are Pat (admin@example.com), role admin.")
    nobody = Policy(sql_roles=frozenset())
    assert "needs a role that no one has (the setting sql_roles is empty)" in refusal(
        actor(Role.ADMIN, policy=nobody), Action.RUN_SQL)


def test_several_roles_add_up_and_the_local_user_may_do_everything() -> None:
    admin_mentor = Actor("a@example.com", "A", frozenset({Role.ADMIN, Role.MENTOR}), "T-02")
    assert allowed(admin_mentor, Action.LOAD_DATA) and allowed(admin_mentor, Action.EDIT_ACCOUNT, OWN)
    assert not allowed(admin_mentor, Action.EDIT_ACCOUNT, OTHER)
    assert admin_mentor.role is Role.ADMIN and admin_mentor.role_label == "admin, mentor"
    local = local_actor("T-09", "Somebody", Policy(sql_roles=frozenset(), scope_to_own_accounts=True))
    for action, account in CASES:
        require(local, action, account)
    assert not reads_only_own(local)
    assert (local.identity, local.name, local.signed_in) == ("T-09", "Somebody", False)
    assert local_actor().identity == "local"


def test_per_account_actions_need_the_account_and_accept_a_row() -> None:
    with pytest.raises(ValueError, match="edit_account is checked per account"):
        allowed(actor(Role.MENTOR, "T-02"), Action.EDIT_ACCOUNT)
    row = {"account_id": "A-2", "mentor_id": "T-02", "account_manager_id": float("nan"), "name": "x"}
    assert allowed(actor(Role.MENTOR, "T-02"), Action.EDIT_ACCOUNT, row)
    assert not allowed(actor(Role.ACCOUNT_MANAGER, "T-04"), Action.EDIT_ACCOUNT, row)  # NaN is no one


# ---------------------------------------------------------------- the roles mapping and claims

ROLES = {
    "Ben@Example.com": {"role": "mentor", "member_id": "T-02"},
    "lukas@example.com": {"role": "Account manager", "member_id": "T-04"},
    "@example.com": "viewer",
    "/kam-admins": "admin",
    "6f1d0c2e-0000-4000-8000-000000000001": "management",
    "carla@partner.example": {"member_id": "T-07"},
}


def settings(**extra) -> Settings:
    return Settings({"roles": ROLES, **extra})


@pytest.mark.parametrize(
    ("claims", "roles", "member_id", "identity", "name"),
    [
        ({"email": "BEN@example.com", "name": "Ben Meyer"}, "mentor, viewer", "T-02", "ben@example.com", "Ben Meyer"),
        ({"email": "lukas@example.com"}, "account manager, viewer", "T-04", "lukas@example.com", "lukas@example.com"),
        ({"email": "zoe@example.com", "groups": ["/kam-admins", "/other"]}, "admin, viewer", None,
         "zoe@example.com", "zoe@example.com"),
        # Entra ID: no email claim, preferred_username holds it; group object ids in "groups"
        ({"preferred_username": "Ina@corp.example", "groups": ["6F1D0C2E-0000-4000-8000-000000000001"],
          "name": "Ina"}, "management", None, "ina@corp.example", "Ina"),
        # an app role in the "roles" claim matches like a group
        ({"email": "x@corp.example", "roles": "/kam-admins"}, "admin", None, "x@corp.example", "x@corp.example"),
        # a member id without a role: the role comes from a group
        ({"email": "carla@partner.example", "groups": ["/kam-admins"]}, "admin", "T-07", "carla@partner.example",
         "carla@partner.example"),
        ({"email": "stranger@elsewhere.example"}, "no role", None, "stranger@elsewhere.example",
         "stranger@elsewhere.example"),
        ({"sub": "12345"}, "no role", None, "12345", "12345"),
    ],
)
def test_claims_to_actor(claims: dict, roles: str, member_id, identity: str, name: str) -> None:
    a = resolve_actor(claims, settings())
    assert (a.role_label, a.member_id, a.identity, a.name, a.signed_in) == (roles, member_id, identity, name, True)


def test_default_role_and_group_claims() -> None:
    stranger = {"email": "stranger@elsewhere.example", "teams": ["/kam-admins"]}
    assert resolve_actor(stranger, settings()).roles == frozenset()
    assert resolve_actor(stranger, settings(default_role="viewer")).role_label == "viewer"
    assert resolve_actor(stranger, settings(group_claims=["teams"])).role_label == "admin"
    a = resolve_actor({"email": "ben@example.com"}, settings(sql_roles=["mentor"], scope_to_own_accounts=True))
    assert a.policy == Policy(sql_roles=frozenset({Role.MENTOR}), scope_to_own_accounts=True)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"roles": {"ben@example.com": "boss"}},
         "roles = {'ben@example.com': 'boss'} is not allowed: entry 'ben@example.com': role 'boss' is not a role; "
         "expected one of admin, management, mentor, account_manager, viewer"),
        ({"roles": {"a@x.example": {"role": "admin", "team": "T-1"}}},
         "entry 'a@x.example': unknown key(s) team; expected role and member_id"),
        ({"roles": {"a@x.example": {}}}, "entry 'a@x.example': expected a role, a member_id or both"),
        ({"roles": {"a@x.example": {"member_id": 7}}}, "entry 'a@x.example': member_id 7: expected a team member id"),
        ({"roles": {"A@x.example": "admin", "a@x.example": "viewer"}},
         "entry 'a@x.example' appears twice (names are compared without case)"),
        ({"roles": {"a@x.example": ["admin"]}}, "entry 'a@x.example': expected a role"),
        ({"roles": "admin"}, "roles = 'admin' is not allowed: expected a table of entries"),
        ({"default_role": "admin"}, "default_role = 'admin' is not allowed: expected none or viewer"),
        ({"scope_to_own_accounts": "yes"}, "scope_to_own_accounts = 'yes' is not allowed: expected true or false"),
        ({"sql_roles": ["admin", "boss"]}, "sql_roles = ['admin', 'boss'] is not allowed: role 'boss' is not a role"),
        ({"sql_roles": "admin"}, "sql_roles = 'admin' is not allowed: expected a list of roles"),
        ({"group_claims": ["groups", ""]}, "group_claims = ['groups', ''] is not allowed: expected a list of claim names"),
    ],
)
def test_invalid_access_settings(values: dict, message: str) -> None:
    with pytest.raises(SettingsError) as exc:
        Settings(values)
    assert message in str(exc.value)


def test_roles_round_trip_through_kam_toml(tmp_path: Path) -> None:
    s = settings(sql_roles=["viewer", "admin"], scope_to_own_accounts=True)
    assert s.roles["ben@example.com"] == {"role": "mentor", "member_id": "T-02"}
    assert s.roles["lukas@example.com"] == {"role": "account_manager", "member_id": "T-04"}
    assert s.sql_roles == ["admin", "viewer"]  # in the roles' order
    from kam_core.settings import to_toml

    path = tmp_path / "kam.toml"
    path.write_text(to_toml(s))
    assert Settings.from_file(path) == s
    assert '"ben@example.com" = { role = "mentor", member_id = "T-02" }' in path.read_text()


# ---------------------------------------------------------------- save and reset


def test_only_an_admin_saves_or_resets_and_the_roles_stay(tmp_path: Path) -> None:
    path = tmp_path / "kam.toml"
    path.write_text('half_life_days = 90\nscope_to_own_accounts = true\n\n[roles]\n"ada@example.com" = "admin"\n')
    before = path.read_text()
    viewer = resolve_actor({"email": "vera@example.com"}, Settings({"default_role": "viewer"}))
    with pytest.raises(AccessDenied, match="Changing the settings needs the role admin; you are vera@example.com, "
                                           "role viewer."):
        save_settings(path, {"half_life_days": 30}, viewer)
    with pytest.raises(AccessDenied):
        reset_settings(path, viewer)
    assert path.read_text() == before

    admin = resolve_actor({"email": "ada@example.com"}, Settings.from_file(path))
    new = save_settings(path, {"half_life_days": 30, "tier_scheme": "league"}, admin)
    saved = tomllib.loads(path.read_text())
    assert saved == {"half_life_days": 30, "tier_scheme": "league", "scope_to_own_accounts": True,
                     "roles": {"ada@example.com": {"role": "admin"}}}
    assert Settings.from_file(path) == new
    with pytest.raises(SettingsError, match="half_life_days = -1"):
        save_settings(path, {"half_life_days": -1}, admin)
    assert tomllib.loads(path.read_text())["half_life_days"] == 30  # unchanged
    reset_settings(path, admin)
    assert tomllib.loads(path.read_text()) == {"scope_to_own_accounts": True,
                                                "roles": {"ada@example.com": {"role": "admin"}}}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    path.write_text("half_life_days = 90\n")
    reset_settings(path, local_actor())
    assert not path.exists()


# ---------------------------------------------------------------- accounts and providers


def test_own_accounts_owner_and_team(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create table accounts as select * from (values ('A-1', 'T-05', 'T-01'), ('A-2', 'T-04', 'T-02'),"
                " ('A-3', 'T-02', null)) as t(account_id, account_manager_id, mentor_id)")
    assert own_account_ids(con, "T-02") == ["A-2", "A-3"]
    assert own_account_ids(con, None) == [] and own_account_ids(con, "T-99") == []
    assert account_owner(con, "A-2") == OWN
    assert account_owner(con, "A-404") is None
    assert team_members(con) == []
    con.execute("create table team as select * from (values ('T-02', 'Ben', true), ('T-01', 'Ada', false), "
                "('T-03', 'Cem', null)) as t(member_id, name, is_active)")
    assert team_members(con) == [("T-02", "Ben"), ("T-03", "Cem"), ("T-01", "Ada")]


def test_providers_and_what_keeps_sign_in_from_working() -> None:
    base = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 32}
    one = {"client_id": "c", "client_secret": "s", "server_metadata_url": "https://idp/.well-known/openid-configuration"}
    assert [(p.name, p.label) for p in providers({**base, **one})] == [(None, "your company account")]
    multi = {**base, "microsoft": one, "google": one, "my-idp": one}
    assert [(p.name, p.label) for p in providers(multi)] == [
        ("microsoft", "Microsoft"), ("google", "Google"), ("my-idp", "My Idp")]
    assert auth_problems({**base, **one}) == [] and auth_problems(multi) == []
    assert providers(None) == [] and auth_problems(None) == []
    assert auth_problems({"redirect_uri": "http://localhost:8501/", "google": {"client_id": "c"}}) == [
        "[auth] has no cookie_secret",
        "[auth] redirect_uri 'http://localhost:8501/' must end with /oauth2callback",
        "[auth.google] has no client_secret, server_metadata_url",
    ]
    assert auth_problems(base) == ["[auth] names no provider: add client_id, client_secret and "
                                   "server_metadata_url to [auth] or to an [auth.NAME] table"]
    assert auth_problems({**base, "my_idp": one}) == [
        "[auth.my_idp]: a provider's name must not contain an underscore"]
