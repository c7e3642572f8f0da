"""Who may do what: sign-in identities and roles.

The API every write path uses (docs/sign-in.md):

- ``Actor`` — who acts: identity (e-mail or team member id), name, roles, team member id;
  the app's ``ui.current_actor()`` returns one, the CLI builds ``local_actor(member_id, name)``.
- ``require(actor, Action.X, account=None)`` — raises ``AccessDenied`` (a ``KamError``) whose
  message names the role the action needs; ``allowed(...)`` is the same question as a bool.
  Per-account actions (``EDIT_ACCOUNT``, ``RECORD_REVIEW``, ``READ_ACCOUNT``) take the account
  as an ``AccountRef`` or a row with account_id, mentor_id and account_manager_id;
  ``account_owner(con, account_id)`` reads it from the loaded database.
"""

from kam_core.access.accounts import account_owner, own_account_ids, team_members
from kam_core.access.check import allowed, reads_only_own, refusal, require
from kam_core.access.identity import Provider, auth_problems, policy, providers, resolve_actor
from kam_core.access.model import (
    ROLE_NAMES,
    AccessDenied,
    AccountRef,
    Action,
    Actor,
    Policy,
    Role,
    local_actor,
)

__all__ = [
    "ROLE_NAMES",
    "AccessDenied",
    "AccountRef",
    "Action",
    "Actor",
    "Policy",
    "Provider",
    "Role",
    "account_owner",
    "allowed",
    "auth_problems",
    "local_actor",
    "own_account_ids",
    "policy",
    "providers",
    "reads_only_own",
    "refusal",
    "require",
    "resolve_actor",
    "team_members",
]
