"""The one check every write path calls: ``require(actor, action, account=None)``.

The rules (docs/sign-in.md has them as a table):

- load, upload or restore data, change the settings: admin;
- the SQL box: the roles listed in the setting ``sql_roles`` (default admin, management);
- edit an account's records: its mentor or account manager (their team member id is the
  account's ``mentor_id`` or ``account_manager_id``);
- record a review: management (every account), its mentor or account manager;
- see an account: everyone with a role; mentors and account managers only their own accounts
  when the setting ``scope_to_own_accounts`` is on.

The local user of an app without sign-in may do everything.

>>> from kam_core.access.model import Actor, Role, AccountRef
>>> viewer = Actor("vera@example.com", "Vera", frozenset({Role.VIEWER}))
>>> require(viewer, Action.LOAD_DATA)
Traceback (most recent call last):
...
kam_core.access.model.AccessDenied: Loading, uploading or restoring data needs the role admin; you are Vera (vera@example.com), role viewer.
>>> mentor = Actor("ben@example.com", "Ben", frozenset({Role.MENTOR}), member_id="T-02")
>>> allowed(mentor, Action.EDIT_ACCOUNT, AccountRef("A-1", mentor_id="T-02"))
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kam_core.access.model import AccessDenied, AccountRef, Action, Actor, Role

# Which role may do what: "all" = every account (or no account involved), "own" = the accounts
# whose mentor or account manager they are. RUN_SQL is decided by the policy's sql_roles and
# READ_ACCOUNT's "own" applies only when the policy scopes mentors and account managers.
RULES: dict[Action, dict[Role, str]] = {
    Action.LOAD_DATA: {Role.ADMIN: "all"},
    Action.CHANGE_SETTINGS: {Role.ADMIN: "all"},
    Action.RUN_SQL: {},
    Action.EDIT_ACCOUNT: {Role.MENTOR: "own", Role.ACCOUNT_MANAGER: "own"},
    Action.RECORD_REVIEW: {Role.MANAGEMENT: "all", Role.MENTOR: "own", Role.ACCOUNT_MANAGER: "own"},
    Action.READ_ACCOUNT: {Role.ADMIN: "all", Role.MANAGEMENT: "all", Role.MENTOR: "all",
                          Role.ACCOUNT_MANAGER: "all", Role.VIEWER: "all"},
}


def rules_for(actor: Actor, action: Action) -> dict[Role, str]:
    """The rule of ``action`` under the actor's policy (sql_roles, scope_to_own_accounts)."""
    if action is Action.RUN_SQL:
        return {r: "all" for r in Role if r in actor.policy.sql_roles}
    rules = dict(RULES[action])
    if action is Action.READ_ACCOUNT and actor.policy.scope_to_own_accounts:
        rules[Role.MENTOR] = rules[Role.ACCOUNT_MANAGER] = "own"
    return rules


def account_ref(account: AccountRef | Mapping[str, Any] | None) -> AccountRef | None:
    """An ``AccountRef`` from one (or from a mapping/row with account_id, mentor_id and
    account_manager_id, e.g. a row of the account table)."""
    if account is None or isinstance(account, AccountRef):
        return account

    def text(key: str) -> str | None:
        value = account.get(key)
        return None if value is None or value != value else str(value)  # value != value: NaN

    account_id = text("account_id")
    if account_id is None:
        raise ValueError("account needs an account_id")
    return AccountRef(account_id, mentor_id=text("mentor_id"), account_manager_id=text("account_manager_id"))


def refusal(actor: Actor, action: Action, account: AccountRef | Mapping[str, Any] | None = None) -> str | None:
    """Why ``actor`` may not do ``action`` (on ``account``), or None when they may.

    Per-account actions need the account: without it the question has no answer.
    """
    action = Action(action)
    ref = account_ref(account)
    if action.per_account and ref is None:
        raise ValueError(f"{action.value} is checked per account: pass the account")
    if not actor.signed_in:
        return None
    rules = rules_for(actor, action)
    for role in actor.roles:
        scope = rules.get(role)
        if scope == "all" or (scope == "own" and ref is not None and ref.belongs_to(actor.member_id)):
            return None
    return _message(actor, action, rules, ref)


def allowed(actor: Actor, action: Action, account: AccountRef | Mapping[str, Any] | None = None) -> bool:
    """Whether ``actor`` may do ``action`` (on ``account``)."""
    return refusal(actor, action, account) is None


def require(actor: Actor, action: Action, account: AccountRef | Mapping[str, Any] | None = None) -> None:
    """Raise ``AccessDenied`` (a ``KamError``) naming the role the action needs, unless allowed.

    Every write path calls this with the acting user before it writes anything.
    """
    message = refusal(actor, action, account)
    if message is not None:
        rules = rules_for(actor, Action(action))
        raise AccessDenied(message, action=Action(action), needs=tuple(r for r in Role if r in rules))


def reads_only_own(actor: Actor) -> bool:
    """Whether the actor sees only their own accounts (scope_to_own_accounts and no role that
    reads every account)."""
    if not actor.signed_in:
        return False
    rules = rules_for(actor, Action.READ_ACCOUNT)
    return bool(actor.roles) and all(rules.get(r) != "all" for r in actor.roles)


def _message(actor: Actor, action: Action, rules: dict[Role, str], ref: AccountRef | None) -> str:
    what = action.words.format(account=ref.account_id if ref else "")
    every = [r.label for r in Role if rules.get(r) == "all"]
    own = [r.label for r in Role if rules.get(r) == "own"]
    needs: list[str] = []
    if every:
        needs.append(f"the role {_either(every)}")
    if own:
        needs.append(f"the role {_either(own)} of that account (its mentor_id or account_manager_id "
                     "is your team member id)")
    if not needs:
        needs.append("a role that no one has (the setting sql_roles is empty)")
    setting = " (setting sql_roles)" if action is Action.RUN_SQL else ""
    you = f"you are {actor.label}, " + (f"role {actor.role_label}" if actor.roles else "with no role")
    if own and any(r in actor.roles for r in (Role.MENTOR, Role.ACCOUNT_MANAGER)):
        if actor.member_id is None:
            you += ", without a team member id (member_id in your entry of the roles mapping)"
        else:
            you += f", team member {actor.member_id}"
            if ref is not None:
                you += (f"; its mentor is {ref.mentor_id or '–'} and its account manager "
                        f"{ref.account_manager_id or '–'}")
    return f"{what} needs {', or '.join(needs)}{setting}; {you}."


def _either(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
