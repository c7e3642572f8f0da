"""The identity and role model: who acts (``Actor``), in which roles, and what they may do.

Nothing here knows Streamlit or the identity provider: the app turns the signed-in user's
claims into an ``Actor`` (``kam_core.access.identity``) and every write path checks it with
``kam_core.access.check.require``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kam_core.errors import KamError


class Role(StrEnum):
    """The roles of the dashboard, from the most to the least powerful (the display order)."""

    ADMIN = "admin"
    MANAGEMENT = "management"
    MENTOR = "mentor"
    ACCOUNT_MANAGER = "account_manager"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


ROLE_NAMES: tuple[str, ...] = tuple(r.value for r in Role)


class Action(StrEnum):
    """What a user may be allowed or refused."""

    LOAD_DATA = "load_data"  # load, upload or restore the CRM data (Data page, backups)
    CHANGE_SETTINGS = "change_settings"  # save or reset kam.toml (Settings page)
    RUN_SQL = "run_sql"  # the SQL box (Explore page)
    EDIT_ACCOUNT = "edit_account"  # the team's records of one account (workbench)
    RECORD_REVIEW = "record_review"  # a mentor's review of one account
    READ_ACCOUNT = "read_account"  # see one account (scoping)

    @property
    def words(self) -> str:
        """The action in a sentence: '<words> needs the role …'."""
        return _ACTION_WORDS[self]

    @property
    def per_account(self) -> bool:
        """Whether the check needs the account (its mentor and account manager)."""
        return self in (Action.EDIT_ACCOUNT, Action.RECORD_REVIEW, Action.READ_ACCOUNT)


_ACTION_WORDS: dict[Action, str] = {
    Action.LOAD_DATA: "Loading, uploading or restoring data",
    Action.CHANGE_SETTINGS: "Changing the settings",
    Action.RUN_SQL: "The SQL box",
    Action.EDIT_ACCOUNT: "Editing the records of account {account}",
    Action.RECORD_REVIEW: "Recording a review of account {account}",
    Action.READ_ACCOUNT: "Seeing account {account}",
}


class AccessDenied(KamError):
    """The acting user's role does not allow the action; the message names the role it needs."""

    def __init__(self, message: str, *, action: Action, needs: tuple[Role, ...]) -> None:
        super().__init__(message)
        self.action = action
        self.needs = needs


@dataclass(frozen=True)
class Policy:
    """The settings that shape the rules: who may use the SQL box, and whether mentors and
    account managers see only their own accounts."""

    sql_roles: frozenset[Role] = frozenset({Role.ADMIN, Role.MANAGEMENT})
    scope_to_own_accounts: bool = False


@dataclass(frozen=True)
class AccountRef:
    """An account as the rules see it: whose it is."""

    account_id: str
    mentor_id: str | None = None
    account_manager_id: str | None = None

    def belongs_to(self, member_id: str | None) -> bool:
        return member_id is not None and member_id in (self.mentor_id, self.account_manager_id)


@dataclass(frozen=True)
class Actor:
    """The user acting: what the workbench history records and every check looks at.

    ``identity`` is the e-mail (signed in) or the team member id (local use; ``"local"`` until
    the user says who they are); ``name`` is for display; ``roles`` come from the ``roles``
    mapping in kam.toml (``role`` is the most powerful of them); ``member_id`` is the team member
    whose accounts are "theirs". ``signed_in=False`` is the one local user of an app without
    sign-in, who has every right.

    >>> a = Actor("ben@example.com", "Ben", frozenset({Role.MENTOR}), member_id="T-02")
    >>> a.role, a.role_label
    (<Role.MENTOR: 'mentor'>, 'mentor')
    """

    identity: str
    name: str
    roles: frozenset[Role] = frozenset()
    member_id: str | None = None
    signed_in: bool = True
    policy: Policy = field(default_factory=Policy)
    via: tuple[str, ...] = ()  # the entries of the roles mapping that matched (for display)

    @property
    def role(self) -> Role | None:
        """The most powerful role (None: signed in, but no role)."""
        return next((r for r in Role if r in self.roles), None)

    @property
    def role_label(self) -> str:
        if not self.signed_in:
            return "local user (every right)"
        if not self.roles:
            return "no role"
        return ", ".join(r.label for r in Role if r in self.roles)

    @property
    def label(self) -> str:
        """'Name (identity)', or the identity alone when they are the same."""
        return self.identity if self.name in ("", self.identity) else f"{self.name} ({self.identity})"


def local_actor(member_id: str | None = None, name: str | None = None, policy: Policy | None = None) -> Actor:
    """The one local user of an app without sign-in (or the CLI): every right; the identity is
    the team member they said they are, else the name they gave, else ``"local"``.

    >>> local_actor("T-02", "Markus Keller").identity
    'T-02'
    >>> local_actor(name="Markus").identity, local_actor().label
    ('Markus', 'local')
    """
    identity = member_id or (name.strip() if name and name.strip() else None) or "local"
    return Actor(identity=identity, name=name or identity, roles=frozenset(Role), member_id=member_id,
                 signed_in=False, policy=policy or Policy())
