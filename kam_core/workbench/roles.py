"""Roles on the workbench's write path: the ``authorize`` hook that asks ``kam_core.access``.

``authorize_for(actor, workbench)`` is the hook of one acting user. The workbench calls it
before every record it writes (an edit, a new or deleted record, an undo, a row of an Excel
import), with the account(s) the record belongs to before and after; the hook raises
``PermissionDenied`` with the words of ``kam_core.access`` ("Editing the records of account
A-0001 needs the role mentor or account manager of that account …") and the whole save is
refused. The check is here, in ``kam_core``, so every writer — page, Excel import, CLI — goes
through it, whatever a page shows or hides.

- reviews need ``Action.RECORD_REVIEW`` (management may record them for every account);
- every other table needs ``Action.EDIT_ACCOUNT`` (a mentor or account manager of the account);
- a write is recorded under the actor's identity: a request in another name is refused.

>>> import tempfile, pathlib
>>> from kam_core.access import Actor, Role
>>> from kam_core.ingest.loader import load
>>> from kam_core.workbench.edits import Workbench
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "accounts.csv").write_text("account_id,name,mentor_id\\nA-1,Alpha,T-02\\n")
>>> _ = (folder / "contacts.csv").write_text("contact_id,account_id,name\\nC-1,A-1,Ada\\n")
>>> _ = load([folder], folder / "kam.duckdb")
>>> wb = Workbench(folder / "kam.duckdb")
>>> vera = Actor("vera@example.com", "Vera", frozenset({Role.VIEWER}))
>>> wb.with_authorize(authorize_for(vera, wb)).update(vera.identity, "contacts", "C-1", {"piece": "king"})
Traceback (most recent call last):
...
kam_core.workbench.errors.PermissionDenied: Editing the records of account A-1 needs the role mentor or account manager of that account (its mentor_id or account_manager_id is your team member id); you are Vera (vera@example.com), role viewer.
>>> ben = Actor("ben@example.com", "Ben", frozenset({Role.MENTOR}), member_id="T-02")
>>> saved = wb.with_authorize(authorize_for(ben, wb)).update(ben.identity, "contacts", "C-1", {"piece": "king"})
>>> saved.actor, [(c.column, c.new) for c in saved.changes]
('ben@example.com', [('piece', 'king')])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from kam_core.access import AccessDenied, AccountRef, Action, Actor, account_owner, require
from kam_core.access.check import rules_for
from kam_core.workbench.errors import PermissionDenied

if TYPE_CHECKING:
    from kam_core.workbench.edits import Authorize, Workbench, WriteRequest

# What a write of each table needs (the rest: EDIT_ACCOUNT).
TABLE_ACTIONS: dict[str, Action] = {"reviews": Action.RECORD_REVIEW}


def action_for(table: str) -> Action:
    """The access action a write of ``table`` needs."""
    return TABLE_ACTIONS.get(table, Action.EDIT_ACCOUNT)


def may_write_any(actor: Actor) -> bool:
    """Whether ``actor`` may write some of the team's records (of their own accounts, or every
    account's reviews): the local user, mentors, account managers and management; not a viewer
    or an admin (who loads data but edits no account). Decides whether a page offers writing at
    all; each record is still checked by the hook.

    >>> from kam_core.access import Role, local_actor
    >>> may_write_any(local_actor()), may_write_any(Actor("v@x", "V", frozenset({Role.VIEWER})))
    (True, False)
    """
    if not actor.signed_in:
        return True
    return any(rules_for(actor, action).get(role) for action in set(TABLE_ACTIONS.values()) | {Action.EDIT_ACCOUNT}
               for role in actor.roles)


def authorize_for(actor: Actor, workbench: Workbench) -> Authorize:
    """The ``authorize`` hook of ``actor``: ``workbench.with_authorize(authorize_for(actor, wb))``."""
    owners: dict[str, AccountRef] = {}

    def owner(account_id: str) -> AccountRef:
        # accounts are not editable: the export's row says whose the account is (read on the
        # workbench's own connection, whose lock the writer holds while it asks)
        if account_id not in owners:
            with workbench._lock:
                cur = workbench._crm().cursor()
            try:
                owners[account_id] = account_owner(cur, account_id) or AccountRef(account_id)
            except duckdb.CatalogException:  # no accounts table: nobody owns it
                owners[account_id] = AccountRef(account_id)
        return owners[account_id]

    def hook(request: WriteRequest) -> None:
        if request.actor != actor.identity:
            raise PermissionDenied(f"a change in the name of {request.actor!r} was refused: you are "
                                   f"{actor.label}, and every change is recorded under your own name")
        action = action_for(request.table)
        # a record without an account (none before or after) belongs to nobody: only the
        # local user, who has every right, may write it
        for account_id in request.account_ids or ("–",):
            try:
                require(actor, action, owner(account_id))
            except AccessDenied as exc:
                raise PermissionDenied(str(exc)) from None

    return hook
